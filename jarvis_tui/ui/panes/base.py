"""The contract every pane keeps with the app (:class:`Pane`).

The app builds a pane the first time it is shown (the shown pane first, at start), and
talks to every pane through these methods only:

- :meth:`Pane.workspace_ready` once, when the pane is built and the workspace's trace
  store is open (whichever comes last): take the stores from the session, never from
  paths;
- :meth:`Pane.on_shown` every time the pane comes on screen (after its
  :meth:`Pane.focus_default`): load what it shows lazily;
- :meth:`Pane.palette_commands` whenever the command palette asks, built or not: the
  default offers the pane's :attr:`Pane.PALETTE` entries, each of which shows the pane
  (building it if needed) and then runs its action when the action applies.

:attr:`Pane.PANE_ID`, :attr:`Pane.HELP_TITLE` and :attr:`Pane.HELP_TEXT` name the pane and
give its help; :attr:`Pane.is_active` says whether it is the one on screen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar, Protocol

from textual.app import SystemCommand
from textual.widget import Widget

from jarvis_tui.ui.text import one_line

if TYPE_CHECKING:
    from jarvis_tui.workspace import WorkspaceSession


class PaneHost(Protocol):
    """What a pane may ask of the app that holds it (``JarvisApp``)."""

    def active_pane_id(self) -> str | None: ...

    def show_pane(self, pane_id: str, then: Callable[[], object] | None = None) -> None: ...


class Pane(Widget):
    """A pane of the app: one job, one tab, one key (see the module docstring)."""

    PANE_ID: ClassVar[str] = ""
    """The pane's id: its tab's id and the prefix of its palette entries."""
    HELP_TITLE: ClassVar[str] = "jarvis-tui"
    """The pane's name in its help screen."""
    HELP_TEXT: ClassVar[str] = ""
    """What the pane is for, shown above its keys in the help screen."""
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    """``(action, title, help)`` per palette entry: ``"<PANE_ID>: <title>"`` runs
    ``action_<action>`` (or the method ``<action>``) on this pane."""

    workspace: WorkspaceSession | None
    """The open workspace session (None until :meth:`workspace_ready`)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if not hasattr(self, "workspace"):
            self.workspace = None

    @property
    def session(self) -> WorkspaceSession:
        """The open workspace session, for code that runs once the pane is ready."""
        if self.workspace is None:
            raise RuntimeError(
                f"the {self.PANE_ID or type(self).__name__} pane has no workspace yet"
            )
        return self.workspace

    # ------------------------------------------------------------ the contract

    def workspace_ready(self, session: WorkspaceSession) -> None:
        """The pane is built and the session's trace store is open (called once)."""
        self.workspace = session

    def on_shown(self) -> None:
        """The pane came on screen (every time; after :meth:`focus_default`)."""

    def focus_default(self) -> None:
        """Give the keys to the pane's main widget (immediately: a key typed right after
        the pane switch must reach it)."""
        for widget in self.query("*"):
            if widget.focusable:
                self.screen.set_focus(widget)
                return

    @property
    def is_built(self) -> bool:
        """Whether the pane has been composed and mounted."""
        return self.is_mounted

    @property
    def is_active(self) -> bool:
        """Whether this pane is the one on screen now."""
        host = self._host()
        return host is not None and host.active_pane_id() == self.PANE_ID

    def palette_commands(self) -> Iterable[SystemCommand]:
        """``<pane>: …`` palette entries: those that apply now, or every entry of
        :attr:`PALETTE` while the pane is not built yet (its state is not known)."""
        for action, title, help_text in self.PALETTE:
            if self.is_built and not self.check_action(action, ()):
                continue
            yield SystemCommand(
                f"{self.PANE_ID}: {title}", help_text, lambda a=action: self.run_palette(a)
            )

    # ------------------------------------------------------------ helpers

    def run_palette(self, action: str) -> None:
        """Show the pane (building it if needed), then run *action* if it applies."""
        host = self._host()
        if host is None:
            self._run_now(action)
        else:
            host.show_pane(self.PANE_ID, then=lambda: self._run_now(action))

    def _run_now(self, action: str) -> None:
        if not self.check_action(action, ()):
            title = next((t for a, t, _ in self.PALETTE if a == action), action)
            self.notify(
                one_line(f"{self.PANE_ID}: {title} does not apply now", 200),
                severity="warning", markup=False,
            )  # fmt: skip
            return
        method = getattr(self, f"action_{action}", None) or getattr(self, action)
        method()

    def report_failure(self, what: str, error: BaseException, message: str = "") -> None:
        """A failure the pane caught: one line for the user (*message*, else "<what>
        failed: …"), its traceback in the app's error log (``JarvisApp.report_failure``)."""
        host = self._host()
        report = getattr(host, "report_failure", None)
        if callable(report):
            report(what, error, message)
        else:  # no app around it (a bare widget test): the line at least
            self.notify(one_line(message or f"{what} failed: {error}", 300),
                        severity="error", markup=False)  # fmt: skip

    def _host(self) -> PaneHost | None:
        try:
            app = self.app
        except Exception:  # no app running
            return None
        if hasattr(app, "active_pane_id") and hasattr(app, "show_pane"):
            return app
        return None
