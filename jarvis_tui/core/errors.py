"""The errors of the engine's stores: one base, one class per store.

A command or a pane that only needs "the user can act on this" catches
:class:`JarvisStoreError`; code that needs to know which database failed catches
:class:`TraceStoreError` (``traces.db``) or :class:`OptimizeStoreError`
(``optimize.db``). Each store module keeps its old name, ``StoreError``, as an alias of
its own class. This module imports nothing, so catching these never loads a store (or
numpy) just to name the exception.
"""

from __future__ import annotations


class JarvisStoreError(Exception):
    """A database cannot be used as asked; the message says what to do, in one line."""


class TraceStoreError(JarvisStoreError):
    """A problem with the trace store (``traces.db``) that the user can act on."""


class OptimizeStoreError(JarvisStoreError):
    """The database cannot be used as an optimization store (``optimize.db``)."""


__all__ = ["JarvisStoreError", "OptimizeStoreError", "TraceStoreError"]
