"""The command palette: Textual's, with an enter that waits for the search it follows.

Textual's palette searches in a worker (``_gather_commands``) after each key, and its
enter acts on the list already on screen: typed fast (or on a busy machine) the whole
name of an entry and enter, it did nothing, the list not shown yet (walkthrough 47), or
ran the top entry of the list still shown for the *previous* text (the discovery list
of an empty query, say). Here an enter that comes while the search for the text typed
is still running waits for it, then picks the first match, as an enter on the list
would; more typing meanwhile drops the waiting enter (its query is gone).

Built on Textual 8.2.8's palette (the version pinned): the search worker's group and
``_select_or_command`` are its private names, read here and nowhere else.
"""

from __future__ import annotations

from textual import on
from textual.command import CommandInput, CommandPalette
from textual.widgets import Input
from textual.worker import Worker, WorkerState


class JarvisPalette(CommandPalette):
    """Textual's command palette; enter before the search ends runs its first match."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._enter_waiting: str | None = None
        """The query an enter was pressed on while its search ran, else None."""

    def _searching(self) -> bool:
        return any(
            w.node is self and w.group == self._GATHER_COMMANDS_GROUP and not w.is_finished
            for w in self.app.workers
        )

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        # no prevent_default: Textual's own handler starts the new search
        self._enter_waiting = None

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        query = self.query_one(CommandInput).value.strip()
        # An empty query's search lists every entry: enter there picks nothing by itself
        if query and self._searching():
            event.stop()
            event.prevent_default()  # not Textual's handler: it would act on a stale list
            self._enter_waiting = query

    @on(Worker.StateChanged)
    def _search_done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != self._GATHER_COMMANDS_GROUP:
            return
        if event.state != WorkerState.SUCCESS or self._enter_waiting is None:
            return
        if self._enter_waiting != self.query_one(CommandInput).value.strip():
            return
        self._enter_waiting = None
        # the list now holds this query's matches, the best highlighted: enter on it
        self._select_or_command()
