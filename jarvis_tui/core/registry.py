"""Decorator-based registries for pluggable components (``openjarvis.core.registry``).

Each subclass of :class:`RegistryBase` gets its own storage, so what is registered in
one registry never shows up in another (a subclass of a registry is a new, empty
registry too). Keys are strings; registering a key twice raises ``ValueError``.

Thread-safety: every registry has its own lock; reads return snapshots (tuples), so a
caller iterating ``items()`` never sees a registry change under it.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, ClassVar, Dict, Generic, Tuple, TypeVar

T = TypeVar("T")


class RegistryBase(Generic[T]):
    """Generic registry: class-level ``key -> entry`` storage, one per subclass."""

    _registry_entries: ClassVar[Dict[str, Any]] = {}
    """This class's own entries (a fresh dict for every subclass)."""
    _registry_lock: ClassVar[threading.RLock] = threading.RLock()
    """Guards ``_registry_entries`` (a fresh lock for every subclass)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Set on the class itself: an inherited dict would be shared with the parent.
        cls._registry_entries = {}
        cls._registry_lock = threading.RLock()

    @classmethod
    def _check_key(cls, key: object) -> str:
        if not isinstance(key, str):
            hint = " (use @Registry.register('name'), with a key)" if callable(key) else ""
            raise TypeError(f"{cls.__name__} keys are strings, got {key!r}{hint}")
        return key

    @classmethod
    def _add(cls, key: str, entry: T) -> T:
        with cls._registry_lock:
            if key in cls._registry_entries:
                raise ValueError(f"{cls.__name__} already has an entry for '{key}'")
            cls._registry_entries[key] = entry
        return entry

    @classmethod
    def register(cls, key: str) -> Callable[[T], T]:
        """Decorator that registers the decorated object under *key* and returns it unchanged."""
        cls._check_key(key)

        def decorator(entry: T) -> T:
            return cls._add(key, entry)

        return decorator

    @classmethod
    def register_value(cls, key: str, value: T) -> T:
        """Register *value* under *key* and return it."""
        return cls._add(cls._check_key(key), value)

    @classmethod
    def get(cls, key: str) -> T:
        """The entry for *key*; ``KeyError`` naming the available keys when missing."""
        with cls._registry_lock:
            try:
                return cls._registry_entries[key]
            except KeyError:
                available = ", ".join(repr(k) for k in sorted(cls._registry_entries)) or "none"
        raise KeyError(
            f"{cls.__name__} does not have an entry for {key!r} (available: {available})"
        )

    @classmethod
    def create(cls, key: str, *args: Any, **kwargs: Any) -> Any:
        """Look up *key* and call it with the given arguments (``TypeError`` if not callable)."""
        entry = cls.get(key)
        if not callable(entry):
            raise TypeError(f"{cls.__name__} entry {key!r} is not callable and cannot be created")
        return entry(*args, **kwargs)

    @classmethod
    def keys(cls) -> Tuple[str, ...]:
        """Registered keys, in registration order."""
        with cls._registry_lock:
            return tuple(cls._registry_entries)

    @classmethod
    def items(cls) -> Tuple[Tuple[str, T], ...]:
        """``(key, entry)`` pairs, in registration order."""
        with cls._registry_lock:
            return tuple(cls._registry_entries.items())

    @classmethod
    def contains(cls, key: str) -> bool:
        """Whether *key* is registered."""
        with cls._registry_lock:
            return key in cls._registry_entries

    @classmethod
    def clear(cls) -> None:
        """Remove every entry of this registry (others are untouched)."""
        with cls._registry_lock:
            cls._registry_entries.clear()


class ModelRegistry(RegistryBase[Any]):
    """Registry for :class:`jarvis_tui.core.types.ModelSpec` values, keyed by model id."""


class RouterPolicyRegistry(RegistryBase[Any]):
    """Registry for router policy classes (``heuristic``, ``trace``, ``bandit``...)."""


__all__ = ["ModelRegistry", "RegistryBase", "RouterPolicyRegistry"]
