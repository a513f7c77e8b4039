"""KeyFooter: the key hints that fit, whole, the most useful first."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.compose import compose
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # Textual has no public name for it

Entry = tuple[str, str, str, str, bool, str, bool]
"""A footer entry: ``(key, key display, description, action, enabled, tooltip, is the
palette's key)``."""

HELP_ACTION = "help"
"""The app's help action: always shown, since it lists every key left out."""


class KeyFooter(Footer):
    """Textual's footer, but never a key cut in half.

    Textual's footer lays every shown binding out in a row and clips what does not
    fit (``? H``, ``T T``). This one orders the entries by priority (the focused
    pane's own actions, then help, then the app's other keys) and hides every entry
    from the first that does not fit whole; what is hidden stays reachable through
    help, whose key is always shown, and the command palette, always at the right.
    Widths are measured from each key's text and styles, so any stylesheet is honoured.
    """

    _composed: list[tuple[str, str, str, str, bool, str, bool]] | None = None
    """The entries the keys on screen were made from (None before the first compose)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._widths: dict[FooterKey, int] = {}
        """Each key's width, measured once."""

    def _entries(self) -> list[tuple[str, str, str, str, bool, str, bool]]:
        """What the footer shows, in order: ``(key, key display, description, action,
        enabled, tooltip, is the palette's key)`` per entry."""
        if not self._bindings_ready:
            return []
        active = self.screen.active_bindings
        first: dict[str, tuple[str, str, str, str, bool, str, bool]] = {}
        own: list[str] = []
        app_keys: list[str] = []
        for node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in first:
                continue
            # a node may word a key for its state ("x Stop measuring" while it measures)
            describe = getattr(node, "binding_description", None)
            first[binding.action] = (
                binding.key, self.app.get_key_display(binding),
                describe(binding) if callable(describe) else binding.description,
                binding.action, enabled, tooltip, False,
            )  # fmt: skip
            (app_keys if node is self.app else own).append(binding.action)
        app_keys.sort(key=lambda action: action != HELP_ACTION)  # stable: help first
        entries = [first[action] for action in own + app_keys]
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = active.get(self.app.COMMAND_PALETTE_BINDING)
            if palette is not None:
                _node, binding, enabled, tooltip = palette
                entries.append((
                    binding.key, self.app.get_key_display(binding), binding.description,
                    binding.action, enabled, tooltip or binding.description, True,
                ))  # fmt: skip
        return entries

    def compose(self) -> ComposeResult:
        self._composed = entries = self._entries()
        for key, display, description, action, enabled, tooltip, palette in entries:
            entry = FooterKey(
                key, display, description, action,
                classes="-command-palette" if palette else "",
                disabled=not enabled, tooltip=tooltip,
            )  # fmt: skip
            if palette:
                yield entry
                continue
            # Born in the footer's style: FooterKey's own default (compact) would be
            # applied on mount and then undone by the binding, two restyles per key.
            entry.set_reactive(FooterKey.compact, self.compact)
            yield entry.data_bind(compact=Footer.compact)

    async def recompose(self) -> None:
        # The footer is asked to recompose on every change of focus or bindings (many
        # at start): the same keys as shown are only fitted again, keys that only turned
        # enabled or disabled are updated where they are, and only others are rebuilt.
        # Keys that came or went (the label keys once a row is selected) are mounted or
        # removed alone, the others kept (issue 15: a whole rebuild restyled every key).
        entries = self._entries()
        if self._composed is None or not (
            self._update_in_place(entries) or await self._mount_changed(entries)
        ):
            self._widths.clear()
            await super().recompose()
        self._fit()  # before the first paint of the new keys: no frame shows them cut

    async def _mount_changed(self, entries: list[Entry]) -> bool:
        """Bring the keys on screen to *entries* by removing the keys gone and mounting
        the new ones where they go, keeping the others (updated in place); False when
        the keys kept are not in the same order, or none is kept."""
        keys = list(self.query_children(FooterKey))
        old = self._composed or []
        if len(keys) != len(old):
            return False
        old_ids, new_ids = [_ident(e) for e in old], [_ident(e) for e in entries]
        kept = set(old_ids) & set(new_ids)
        if not kept or [i for i in old_ids if i in kept] != [i for i in new_ids if i in kept]:
            return False
        made = compose(self)  # every entry's key, made as compose() makes it
        if len(made) != len(entries):
            return False
        on_screen = {i: (key, was) for i, key, was in zip(old_ids, keys, old, strict=True)}
        gone = [key for i, key in zip(old_ids, keys, strict=True) if i not in kept]
        for key in gone:
            self._widths.pop(key, None)
        if gone:
            await self.remove_children(gone)
        pending: list[FooterKey] = []
        for ident, now, fresh in zip(new_ids, entries, made, strict=True):
            if ident not in kept:
                pending.append(fresh)  # type: ignore[arg-type]
                continue
            key, was = on_screen[ident]
            if pending:
                await self.mount_all(pending, before=key)
                pending = []
            self._update_key(key, was, now)
        if pending:
            await self.mount_all(pending)
        self._composed = entries
        return True

    def _update_in_place(self, entries: list[tuple[str, str, str, str, bool, str, bool]]) -> bool:
        """Bring the keys on screen to *entries* without rebuilding them, when they
        differ only in being enabled or in their tooltips; False when they differ more."""
        keys = list(self.query_children(FooterKey))
        old = self._composed or []
        if len(keys) != len(old) or len(entries) != len(old):
            return False
        if any(a[:4] + a[6:] != b[:4] + b[6:] for a, b in zip(old, entries, strict=True)):
            return False
        for key, was, now in zip(keys, old, entries, strict=True):
            self._update_key(key, was, now)
        self._composed = entries
        return True

    @staticmethod
    def _update_key(key: FooterKey, was: Entry, now: Entry) -> None:
        """Key *key*, made from entry *was*, as entry *now* (enabled, tooltip) says."""
        if was[4] != now[4]:
            key._disabled = not now[4]  # what FooterKey's click reads (no public name)
            key.set_class(not now[4], "-disabled")
        if was[5] != now[5]:
            key.tooltip = now[5] or None

    def _on_resize(self, event: events.Resize) -> None:
        # Entries hidden at the old width may fit now: fit them all again.
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Hide every entry from the first that does not fit whole."""
        keys = list(self.query_children(FooterKey))
        kept = [k for k in keys if k.has_class("-command-palette") or k.action == HELP_ACTION]
        room = self.content_region.width - sum(self._width(key) for key in kept)
        fits = True
        for key in keys:
            if key in kept:
                continue
            fits = fits and self._width(key) <= room
            room -= self._width(key)
            key.display = fits

    def _width(self, key: FooterKey) -> int:
        """The cells *key* takes, measured from its text and styles (no layout needed;
        once per key: its text is fixed when it is made)."""
        width = self._widths.get(key)
        if width is None:
            content = key.get_content_width(self.size, self.app.size)
            width = self._widths[key] = content + key.styles.gutter.width + key.styles.margin.width
        return width

    @property
    def shown_actions(self) -> list[str]:
        """The actions whose keys are on screen now, left to right."""
        return [key.action for key in self.query_children(FooterKey) if key.display]


def _ident(entry: Entry) -> tuple[object, ...]:
    """What a key on screen shows of *entry* (its enabled state and tooltip change in
    place)."""
    return entry[:4] + entry[6:]
