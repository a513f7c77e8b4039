"""Command line: ``jarvis-tui`` opens the app; subcommands run the engine headless.

Every subcommand is a ``_cmd_<name>(args) -> int`` registered in :func:`build_parser`
(learn, train, optimize and export-best will join ``demo`` here). Heavy or UI imports
happen inside the command that needs them, so ``jarvis-tui --help`` stays instant
and headless commands never load Textual or torch.

Errors a user can act on (a bad path, a locked or foreign database, a bad value)
print one line, ``jarvis-tui: error: ...``, and exit 1; so do usage errors (an unknown
option, a bad value: ``jarvis-tui demo: error: argument --traces: ...``), whether
argparse or a command finds them: one rule, exit status 1 for every error (130 for an
interrupt), never argparse's 2.

Every line printed for people goes through :func:`_line` (a Rich ``Text`` of
``jarvis_tui.ui.text.plain``) or :func:`_error`: names, paths and messages come from
data or the network, so none may carry markup or a terminal escape to the screen.
Numbers are rounded for people (``jarvis_tui.core.fmt``); ``--json`` keeps them whole.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shlex
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from jarvis_tui import __version__
from jarvis_tui.core.errors import JarvisStoreError
from jarvis_tui.paths import Workspace, resolve_home

PROG = "jarvis-tui"
DEFAULT_DEMO_DIR = Path("jarvis-demo")
DEFAULT_DEMO_TRACES = 20_000
DEFAULT_DEMO_SEED = 7
DEFAULT_SERVE_HOST = "127.0.0.1"
DEFAULT_SERVE_PORT = 8000

USER_ERRORS: tuple[type[BaseException], ...] = (
    JarvisStoreError,  # the trace store's and the optimization store's errors
    OSError,
    ValueError,
    sqlite3.Error,
)
"""Exceptions reported as one line and exit status 1 (never a traceback)."""


class CommandError(Exception):
    """A user-facing failure a command raises to print one line and exit 1."""


def positive_int(text: str) -> int:
    """argparse type: a whole number > 0 (``20000`` or ``20_000``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {text!r}"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line on stderr, exit status 1.

    ``jarvis-tui versions: error: the following arguments are required: AGENT``;
    ``--help`` still prints the whole usage. Status 1, not argparse's 2: a bad value
    argparse checks (``--trials 0``) and one a command checks (``--epochs abc``) are
    the same kind of error to the user, and every error exits 1 (see ERROR_EPILOG).
    """

    def error(self, message: str) -> NoReturn:
        from jarvis_tui.ui.text import plain

        self.exit(1, f"{self.prog}: error: {plain(message, LINE_LIMIT)}\n")


ERROR_EPILOG = (
    "An error (a bad option or value, a missing folder, a failed run) is one line on "
    "stderr and exit status 1; an interrupt exits 130."
)


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """The command line's parser; ``commands=False``: the top-level options only (what
    opening the app needs: :func:`_opens_app_only`)."""
    parser = _Parser(
        prog=PROG,
        usage="%(prog)s [-h] [--version] [--home DIR [--create]] [COMMAND ...]",
        description="A keyboard-first terminal app for the OpenJarvis learning loop.",
        epilog=f"Run without a command to open the app on the workspace. {ERROR_EPILOG}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="workspace directory (default: $JARVIS_TUI_HOME, else ~/.openjarvis)",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="start a new, empty workspace in --home DIR if that folder does not exist",
    )
    parser.set_defaults(func=_cmd_open)
    if not commands:
        return parser
    # prog: each command's own name ("jarvis-tui versions"), not the top usage line
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", prog=PROG)

    demo = sub.add_parser(
        "demo",
        help="build a demo workspace offline and open it",
        description=(
            "Build a realistic demo workspace (traces from five models and three agents, "
            "60% labelled) offline and deterministically, then open the app on it."
        ),
    )
    demo.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"where to build it (default: --home DIR if given, else ./{DEFAULT_DEMO_DIR})",
    )
    demo.add_argument("--home", dest="demo_home", metavar="DIR",
                      help="where to build it (the same as DIR)")  # fmt: skip
    demo.add_argument(
        "--traces",
        type=positive_int,
        default=None,  # None: not typed (a reused workspace says it ignored a typed one)
        metavar="N",
        help=f"number of traces (default: {DEFAULT_DEMO_TRACES:,})",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help=f"random seed; the same seed builds the same traces (default: {DEFAULT_DEMO_SEED})",
    )
    demo.add_argument(
        "--force",
        action="store_true",
        help="rebuild an existing demo in DIR: replaces traces.db (its labels, notes and "
        "judge scores too), agents/, optimize.db and optimize.toml; keeps checkpoints/, "
        "models/, recipes/, logs/ and jarvis-tui.toml; only a folder the demo built is "
        "rebuilt, never a workspace of your own",
    )
    demo.add_argument("--no-open", action="store_true", help="build only; do not open the app")
    demo.set_defaults(func=_cmd_demo)

    learn = sub.add_parser(
        "learn",
        help="run one learning cycle headless",
        description=(
            "Mine every trace of the workspace (SFT pairs, routing and agent statistics), "
            "evolve the agent configs in agents/, and report what changed."
        ),
    )
    learn.add_argument("--home", dest="learn_home", metavar="DIR", help="workspace directory")
    learn.add_argument("--agent", metavar="A", help="consider and evolve only this agent")
    learn.add_argument(
        "--min-quality", type=_unit_float, default=0.7, metavar="Q",
        help="minimum feedback of a quality trace, in [0, 1] (default: 0.7)",
    )  # fmt: skip
    learn.add_argument("--json", action="store_true", help="print the result as JSON")
    learn.add_argument(
        "--keep-manual", action="store_true",
        help="keep every agent version a person chose in jarvis-tui (a rollback, a manual "
        "version, a promoted trial), whatever the ratings since; by default one is kept until "
        "the traces since it hold 30 ratings, then overwritten with a warning line",
    )  # fmt: skip
    learn.add_argument(
        "--eval", dest="eval_gate", action="store_true",
        help="gate the cycle on a measured evaluation before and after (local tiny model "
        "unless --eval-backend/--local say otherwise); accepted = measured better",
    )  # fmt: skip
    _add_eval_args(learn, endpoint_flag="--eval-backend")
    learn.add_argument("--eval-model", metavar="M", help="model at the --eval-backend endpoint")
    learn.set_defaults(func=_cmd_learn)

    train = sub.add_parser(
        "train",
        help="train a LoRA adapter headless (the TUI can follow the run)",
        description=(
            "Mine SFT pairs from the labelled traces and train a LoRA adapter. The run "
            "writes checkpoints/<run>/ (run.json, metrics.jsonl, adapters), which the "
            "Training pane follows live, also from another machine sharing the folder."
        ),
    )
    train.add_argument("--home", dest="train_home", metavar="DIR", help="workspace directory")
    _add_lora_settings(train)
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    train.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=None,
                       help="auto (default): bf16 autocast where the device computes bf16 "
                       "natively, else fp32")  # fmt: skip
    train.add_argument("--threads", metavar="N|ui", default=None,
                       help="torch threads (ui: all cores but one); default all cores, "
                       "shared among the ranks")  # fmt: skip
    train.add_argument("--nproc", type=positive_int, default=1, metavar="N",
                       help="train on N processes with DistributedDataParallel (gloo on CPU, "
                       "nccl on CUDA, one GPU each); --batch-size is per process. The same "
                       "command under torchrun --nproc-per-node N or accelerate launch works "
                       "too")  # fmt: skip
    train.add_argument("--run-id", help=argparse.SUPPRESS)
    # The Training pane's child: its stdin is a pipe from the app; when it closes (the
    # app quit or died) the run is cancelled cleanly instead of training on as an orphan.
    train.add_argument("--until-stdin-closes", action="store_true", help=argparse.SUPPRESS)
    # The Training pane's child: before its first step, one JSON line per phase on stdout
    # ({"phase": "loading the model"}), so the pane says what is happening meanwhile.
    train.add_argument("--phases", action="store_true", help=argparse.SUPPRESS)
    train.add_argument("--json", action="store_true", help="print the summary as JSON")
    train.set_defaults(func=_cmd_train)

    opt = sub.add_parser(
        "optimize",
        help="run an optimization of the agent config headless",
        description=(
            "Propose configs from the workspace's search space (optimize.toml, else one "
            "derived from the traces), estimate each by replaying the labelled traces, and "
            "keep the Pareto frontier of accuracy, latency and cost in optimize.db. Offline "
            "the proposer is Optuna's multi-objective sampler; --backend uses an LLM on any "
            "OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp server)."
        ),
    )
    opt.add_argument("--home", dest="opt_home", metavar="DIR", help="workspace directory")
    opt.add_argument("--trials", type=positive_int, default=None, metavar="N",
                     help="trials in the run (default: 20; with --resume, the run's own)")  # fmt: skip
    opt.add_argument("--patience", type=positive_int, default=None, metavar="N",
                     help="stop after N trials without a better accuracy (default: 5; with "
                          "--resume, the run's own)")  # fmt: skip
    opt.add_argument("--backend", metavar="URL",
                     help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 "
                          "(default: $JARVIS_TUI_OPTIMIZER_URL; key: $JARVIS_TUI_OPTIMIZER_KEY)")  # fmt: skip
    opt.add_argument("--model", metavar="M", help="optimizer model name at the endpoint")
    opt.add_argument("--bound", action="append", default=[], metavar="EXPR",
                     help="objective bound such as 'latency <= 2s' (repeatable)")  # fmt: skip
    opt.add_argument("--resume", metavar="RUN_ID", help="continue a stopped run")
    opt.add_argument("--seed", type=int, default=None, help="seed of the offline proposer")
    opt.add_argument("--json", action="store_true", help="print the run as JSON")
    opt.add_argument(
        "--evaluate", choices=("replay", "measured", "replay-then-measure"), default=None,
        help="how trials are scored: replay the labelled traces (estimates, the default), "
        "measure each config on held-out queries, or estimate each and measure those that "
        "would join the frontier (with --resume: the run's own)",
    )  # fmt: skip
    _add_eval_args(opt, endpoint_flag="--eval-backend")
    opt.add_argument("--workers", type=positive_int, default=None, metavar="N",
                     help="evaluate trials in N worker processes on this machine, through "
                          "Optuna's shared storage (more may join with optimize-worker)")  # fmt: skip
    opt.add_argument("--storage", metavar="URL",
                     help="the run's shared Optuna storage: a journal file (default: "
                          "<home>/optimize-studies.journal, or 'storage' in optimize.toml) or "
                          "an RDB URL such as postgresql://user@host/db")  # fmt: skip
    _add_liveness_args(opt)
    opt.set_defaults(func=_cmd_optimize)

    wk = sub.add_parser(
        "optimize-worker",
        help="evaluate the trials of a running optimization (from any machine)",
        description=(
            "Join optimization run RUN_ID through its shared Optuna storage and evaluate "
            "its trials until the run ends: each trial is claimed by exactly one worker; "
            "the coordinator (jarvis-tui optimize) records them in optimize.db. How trials "
            "are scored is the run's; the flags say with what on this machine (an endpoint, "
            "a local model, an eval set)."
        ),
    )
    wk.add_argument("--run", dest="worker_run", required=True, metavar="RUN_ID")
    wk.add_argument("--storage", dest="worker_storage", metavar="URL",
                    help="the run's storage (default: the workspace's journal file)")  # fmt: skip
    wk.add_argument("--home", dest="worker_home", metavar="DIR",
                    help="workspace directory (its traces.db, models, eval sets)")  # fmt: skip
    wk.add_argument("--worker-id", metavar="ID",
                    help="this worker's name in the run (default: HOST-PID)")  # fmt: skip
    _add_eval_args(wk, endpoint_flag="--eval-backend")
    wk.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    wk.set_defaults(func=_cmd_optimize_worker)

    ev = sub.add_parser(
        "eval",
        help="measure a model (or model + LoRA adapter) on held-out labelled queries",
        description=(
            "Answer an eval set with a model and score each answer against its reference: "
            "held-out labelled traces of the workspace (never the ones training uses), or "
            '--set FILE.jsonl ({"query", "reference", "class"?} per line). The model '
            "is any OpenAI-compatible endpoint (--backend URL --model M) or a local Hugging "
            "Face model folder (--local PATH, default: the workspace's tiny model) with an "
            "optional LoRA adapter. Prints accuracy with its 95% interval, latency p50/p95, "
            "tokens, cost and per-class scores, and keeps every sample in <home>/evals/."
        ),
    )
    ev.add_argument("--home", dest="eval_home", metavar="DIR", help="workspace directory")
    _add_eval_args(ev, endpoint_flag="--backend", seed_flag="--seed")
    ev.add_argument("--model", dest="eval_model", metavar="M",
                    help="model name at the --backend endpoint")  # fmt: skip
    ev.add_argument("--agent", dest="eval_agent", metavar="A",
                    help="generate with agent A's current config (system prompt, temperature, "
                         "max tokens) and file the score under that config version "
                         "(jarvis-tui versions A shows it)")  # fmt: skip
    ev.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ev.add_argument("--compare", metavar="RUN_ID",
                    help="measure run RUN_ID's LoRA adapter against its base model on the "
                         "held-out queries it was never trained on (what the Training "
                         "pane's E does; answers of up to 64 tokens unless --max-tokens) "
                         "and keep the comparison as the run folder's eval.json")  # fmt: skip
    ev.add_argument("--progress", action="store_true",
                    help='with --compare: a JSON line on stdout as it goes, {"progress": '
                         '"base" or "adapter", "done": N, "total": M}: N of that side\'s M '
                         "samples answered and scored (the Training pane reads them)")  # fmt: skip
    # None: 256 tokens, or COMPARE_MAX_TOKENS with --compare (see _cmd_eval_compare)
    ev.set_defaults(func=_cmd_eval, max_tokens=None)

    exp = sub.add_parser(
        "export-best",
        help="write a run's best config as a TOML recipe",
        description="Write the best trial of RUN_ID as a TOML recipe at PATH (atomically).",
    )
    exp.add_argument("run_id", metavar="RUN_ID")
    exp.add_argument("path", metavar="PATH", type=Path)
    exp.add_argument("--home", dest="exp_home", metavar="DIR", help="workspace directory")
    exp.add_argument("--parents", action="store_true", help="create PATH's missing parent folders")
    exp.set_defaults(func=_cmd_export_best)

    ver = sub.add_parser(
        "versions",
        help="what each version of an agent's config produced",
        description=(
            "One row per version of AGENT's config (agents/AGENT.toml and its history): "
            "when it was written and why, the traces served while it was current, how many "
            "were rated, mean feedback with its 95% interval, success rate, latency, tokens "
            "and the measured eval score where one names the version; then each version "
            "against the one before it."
        ),
    )
    ver.add_argument("agent", metavar="AGENT")
    ver.add_argument("--home", dest="ver_home", metavar="DIR", help="workspace directory")
    ver.add_argument("--json", action="store_true", help="print a list of JSON objects")
    ver.set_defaults(func=_cmd_versions)

    keys = sub.add_parser(
        "keys",
        help="list every binding id, its default keys and what it does (for a [keymap])",
        description=(
            "Every key binding of the app: its id (what a [keymap] table in the settings "
            'file rebinds: "trials.start" = "S"), its default keys and what it does. '
            "The ids read <pane or screen>.<verb>; ? in the app lists the keys of the pane "
            "it is in."
        ),
    )
    keys.add_argument("--json", action="store_true", help="print a list of JSON objects")
    keys.set_defaults(func=_cmd_keys)

    el = sub.add_parser(
        "export-labels",
        help="write every labelled trace (or the SFT pairs) to a file",
        description=(
            "Every labelled trace with its query, result, feedback, outcome, note and label "
            "history (and the judge's score with --with-judge) as JSONL, CSV or Parquet; "
            "--format hf writes the SFT pairs as a Hugging Face datasets folder. Written "
            "atomically."
        ),
    )
    el.add_argument("path", metavar="PATH", type=Path)
    el.add_argument("--home", dest="el_home", metavar="DIR", help="workspace directory")
    el.add_argument("--format", dest="el_format", choices=("jsonl", "csv", "parquet", "hf"),
                    default=None, help="file format (default: PATH's extension, .csv, "
                    ".parquet or .jsonl, else jsonl); an extension of another format "
                    "is refused")  # fmt: skip
    el.add_argument("--with-judge", action="store_true", help="add the LLM judge's scores")
    el.set_defaults(func=_cmd_export_labels)

    from jarvis_tui.serve import DEFAULT_MAX_SESSIONS  # a small module: no textual-serve

    serve = sub.add_parser(
        "serve",
        help="serve the app in a web browser (needs the 'serve' extra)",
        description=(
            "Serve the app as a web page with textual-serve: every browser tab that opens "
            "the page starts its own copy of the app on the workspace, on this machine. "
            "Each start makes a new secret token and prints the one link that opens the "
            "app (http://HOST:PORT/?token=...); without it the server answers 403, and "
            "only the server's own page may open its websocket. It listens on this machine "
            "only unless you pass --host. Ctrl+C stops the server and its apps. "
            "Install it with: pip install 'jarvis-tui[serve]'"
        ),
        epilog=(
            "Listening on every interface (--host 0.0.0.0) uses this machine's name in the "
            "page's URLs; behind a proxy, or when browsers reach the server by another "
            "name, pass that address as --public-url."
        ),
    )
    serve.add_argument("--home", dest="serve_home", metavar="DIR", help="workspace directory")
    serve.add_argument("--host", default=DEFAULT_SERVE_HOST, metavar="HOST",
                       help=f"address to listen on (default: {DEFAULT_SERVE_HOST}); any "
                            "other than loopback prints a warning")  # fmt: skip
    serve.add_argument("--port", type=_port, default=DEFAULT_SERVE_PORT, metavar="PORT",
                       help=f"port to listen on (default: {DEFAULT_SERVE_PORT})")  # fmt: skip
    serve.add_argument("--public-url", metavar="URL",
                       help="the address browsers use to reach the server "
                            "(default: http://HOST:PORT)")  # fmt: skip
    serve.add_argument("--max-sessions", type=positive_int, default=DEFAULT_MAX_SESSIONS,
                       metavar="N", help="browser tabs that may run the app at once; the next "
                       f"one is refused (default: {DEFAULT_MAX_SESSIONS})")  # fmt: skip
    serve.add_argument("--no-auth", action="store_true",
                       help="ask for no token: anyone who can connect to the port (every "
                            "user and program on this machine) can use the app and read and "
                            "change the workspace; loopback --host only")  # fmt: skip
    serve.set_defaults(func=_cmd_serve)
    return parser


def _count(text: str) -> int:
    """argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_liveness_args(p: argparse.ArgumentParser) -> None:
    """How fast a dead worker is noticed (seconds; small values are for tests)."""
    p.add_argument("--heartbeat", type=_positive_float, default=None, metavar="S",
                   help="seconds between a worker's heartbeats (default: 5)")  # fmt: skip
    p.add_argument("--grace", type=_positive_float, default=None, metavar="S",
                   help="a trial whose worker is silent this long fails (default: 30)")  # fmt: skip


def _port(text: str) -> int:
    """argparse type: a TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value}")
    return value


def _positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jarvis-tui`` script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(commands=not _opens_app_only(argv))
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    reported: tuple[type[BaseException], ...] = (CommandError, *USER_ERRORS)
    try:
        return func(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # `jarvis-tui learn --json | head`: the reader has what it wanted. Say nothing,
        # and keep the interpreter's last flush from failing on the closed pipe.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1  # as Rich's console does for the lines it prints
    except reported as exc:
        _error(_describe(exc))
        return 1


def _opens_app_only(argv: Sequence[str]) -> bool:
    """Whether *argv* is only ``--home DIR`` and ``--create`` (what starting the app
    takes), which the top-level parser alone reads the same: the commands' parsers are
    not built then, as they import the engine's settings schemas (the LoRA flags' and
    more: ~50 ms of the first paint, issue 15). Anything else (a command, ``--help``,
    an abbreviation, a typo) gets the whole parser and its words."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--create" or arg.startswith("--home="):
            i += 1
        elif arg == "--home" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            i += 2
        else:
            return False
    return True


# --------------------------------------------------------------------------- commands


def _cmd_open(args: argparse.Namespace) -> int:
    home = resolve_home(args.home)
    # A --home DIR typed that does not exist is most likely a typo: say so rather
    # than open a new empty workspace there. The default home (a fresh machine, or
    # $JARVIS_TUI_HOME, set once on purpose) or --create starts one.
    if args.home is not None and not args.create and not os.path.lexists(home):
        raise CommandError(
            f"{home} does not exist (a new empty workspace there: {PROG} --home {home} "
            f"--create; a demo workspace: {PROG} demo)"
        )
    return _open_app(home)


def _cmd_demo(args: argparse.Namespace) -> int:
    from jarvis_tui.core.fmt import duration
    from jarvis_tui.demo import build_demo

    console = _console(stderr=True)
    ws = Workspace(resolve_home(_demo_dir(args)))
    if ws.root.exists() and not ws.root.is_dir():
        raise CommandError(f"{ws.root} exists and is not a directory")
    if os.path.lexists(ws.traces_db):  # a directory or a dangling link is never reused
        _require_traces(ws)
    traces = DEFAULT_DEMO_TRACES if args.traces is None else args.traces
    seed = DEFAULT_DEMO_SEED if args.seed is None else args.seed
    from jarvis_tui.demo import DEMO_MARKER, is_demo_workspace

    if ws.traces_db.exists() and not is_demo_workspace(ws.root):
        # (--force too: a real workspace, an OpenJarvis home, is never rebuilt)
        raise CommandError(
            f"{ws.traces_db} was not built by the demo (no {DEMO_MARKER} beside it): demo "
            f"never replaces it; build the demo in a new folder, or open this one with "
            f"{PROG} --home {shlex.quote(str(ws.root))}"
        )
    if ws.traces_db.exists() and not args.force:
        typed = [flag for flag, v in (("--traces", args.traces), ("--seed", args.seed))
                 if v is not None]  # fmt: skip
        why = f"{' and '.join(typed)} ignored: " if typed else ""
        _say(
            console,
            f"Reusing the demo workspace in {ws.root} (its traces.db exists; "
            f"{why}--force rebuilds it).",
        )
    else:
        if ws.traces_db.exists():
            holder = _held_elsewhere(ws.traces_db)
            if holder is not None:
                _say(console, f"warning: {holder} has {ws.traces_db} open (an app or "
                     "OpenJarvis on this workspace): restart it after the rebuild, it may "
                     "keep showing the old traces")  # fmt: skip
        started = time.perf_counter()
        _build_with_progress(console, build_demo, ws.root, traces, seed, args.force)
        size = ws.traces_db.stat().st_size
        _say(
            console,
            f"Built {traces:,} traces in {ws.root} "
            f"({size / 1e6:,.1f} MB, {duration(time.perf_counter() - started)}).",
        )
    if args.no_open:
        _say(console, f"Open it with: {PROG} --home {shlex.quote(str(ws.root.absolute()))}")
        return 0
    return _open_app(ws.root)


def _held_elsewhere(db: Path) -> str | None:
    """``"pid 4321 (python3)"`` when another process has the SQLite file *db* open, else
    None (also where it cannot be told: not Linux, no ``-shm`` file, no access).

    There is no lock file of the app's own to look at: every SQLite connection to a
    WAL database holds a shared POSIX lock on the "DMS" byte (128) of ``db-shm`` for as
    long as it is open (the unix VFS's UNIX_SHM_DMS), so F_GETLK on that byte names a
    process that has it open. F_GETLK only asks (it takes no lock and never reports
    this process's own locks), so it cannot disturb the other process's SQLite.
    """
    import fcntl
    import struct

    if not sys.platform.startswith("linux"):  # struct flock's layout is Linux's here
        return None
    layout = "hhqqi4x"  # l_type, l_whence, l_start, l_len, l_pid
    try:
        fd = os.open(f"{db}-shm", os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        query = struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
        kind, _, _, _, pid = struct.unpack(layout, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    if kind == fcntl.F_UNLCK or pid <= 0:
        return None
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return f"pid {pid}"
    return f"pid {pid} ({name})"


def _demo_dir(args: argparse.Namespace) -> Path:
    """Where ``demo`` builds: DIR, or its --home, or the global --home, else ./jarvis-demo.

    Only a --home typed on the command line counts, not $JARVIS_TUI_HOME: the demo is
    never built over the workspace the app opens by default.
    """
    given = [Path(d) for d in (args.dir, args.demo_home, args.home) if d is not None]
    if len({os.path.abspath(resolve_home(d)) for d in given[:2]}) > 1:  # ~nobody: one line
        raise CommandError(f"two folders to build the demo in: {given[0]} and {given[1]}")
    return given[0] if given else DEFAULT_DEMO_DIR


def _cmd_learn(args: argparse.Namespace) -> int:
    import json

    from jarvis_tui.learning.learning_orchestrator import LearningOrchestrator
    from jarvis_tui.traces import TraceStore

    ws = Workspace(resolve_home(args.learn_home or args.home))
    _require_traces(ws)
    console = _console(stderr=True)
    store = TraceStore(ws.traces_db)
    try:
        if args.agent is not None:
            known = _known_agents(store, ws)
            if args.agent not in known:
                raise CommandError(
                    f"no agent {args.agent!r} in {ws.root} (known: {', '.join(known)})"
                    if known
                    else f"no agent {args.agent!r} in {ws.root}: it has no traces or agent configs"
                )
        eval_fn = None
        if args.eval_gate or args.eval_backend or args.local:
            from jarvis_tui.evals.gate import make_eval_fn

            eval_fn = make_eval_fn(
                ws, _eval_options(args, model=args.eval_model), trace_store=store
            )
        orch = LearningOrchestrator(
            trace_store=store, config_dir=ws.agents_dir, min_quality=args.min_quality,
            eval_fn=eval_fn, keep_manual=args.keep_manual,
        )  # fmt: skip
        with console.status(_line("learning…")) as status:
            result = orch.run(
                agent_id=args.agent,
                progress=lambda step, msg: status.update(_line(f"{step} {msg}".strip())),
            )
        from jarvis_tui.learning.agent_evolver import AgentConfigEvolver
        from jarvis_tui.learning.learning_orchestrator import overwritten_by_hand

        evolver = AgentConfigEvolver(store, config_dir=ws.agents_dir)
        rejected = result.get("status") == "rejected"  # the gate rolled them back
        written = [] if rejected else result.get("configs_written") or []
        overwritten = overwritten_by_hand(evolver, written)
        changed = _written_changes(evolver, written)
    finally:
        store.close()
    if args.json:
        # ensure_ascii (the default) writes every control character as \uXXXX.
        print(json.dumps(result, indent=2, default=str))
    else:
        out = _console()
        _say(out, f"status: {result['status']}"
             + (f" ({result['reason']})" if result.get("reason") else ""))  # fmt: skip
        from jarvis_tui.core.fmt import plural

        _say(
            out,
            f"{plural(result.get('sft_pairs', 0), 'SFT pair')} · "
            f"{plural(result.get('routing_classes', 0), 'routing class', 'routing classes')} · "
            f"{plural(result.get('agent_classes', 0), 'agent class', 'agent classes')}",
        )
        from jarvis_tui.learning.learning_orchestrator import routes

        for route in routes(result):  # the Routing pane's cycle panel says the same
            _say(out, f"  {route.line()}")
            if route.why:
                _say(out, f"    why: {route.why}")
        for name, version in result.get("configs_written", []):
            _say(out, f"  wrote agents/{name}.toml (version {version})")
            for change in changed.get((name, version), []):  # the keys, as Routing s says
                _say(out, f"    {change}")
        for line in overwritten:  # a version a person chose, now overwritten: said
            _say(out, f"  warning: {line} (--keep-manual keeps it)")
        for name, _version, why in result.get("configs_kept", []):
            _say(out, f"  agents/{name}.toml: {why}")
        if (result["status"] == "completed" and not result.get("configs_written")
                and not result.get("configs_kept")):  # fmt: skip
            _say(out, "  agent configs: nothing changed")
        if result.get("baseline_score") is not None:
            verdict = "accepted" if result.get("accepted") else "rejected"
            _say(
                out,
                f"  eval gate: {result['baseline_score']:.3f} → {result.get('post_score', 0):.3f}"
                f" ({verdict}" + (f": {result['reason']}" if result.get("reason") and
                                  not result.get("accepted") else "") + ")",
            )  # fmt: skip
        elif result.get("gate") == "none":
            _say(out, f"  {result.get('gate_note', 'eval gate: not configured')}")
    # A cycle the eval gate rejected ran as asked (the report says so): not an error.
    return 0 if result["status"] in ("completed", "skipped", "rejected") else 1


def _written_changes(evolver: Any, written: list) -> dict:
    """``{(agent, version): [change, ...]}``: the keys each version a cycle wrote changed
    (:func:`~jarvis_tui.configs.diff.toml_diff` words); a first version key by key."""
    from jarvis_tui.configs.diff import toml_diff

    out: dict = {}
    for name, version in written:
        try:
            new = evolver.load_version(name, version)
            old = evolver.load_version(name, version - 1) if version > 1 else None
        except (ValueError, OSError):
            continue  # the version line still says what was written
        if old is None:
            old = {k: {} for k, v in new.items() if isinstance(v, dict)}
        out[(name, version)] = [str(c) for c in toml_diff(old, new)]
    return out


def _add_lora_settings(parser: argparse.ArgumentParser) -> None:
    """The LoRA settings' flags, from the schema the Training form uses too.

    Values stay text here and are checked by :func:`_lora_values` (one line on
    stderr naming the bound, exit 1), in the same words as the form.
    """
    from jarvis_tui.learning.training.settings import CLI_SETTINGS

    for s in CLI_SETTINGS:
        default = s.show(s.default) or None
        words = s.help if s.kind == "text" else f"{s.help}: {s.accepts()} (default: {default})"
        parser.add_argument(s.flag, dest=s.name, metavar=s.metavar or None, default=default,
                            help=words.replace("%", "%%"))  # fmt: skip


def _lora_values(args: argparse.Namespace) -> dict:
    """The LoRA settings given on the command line, checked against the schema."""
    from jarvis_tui.learning.training.settings import CLI_SETTINGS

    values: dict = {}
    for s in CLI_SETTINGS:
        raw = getattr(args, s.name)
        if raw is None:
            values[s.name] = s.default
            continue
        value, problem = s.parse(str(raw))
        if problem:
            raise CommandError(f"{s.flag} {problem}")
        values[s.name] = value
    return values


def _cmd_train(args: argparse.Namespace) -> int:
    import itertools
    import json

    from jarvis_tui.learning.training.cpu_fast import prefer_huge_pages

    prefer_huge_pages()  # before torch is imported: torch reads it once

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from jarvis_tui.core.fmt import sig
    from jarvis_tui.learning.training import TrainingDataMiner
    from jarvis_tui.learning.training.lora import LoRATrainer, LoRATrainingConfig, dist_from_env
    from jarvis_tui.learning.training.settings import config_kwargs
    from jarvis_tui.traces import TraceStore

    values = _lora_values(args)
    ws = Workspace(resolve_home(args.train_home or args.home))
    _require_traces(ws)

    def phase(words: str) -> None:
        if args.phases:  # the Training pane reads these lines (see --phases)
            print(json.dumps({"phase": words}), flush=True)

    stop = threading.Event()
    if args.until_stdin_closes:
        _stop_when_stdin_closes(stop)
    dist = dist_from_env()
    if args.nproc > 1 and not dist.enabled:
        return _launch_train(args, ws)

    def stopped_early(pairs: list) -> bool:
        """Asked to stop (the pane's x closed stdin) before the run has a folder: said
        as the trainer says it, and nothing more is done (no tiny LM built, no torch:
        minutes for a child niced below a busy machine). One process only: under
        torchrun the ranks stop together, at a step."""
        if dist.enabled or not stop.is_set():
            return False
        summary = {"status": "cancelled", "message": "stopped before the first step",
                   "run_dir": None, "run_id": None, "total_steps": 0, "epochs": 0.0,
                   "adapter_path": None, "final_loss": None,
                   "training_samples": len(pairs)}  # fmt: skip
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            _say(_console(), "status: cancelled (stopped before the first step)")
        return True

    # gradient_checkpointing stays allowed: the trainer turns it on only when the longest
    # batch's activations would not fit, or after an out of memory (W3 34: False here
    # meant that check never ran, and run.json said "not allowed by the config")
    config = LoRATrainingConfig(**config_kwargs(values), output_dir=str(ws.checkpoints_dir))
    problems = config.validate()
    if problems:
        raise CommandError("; ".join(problems))
    min_quality, max_pairs = values["min_quality"], values["max_pairs"]
    pairs: list = []
    if dist.is_main:  # under torchrun the other ranks train on rank 0's pairs
        phase("mining SFT pairs")
        store = TraceStore(ws.traces_db)
        try:
            from jarvis_tui.evals.heldout import training_pairs
            from jarvis_tui.evals.sets import EvalSplit

            # Never a query the eval split holds out (evaluations score on those).
            miner = TrainingDataMiner(store, min_quality=min_quality)
            mined = itertools.takewhile(lambda _pair: not stop.is_set(), miner.iter_sft_pairs())
            pairs, _held = training_pairs(mined, EvalSplit(), max_pairs)
        finally:
            store.close()
        if stopped_early(pairs):
            return 0
        if not pairs:
            raise CommandError(f"no SFT pairs with feedback >= {min_quality}: label traces first")
    console = _console(stderr=True)
    if values["model"]:
        model = values["model"]
    else:
        from jarvis_tui.learning.training.tinylm import TINY_LM_NAME, ensure_tiny_lm

        if not (ws.models_dir / TINY_LM_NAME / "config.json").is_file():
            phase("building the demo model")
        model = str(ensure_tiny_lm(ws.models_dir))
    if stopped_early(pairs):
        return 0
    device = None if args.device == "auto" else args.device
    phase("starting torch")
    try:
        trainer = LoRATrainer(
            config, model_name=model, device=device, precision=args.precision,
            threads=args.threads,
        )  # fmt: skip
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.phases:
        tokenise = trainer.prepare_dataset

        def prepare(pairs: list) -> list:
            phase(f"tokenising {len(pairs):,} pairs")
            out = tokenise(pairs)
            phase("loading the model")  # what train() does next, up to the first step
            return out

        trainer.prepare_dataset = prepare  # type: ignore[method-assign]
    with _signals_stop(stop), Progress(
        TextColumn("{task.description}", markup=False), BarColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeRemainingColumn(), console=console, transient=not args.json,
        # a pipe or log gets no bar (nor its blank line); one bar for all the ranks
        disable=not console.is_terminal or not dist.is_main,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"training on {len(pairs)} pairs", total=None, info="")

        def on_step(rec: dict) -> None:
            total = rec.get("total_steps")
            bar.update(
                task, completed=rec["step"], total=total,
                info=f"loss {sig(rec.get('loss'))} · {sig(rec.get('tokens_per_s'), 3)} tok/s",
            )  # fmt: skip

        summary = trainer.train(
            pairs, callback=on_step, run_dir=str(ws.checkpoints_dir),
            eval_fraction=values["eval_fraction"], stop=stop, run_id=args.run_id,
        )  # fmt: skip
    ok = 0 if summary.get("status") in ("completed", "cancelled") else 1
    if not dist.is_main:
        return ok
    if summary.get("run_dir"):  # which queries the run never trained on (evaluations use it)
        from jarvis_tui.evals.heldout import write_split
        from jarvis_tui.evals.sets import EvalSplit

        write_split(summary["run_dir"], EvalSplit(), _held)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        out = _console()
        _say(out, f"status: {summary.get('status')}")
        for key in ("run_dir", "final_loss", "tokens_per_s", "train_examples", "truncated"):
            if key in summary:
                value = summary[key]
                # Measured floats to 4 significant digits (--json keeps them whole).
                shown = sig(value) if isinstance(value, float) else value
                _say(out, f"  {key}: {shown}")
        fast = summary.get("fast_path")
        if isinstance(fast, dict):
            import dataclasses

            from jarvis_tui.learning.training.lora import FastPath

            names = {f.name for f in dataclasses.fields(FastPath)}
            picked = FastPath(**{k: v for k, v in fast.items() if k in names})
            _say(out, f"  fast_path: {picked.summary()}")
            # why each choice was made (the README promises fp32 "with the reason")
            for what, why in (("precision", picked.precision_why),
                              ("checkpointing", picked.checkpointing_why)):  # fmt: skip
                if why:
                    _say(out, f"    {what}: {why}")
    return ok


def _stop_when_stdin_closes(stop: threading.Event) -> None:
    """Set *stop* once stdin reaches its end (the parent that holds the pipe is gone)."""
    import os
    import select

    def closed_now() -> bool:
        """Whether stdin is at its end already (closed before we looked): then *stop* is
        set before anything is done, not whenever the thread below first runs."""
        try:
            ready, _, _ = select.select([sys.stdin.fileno()], [], [], 0)
            return bool(ready) and not os.read(sys.stdin.fileno(), 4096)
        except (OSError, ValueError, AttributeError):
            return True  # no stdin to hold the run open

    def watch() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside the buffered reader
        # holds its lock, and the interpreter aborts at exit when it cannot take it.
        with contextlib.suppress(OSError, ValueError):
            while os.read(sys.stdin.fileno(), 4096):
                pass
        stop.set()

    if closed_now():
        stop.set()
        return

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


@contextlib.contextmanager
def _signals_stop(stop: threading.Event) -> Iterator[None]:
    """SIGTERM / SIGINT set *stop* (the run finishes its step, saves, ends cancelled);
    a second one interrupts. Under torchrun every rank gets the signal."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _launch_train(args: argparse.Namespace, ws: Workspace) -> int:
    """``train --nproc N``: the same command as N ranks under torch's elastic launcher."""
    from jarvis_tui.learning.training.lora import launch_ranks
    from jarvis_tui.learning.training.runs import new_run_id
    from jarvis_tui.learning.training.settings import CLI_SETTINGS

    run_id = args.run_id or new_run_id()
    child = ["train", "--home", str(ws.root), "--device", args.device, "--run-id", run_id]
    for s in CLI_SETTINGS:  # every setting as given (checked already)
        if getattr(args, s.name) is not None:
            child += [s.flag, str(getattr(args, s.name))]
    for flag, value in (("--precision", args.precision), ("--threads", args.threads)):
        if value:
            child += [flag, str(value)]
    if args.json:
        child.append("--json")
    try:
        code, why = launch_ranks(
            args.nproc, child, run_path=ws.checkpoints_dir / run_id,
            device=None if args.device == "auto" else args.device,
        )  # fmt: skip
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if why:
        raise CommandError(f"training failed: {why} (run {ws.checkpoints_dir / run_id})")
    return code


def _cmd_optimize(args: argparse.Namespace) -> int:
    import json

    from jarvis_tui.core.fmt import money, plural
    from jarvis_tui.learning.optimize.optimizer import RunControl
    from jarvis_tui.learning.optimize.session import open_session
    from jarvis_tui.learning.optimize.types import ObjectiveBound

    ws = Workspace(resolve_home(args.opt_home or args.home))
    if os.path.lexists(ws.traces_db):  # there but not a file: say what it is
        _require_traces(ws)
    bounds = [ObjectiveBound.parse(b) for b in args.bound]
    if args.model and not args.backend:
        raise CommandError("--model needs --backend URL (the endpoint that serves it)")
    resumed = _resume_plan(args, ws, bounds) if args.resume else ""
    args.evaluate = args.evaluate or "replay"
    args.trials = OPTIMIZE_TRIALS if args.trials is None else args.trials
    args.patience = OPTIMIZE_PATIENCE if args.patience is None else args.patience
    # Several workers: the storage is opened (and refused when wrong or unreachable)
    # before anything else is started or written.
    dispatcher = _dispatcher(args, ws) if args.workers is not None or args.storage else None
    # Progress is the command's output (stdout), so stderr holds only a failure's one
    # line; --json keeps stdout to the JSON document and prints no progress.
    console = _console(quiet=args.json)
    scoring = {
        "replay": "trace replay (estimates)",
        "measured": "measured on held-out queries",
        "replay-then-measure": "estimated, frontier candidates measured",
    }[args.evaluate]
    session = open_session(
        ws, max_trials=args.trials, patience=args.patience, backend_url=args.backend,
        model=args.model, seed=args.seed, evaluate=args.evaluate,
        eval_options=_eval_options(args) if args.evaluate != "replay" else None,
    )  # fmt: skip
    try:
        if resumed:
            _say(console, resumed)
        _say(
            console,
            f"search space: {session.space_origin} ({len(session.space.dimensions)} dimensions)"
            f" · proposer: {session.proposer_name} · trials: {scoring}"
            " · *: on the Pareto frontier as it finished",
        )
        control = RunControl(bounds=bounds)

        def on_event(ev) -> None:
            if ev.kind == "started" and dispatcher is not None:
                _say(
                    console,
                    f"run {ev.run.run_id} on {dispatcher.label}: {dispatcher.local_workers} "
                    f"local worker(s); more join with: {PROG} optimize-worker --run "
                    f"{ev.run.run_id} --storage {dispatcher.label}",
                )
            elif ev.kind == "trial_failed" and ev.config is not None:
                _say(console, f"  trial {ev.config.trial_id} failed: {ev.message}")
            if ev.kind == "trial_done" and ev.result is not None:
                r = ev.result
                bad = ev.meta.get(r.trial_id, {}).get("infeasible")
                star = "*" if r in ev.run.pareto_frontier else " "
                _say(
                    console,
                    f"{star} trial {ev.trial_num:>3}/{ev.max_trials} {r.trial_id:<14} "
                    f"acc {r.accuracy:.3f}  lat {r.mean_latency_seconds:.2f}s  "
                    f"cost {money(r.total_cost_usd)}  ({ev.source}"
                    + (
                        ", measured"
                        if ev.meta.get(r.trial_id, {}).get("scoring") == "measured"
                        and args.evaluate == "replay-then-measure"
                        else ""
                    )
                    + (f", {w}" if (w := ev.meta.get(r.trial_id, {}).get("worker")) else "")
                    + ")"
                    + (f"  infeasible: {', '.join(map(str, bad))}" if bad else ""),
                )
            elif ev.kind == "notice":
                _say(console, f"  {ev.message}")

        if dispatcher is not None:
            dispatcher.info.update(_run_info(args, session))
        run = session.engine.run(
            control=control, on_event=on_event, resume_run_id=args.resume, dispatcher=dispatcher
        )
        message = session.opt_store.get_run_meta(run.run_id).get("message", "")
    finally:
        session.close()
    if args.json:
        print(json.dumps(_run_json(run, message), indent=2))
    else:
        out = _console()
        _say(out, f"run {run.run_id}: {run.status} ({message})")
        if run.best_trial is not None and run.status != "failed":
            b = run.best_trial
            _say(
                out,
                f"  best {b.trial_id}: accuracy {b.accuracy:.3f}, latency "
                f"{b.mean_latency_seconds:.2f}s, cost {money(b.total_cost_usd)} "
                f"({'estimates' if args.evaluate == 'replay' else 'measured'})",
            )
        _say(out, f"  frontier: {len(run.pareto_frontier)} of {len(run.trials)} trials")
        if run.status == "failed" and run.trials:  # no best / export lines as if it had
            # succeeded (walkthrough W2 37): what it kept, and how it goes on
            _say(out, f"  nothing to export: the run failed; its {plural(len(run.trials), 'trial')} "
                      f"stay in optimize.db (--resume {run.run_id} continues it once the cause "
                      "is fixed)")  # fmt: skip
        elif run.best_trial is not None:
            _say(out, f"  export: {PROG} export-best {run.run_id} best.toml")
        else:
            _say(out, f"  nothing to export: {_why_no_best(run)}")
    if run.status == "failed":
        raise CommandError(f"run {run.run_id} failed: {message}")
    return 0


OPTIMIZE_TRIALS = 20
OPTIMIZE_PATIENCE = 5
"""``optimize``'s trial budget and patience when neither the flags nor a resumed run say."""


def _resume_plan(args: argparse.Namespace, ws: Workspace, bounds: list) -> str:
    """``optimize --resume RUN``: the run goes on with its own trial budget, patience
    and bounds unless --trials / --patience / --bound say otherwise (sets *args*).

    Returns the line that says what is kept and what changed; refuses (one line) a run
    that cannot go on as asked: one that already holds its trials, or that stopped
    early without a larger --patience (the Trials pane's ``c`` refuses it too)."""
    from jarvis_tui.learning.optimize.optimizer import bound_text
    from jarvis_tui.learning.optimize.session import EVALUATE_MODES
    from jarvis_tui.learning.optimize.store import OptimizationStore, StoreError
    from jarvis_tui.learning.optimize.types import ObjectiveBound

    run_id = args.resume
    if not ws.optimize_db.is_file():
        raise CommandError(f"no optimization run {run_id!r}: {ws.optimize_db} does not exist")
    try:
        with OptimizationStore(ws.optimize_db) as store:
            run = store.get_run(run_id)
            meta = store.get_run_meta(run_id) if run is not None else {}
            recent = [r["run_id"] for r in store.list_runs(limit=5)] if run is None else []
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    if run is None:
        known = f" (recent: {', '.join(recent)})" if recent else ""
        raise CommandError(f"no optimization run {run_id!r} in {ws.optimize_db}{known}")
    done = len(run.trials)
    own_trials = _positive(meta.get("max_trials")) or done
    own_patience = _positive(meta.get("early_stop_patience")) or OPTIMIZE_PATIENCE
    try:
        own_bounds = [ObjectiveBound(*b) for b in meta.get("bounds") or []]
    except (TypeError, ValueError):
        own_bounds = []

    def kept(what: str, own: object, now: object, flag: str) -> str:
        return f"{what} {own} → {now} ({flag})" if now != own else f"{what} {now} (the run's)"

    message = str(meta.get("message") or "")
    own_mode = meta.get("evaluate") if meta.get("evaluate") in EVALUATE_MODES else None
    if args.evaluate is None:  # the run goes on scoring as it was started (walkthrough W2 3)
        args.evaluate = own_mode or "replay"
    if own_mode is None:
        mode_words = f"evaluate {args.evaluate} (how the run scored was not stored: an older run)"
    else:
        mode_words = kept("evaluate", own_mode, args.evaluate, "--evaluate")
    trials = own_trials if args.trials is None else args.trials
    patience = own_patience if args.patience is None else args.patience
    if run.status == "completed" and message.startswith("early stop") and patience <= own_patience:
        raise CommandError(
            f"run {run_id} is complete ({message}): --resume continues a stopped or failed "
            f"run; --patience N (more than its {own_patience}) lets this one go on"
        )
    if trials <= done:
        raise CommandError(
            f"run {run_id} already holds {done} of its {own_trials} trials: --trials N "
            f"(more than {done}) continues it"
        )

    own_words = ", ".join(bound_text(b) for b in own_bounds) or "none"
    if bounds:  # the engine keeps the run's own only when none are given
        new_words = ", ".join(bound_text(b) for b in bounds)
        bound_words = kept("bounds", own_words, new_words, "--bound")
    else:
        bound_words = f"bounds {own_words} (the run's)"
    args.trials, args.patience = trials, patience
    return (f"resuming run {run_id} ({run.status}, {done}/{own_trials} trials): "
            f"{kept('trial budget', own_trials, trials, '--trials')} · "
            f"{kept('patience', own_patience, patience, '--patience')} · {bound_words} · "
            f"{mode_words}")  # fmt: skip


def _positive(value: object) -> int:
    """*value* as a positive whole number, else 0 (a stored field of an older file)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _why_no_best(run) -> str:
    """Why a finished run has no best trial, for the line where its export would be."""
    if not run.trials:
        if run.status == "failed":
            return "the run failed before any trial finished, so there is no best trial"
        return "no trial finished, so there is no best trial"
    return (
        f"none of the {len(run.trials):,} trials can be the best "
        "(each failed or is outside a --bound)"
    )


def _liveness(args: argparse.Namespace):
    from jarvis_tui.learning.optimize.workers import GRACE_S, HEARTBEAT_S, Liveness

    beat = args.heartbeat or HEARTBEAT_S
    grace = args.grace or max(GRACE_S, 3 * beat)
    try:
        return Liveness(beat, grace)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _dispatcher(args: argparse.Namespace, ws: Workspace):
    from jarvis_tui.learning.optimize.workers import StudyDispatcher, default_storage_url

    workers = 1 if args.workers is None else args.workers
    url = args.storage or default_storage_url(ws.root)
    worker_args = ["--home", str(ws.root), *_eval_argv(args)]
    return StudyDispatcher(
        url, local_workers=workers, worker_args=worker_args, liveness=_liveness(args),
        log_dir=ws.root / "optimize-workers",
    )  # fmt: skip


def _eval_argv(args: argparse.Namespace) -> list[str]:
    """The measuring flags of *args*, for a worker started with the same choices."""
    out: list[str] = []
    for flag, value in (
        ("--eval-backend", args.eval_backend), ("--local", args.local),
        ("--adapter", args.adapter), ("--set", args.eval_set),
        ("--judge-backend", args.judge_backend), ("--judge-model", args.judge_model),
    ):  # fmt: skip
        if value:
            out += [flag, str(value)]
    out += ["--samples", str(args.samples), "--scorer", args.scorer,
            "--max-tokens", str(args.max_tokens), "--concurrency", str(args.concurrency),
            "--eval-seed", str(args.eval_seed)]  # fmt: skip
    return out


def _run_info(args: argparse.Namespace, session) -> dict:
    """What a worker needs to know of the run: how it is scored, and on which set."""
    runner = session.engine.trial_runner
    measured = getattr(runner, "measured", runner)
    eval_set = getattr(measured, "eval_set", None)
    info: dict = {"evaluate": args.evaluate}
    if eval_set is not None:
        info["eval_set"] = {"id": eval_set.set_id, "hash": eval_set.content_hash}
    return info


def _cmd_optimize_worker(args: argparse.Namespace) -> int:
    import os
    import threading

    from jarvis_tui.learning.optimize.workers import (
        StorageError,
        default_storage_url,
        run_worker,
    )

    ws = Workspace(resolve_home(args.worker_home or args.home))
    url = args.worker_storage or default_storage_url(ws.root)
    err = _console(stderr=True)
    stop = threading.Event()
    if args.parent_pid:
        # Started by a coordinator: leave when it is gone (killed), never run orphaned.
        def watch() -> None:
            while not stop.wait(1.0):
                if os.getppid() != args.parent_pid:
                    stop.set()

        threading.Thread(target=watch, daemon=True).start()
    opened: list = []

    def make_runner(info: dict):
        runner, stores = _worker_runner(ws, args, info)
        opened.extend(stores)
        return runner

    try:
        done = run_worker(url, args.worker_run, make_runner, worker_id=args.worker_id,
                          stop=stop, say=lambda line: _say(err, line))  # fmt: skip
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    finally:
        stop.set()
        for s in opened:
            s.close()
    _say(err, f"worker done: {done} trial(s) evaluated")
    return 0


def _worker_runner(ws: Workspace, args: argparse.Namespace, info: dict):
    """The trial runner a worker evaluates with: the run's mode, this machine's means."""
    from jarvis_tui.learning.optimize.session import EVALUATE_MODES, _measured_runner
    from jarvis_tui.learning.optimize.trial_runner import TraceReplayRunner
    from jarvis_tui.traces.store import TraceStore

    evaluate = info.get("evaluate", "replay")
    if evaluate not in EVALUATE_MODES:
        raise CommandError(f"the run scores trials with {evaluate!r}, which this version lacks")
    stores = []
    trace_store = None
    if ws.traces_db.is_file():
        trace_store = TraceStore(ws.traces_db)
        stores.append(trace_store)
    elif evaluate != "measured" or not args.eval_set:
        raise CommandError(
            f"no trace store at {ws.traces_db}: this run needs the workspace's traces "
            "(--home DIR), or measure on an eval set file (--set FILE)"
        )
    try:
        runner = TraceReplayRunner(trace_store) if trace_store is not None else None
        if evaluate != "replay":
            runner = _measured_runner(ws, trace_store, runner, evaluate, _eval_options(args))
        measured = getattr(runner, "measured", runner)
        want = info.get("eval_set")
        have = getattr(measured, "eval_set", None)
        if isinstance(want, dict) and have is not None and want.get("hash") != have.content_hash:
            raise CommandError(
                f"this worker's eval set ({have.set_id}) differs from the run's "
                f"({want.get('id')}): use the same --set/--samples/--eval-seed and traces"
            )
    except BaseException:
        for s in stores:
            s.close()
        raise
    return runner, stores


def _run_json(run, message: str) -> dict:
    from dataclasses import asdict

    def trial(t) -> dict:
        return {
            "trial_id": t.trial_id, "params": t.config.params, "accuracy": t.accuracy,
            "mean_latency_seconds": t.mean_latency_seconds, "total_cost_usd": t.total_cost_usd,
            "samples_evaluated": t.samples_evaluated, "analysis": t.analysis,
        }  # fmt: skip

    return {
        "run_id": run.run_id,
        "status": run.status,
        "message": message,
        "optimizer_model": run.optimizer_model,
        "benchmark": run.benchmark,
        "objectives": [asdict(o) for o in run.objectives],
        "best_trial": run.best_trial.trial_id if run.best_trial else None,
        "pareto_frontier": [t.trial_id for t in run.pareto_frontier],
        "trials": [trial(t) for t in run.trials],
    }


def _add_eval_args(
    p: argparse.ArgumentParser, *, endpoint_flag: str, seed_flag: str = "--eval-seed"
) -> None:
    """The flags that say how to measure: generator, eval set, scorer."""
    p.add_argument(endpoint_flag, dest="eval_backend", metavar="URL",
                   help="OpenAI-compatible endpoint that answers the eval queries")  # fmt: skip
    p.add_argument("--local", metavar="PATH",
                   help="local Hugging Face model folder (default: the workspace's tiny model)")  # fmt: skip
    p.add_argument("--adapter", metavar="RUN_OR_DIR",
                   help="LoRA adapter for --local: a run id, run folder or adapter folder")  # fmt: skip
    p.add_argument("--set", dest="eval_set", metavar="FILE",
                   help="JSONL eval set (default: held-out labelled traces)")  # fmt: skip
    p.add_argument("--samples", type=positive_int, default=50, metavar="N",
                   help="samples to evaluate (default: 50)")  # fmt: skip
    p.add_argument("--scorer", choices=("rouge", "f1", "exact", "contains", "judge"),
                   default="rouge", help="how answers are scored (default: rouge = ROUGE-L)")  # fmt: skip
    p.add_argument("--judge-backend", metavar="URL", help="endpoint of the LLM judge")
    p.add_argument("--judge-model", metavar="M", help="model of the LLM judge")
    p.add_argument("--max-tokens", type=positive_int, default=256, metavar="N",
                   help="most tokens an answer may take (default: 256)")  # fmt: skip
    p.add_argument("--concurrency", type=positive_int, default=8, metavar="K",
                   help="requests in flight to an endpoint (default: 8)")  # fmt: skip
    p.add_argument(seed_flag, dest="eval_seed", type=int, default=0, metavar="S",
                   help="seed of the eval set's sampling (default: 0)")  # fmt: skip


def _eval_options(args: argparse.Namespace, *, model: str | None = None):
    from jarvis_tui.evals.setup import EvalOptions

    return EvalOptions(
        backend_url=args.eval_backend, model=model, local=args.local, adapter=args.adapter,
        set_path=args.eval_set, samples=args.samples, scorer=args.scorer,
        judge_url=args.judge_backend, judge_model=args.judge_model,
        concurrency=args.concurrency, seed=args.eval_seed,
        max_tokens=EvalOptions.max_tokens if args.max_tokens is None else args.max_tokens,
    )  # fmt: skip


def _cmd_eval(args: argparse.Namespace) -> int:
    import json
    import threading

    from jarvis_tui.core.fmt import money, plural
    from jarvis_tui.evals.runner import evaluate, load_prices
    from jarvis_tui.evals.setup import (
        agent_generation,
        build_generator,
        build_scorer,
        build_set,
        save_result,
    )

    ws = Workspace(resolve_home(args.eval_home or args.home))
    if args.compare is not None:
        return _cmd_eval_compare(args, ws)
    if args.progress:
        raise CommandError("--progress goes with --compare RUN_ID")
    opts = _eval_options(args, model=args.eval_model)
    scorer = build_scorer(opts)
    eval_set = build_set(opts, ws)
    generator, settings = build_generator(opts, ws)
    link: dict = {}
    if args.eval_agent is not None:
        # Read before generation starts: the score belongs to the version it used.
        settings, link = agent_generation(ws, args.eval_agent, settings)
    prices = load_prices(ws.root)
    console = _console(quiet=args.json)
    classes = ", ".join(f"{k} {v}" for k, v in eval_set.classes().items())
    _say(
        console,
        f"eval set {eval_set.set_id} ({plural(len(eval_set), 'sample')}: {classes}; hash "
        f"{eval_set.content_hash[:12]}) · {generator.describe(settings)} · scorer {scorer.name}"
        + (f" · agent {link['agent']} v{link['agent_version']}" if link else ""),
    )
    cancel = threading.Event()
    try:
        result = evaluate(eval_set, generator, scorer, settings, prices=prices, cancel=cancel)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        raise CommandError("evaluation interrupted") from None
    path = save_result(ws, result, label=generator.describe(settings), **link)
    m = result.metrics()
    if args.json:
        print(json.dumps({**m, **link, "result_path": str(path)}, indent=2))
    else:
        out = _console()
        low, high = m["accuracy_ci"]
        accuracy = (
            f"accuracy {m['accuracy']:.3f} (95% interval {low:.3f}–{high:.3f})"
            if m["scored"]
            else "accuracy – (no sample scored)"
        )
        _say(out, f"{accuracy} · {_sample_counts(m)}" + (" · PARTIAL" if m["partial"] else ""))
        _say(
            out,
            f"latency p50 {m['p50_latency_seconds']:.2f} s, p95 {m['p95_latency_seconds']:.2f} s"
            f" · tokens {m['total_tokens']:,} ({m['prompt_tokens']:,} prompt, "
            f"{m['completion_tokens']:,} completion) · cost {money(m['total_cost_usd'])}",
        )
        for qc, c in m["per_class"].items():
            score = f"{c['accuracy']:.3f}" if c["scored"] else "–    "
            _say(
                out,
                f"  {qc:<10} {score}  ({plural(c['samples'], 'sample')}"
                + (f", {plural(c['errors'], 'error')}" if c["errors"] else "")
                + ")",
            )
        from jarvis_tui.ui.text import one_line

        worst = [s for s in result.worst_first() if s.error or (s.score or 0) < 0.5][:3]
        for s in worst:
            what = f"error: {s.error}" if s.error else f"score {s.score:.2f}"
            _say(out, f"  worst {s.record_id}: {what} · {one_line(' '.join(s.query.split()), 60)}")
        _say(out, f"  every sample: {path}")
    if result.samples and m["errors"] == m["samples"]:
        raise CommandError(_all_failed(m, generator.describe(settings)))
    return 0


def _cmd_eval_compare(args: argparse.Namespace, ws: Workspace) -> int:
    """``eval --compare RUN_ID``: the run's adapter against its base (the Training pane
    runs this as its child). SIGTERM / SIGINT stop it between batches: the partial
    result is printed (``--json``), eval.json is not written, and it exits 1."""
    import json

    from jarvis_tui.evals.adapters import COMPARE_MAX_TOKENS, compare_run

    given = [flag for flag, value in (
        ("--backend", args.eval_backend), ("--local", args.local), ("--adapter", args.adapter),
        ("--set", args.eval_set), ("--model", args.eval_model), ("--agent", args.eval_agent),
        ("--judge-backend", args.judge_backend), ("--judge-model", args.judge_model),
    ) if value is not None]  # fmt: skip
    if given:
        raise CommandError(f"--compare measures the run's own base and adapter: drop {given[0]}")
    if args.scorer == "judge":
        raise CommandError("--compare scores with rouge, f1, exact or contains, not judge")
    stop = threading.Event()
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and done > 1 and now - last[0] < 0.25:
            return  # coalesced: about four lines a second
        last[0] = now
        if args.progress:
            line = json.dumps({"progress": stage, "done": done, "total": total})
            print(line, flush=True)

    with _signals_stop(stop):
        comparison = compare_run(
            ws.root, args.compare, samples=args.samples, seed=args.eval_seed,
            scorer=args.scorer, cancel=stop, progress=progress,
            max_tokens=COMPARE_MAX_TOKENS if args.max_tokens is None else args.max_tokens,
        )  # fmt: skip
    data = comparison.to_dict()
    if args.json:
        print(json.dumps(data, indent=2), flush=True)
    if comparison.partial:
        base, adapter = data["base"].get("samples", 0), data["adapter"].get("samples", 0)
        of = data["eval_set"].get("samples", "?")
        raise CommandError(
            f"evaluation cancelled (base {base}/{of}, adapter {adapter}/{of}): eval.json "
            "not written"
        )
    if not args.json:
        out = _console()
        _say(out, f"{args.compare}: {data['verdict']}")
        for side in ("base", "adapter"):
            m = data[side]
            low, high = m["accuracy_ci"]
            loss = data[f"{side}_eval_loss"]
            score = (
                f"score {m['accuracy']:.3f} (95% interval {low:.3f}–{high:.3f})"
                if m.get("scored", 1)
                else "score – (no sample scored)"  # an empty answer is an error, never a 0
            )
            _say(
                out,
                f"  {side:<8} {score} · "
                f"eval loss {'–' if loss is None else f'{loss:.3f}'} · latency p50 "
                f"{m['p50_latency_seconds']:.2f} s · {_sample_counts(m)}",
            )
        from jarvis_tui.evals.adapters import EVAL_FILE

        _say(out, f"  kept in {ws.checkpoints_dir / args.compare / EVAL_FILE}")
    return 0


def _sample_counts(m: dict) -> str:
    """``50 samples: 48 scored, 2 errors (empty answer)`` — the reasons, most common
    first, with their counts when there is more than one."""
    reasons = m.get("error_reasons") or {}
    why = ""
    if reasons:
        shown = [r if len(reasons) == 1 else f"{r} ×{n}" for r, n in list(reasons.items())[:3]]
        why = f" ({'; '.join(shown)}{'; …' if len(reasons) > 3 else ''})"
    from jarvis_tui.core.fmt import plural

    return (
        f"{plural(m['samples'], 'sample')}: {m['scored']:,} scored, "
        f"{plural(m['errors'], 'error')}{why}"
    )


def _all_failed(m: dict, generator: str) -> str:
    """One line: every sample failed, why, and what to do."""
    from jarvis_tui.evals.runner import EMPTY_ANSWER

    reasons = m.get("error_reasons") or {}
    first = next(iter(reasons), "no answer")
    if first == EMPTY_ANSWER and len(reasons) == 1:
        hint = (
            "the workspace's tiny model is untrained and answers only blank lines; "
            if generator == "tiny-lm"  # untrained; with an adapter it may answer
            else ""
        )
        return (
            f"every sample failed: {EMPTY_ANSWER} ({m['samples']:,} of {m['samples']:,}): "
            f"{hint}evaluate a model that answers, with --backend URL --model M or --local PATH"
        )
    return f"every sample failed: {first} (nothing scored, so no accuracy)"


def _cmd_export_best(args: argparse.Namespace) -> int:
    from jarvis_tui.learning.optimize.optimizer import export_best_recipe
    from jarvis_tui.learning.optimize.store import OptimizationStore
    from jarvis_tui.paths import ExportPathError

    ws = Workspace(resolve_home(args.exp_home or args.home))
    if not ws.optimize_db.is_file():
        raise CommandError(f"no optimization store at {ws.optimize_db}")
    store = OptimizationStore(ws.optimize_db)
    try:
        run = store.get_run(args.run_id)
        if run is None:
            known = [r["run_id"] for r in store.list_runs(limit=5)]
            raise CommandError(
                f"no run {args.run_id!r} in {ws.optimize_db}"
                + (f" (recent: {', '.join(known)})" if known else " (it holds no runs)")
            )
        if run.best_trial is None:
            raise CommandError(f"run {args.run_id} has no best trial to export")
        try:
            path = export_best_recipe(run, args.path, parents=args.parents, workspace=ws.root)
        except ExportPathError as exc:
            hint = " (or pass --parents to create it)" if exc.missing_folder else ""
            raise CommandError(f"{exc}{hint}") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        store.save_run(run)  # remembers best_recipe_path, as OpenJarvis does
    finally:
        store.close()
    _say(_console(), f"wrote {path} (trial {run.best_trial.trial_id})")
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    import json

    from jarvis_tui.ui.binding_table import describe

    rows = describe()
    if args.json:
        print(json.dumps([{"id": i, "keys": k, "does": d} for i, k, d in rows], indent=1))
        return 0
    wid = max(len(i) for i, _, _ in rows)
    kwid = min(24, max(len(k) for _, k, _ in rows))
    lines = [f"{'id'.ljust(wid)}  {'default keys'.ljust(kwid)}  does"]
    lines += [f"{i.ljust(wid)}  {k.ljust(kwid)}  {d}" for i, k, d in rows]
    print("\n".join(lines))
    return 0


def _cmd_versions(args: argparse.Namespace) -> int:
    import json

    from jarvis_tui.configs.versions import VersionStore
    from jarvis_tui.core.fmt import plural
    from jarvis_tui.learning.outcomes import (
        MIN_RATED,
        compare_versions,
        known_agents,
        thin_verdict,
        version_outcomes,
    )
    from jarvis_tui.traces import TraceStore

    ws = Workspace(resolve_home(args.ver_home or args.home))
    _require_traces(ws)
    versions = VersionStore(ws.agents_dir)
    store = TraceStore(ws.traces_db)
    try:
        known = known_agents(store, versions)
        if args.agent not in known:
            skipped = "".join(f"; skipped {n}: {why}" for n, why in versions.skipped_files()[:3])
            raise CommandError(
                f"no agent {args.agent!r} in {ws.root} (known: {', '.join(known)}){skipped}"
                if known
                else f"no agent {args.agent!r} in {ws.root}: it has no traces or agent "
                f"configs{skipped}"
            )
        out = version_outcomes(store, versions, args.agent, workspace=ws)
    finally:
        store.close()
    rows = ([out.prior] if out.prior else []) + out.versions
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    con = _console()
    _say(con, f"agent {args.agent} · {plural(len(out.versions), 'version')} · "
              f"{out.total_traces:,} traces")  # fmt: skip
    problem = versions.config_problem(args.agent)
    if problem is not None:
        _say(con, f"  ⚠ the current config cannot be used: {problem}")
    _say(con, f"  {'ver':<9} {'cause':<14} {'written (UTC)':<17} {'traces':>8} {'rated':>7}"
         f"  {'feedback (95%)':<18} {'success':>7} {'latency':>8} {'tokens':>7}  eval")  # fmt: skip
    for r in rows:
        written = (
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.written_at)) if r.written_at else "–"
        )
        fb = (
            f"{r.feedback.mean:.2f} ({r.feedback.low:.2f}–{r.feedback.high:.2f})"
            if r.rated
            else "–"
        )
        sr = "–" if r.success_rate is None else f"{r.success_rate:.0%}"
        lat = "–" if r.mean_latency_seconds is None else f"{r.mean_latency_seconds:.2f} s"
        tok = "–" if r.mean_tokens is None else f"{r.mean_tokens:,.0f}"
        ev = "–" if r.eval is None else f"{r.eval.accuracy:.3f}"
        mark = "*" if r.current else ("~" if r.approximate else " ")
        _say(con, f"{mark} {r.label:<9} {r.cause:<14} {written:<17} {r.traces:>8,} {r.rated:>7,}"
             f"  {fb:<18} {sr:>7} {lat:>8} {tok:>7}  {ev}")  # fmt: skip
    if any(r.approximate for r in rows):
        _say(con, "  ~ approximate start:")
        for r in rows:
            if r.approximate:
                _say(con, f"    {r.label}: {r.why_approximate}")
    said: set[str] = set()
    for a, b in zip(out.versions, out.versions[1:], strict=False):
        cmp = compare_versions(a, b)
        if cmp.enough:
            _say(con, f"  {cmp.verdict}")
            continue
        # A version under the evidence minimum is said once, not in both of its pairs.
        for v in (a, b):
            if v.rated < MIN_RATED and v.label not in said:
                said.add(v.label)
                _say(con, f"  {thin_verdict(v)}")
    if out.series:
        _say(con, f"  feedback over time: {out.sparkline()}")
    return 0


def _cmd_export_labels(args: argparse.Namespace) -> int:
    from jarvis_tui.learning.export_labels import export_labels, format_of
    from jarvis_tui.traces import TraceStore

    ws = Workspace(resolve_home(args.el_home or args.home))
    args.el_format = args.el_format or format_of(args.path) or "jsonl"
    _require_traces(ws)
    store = TraceStore(ws.traces_db)
    try:
        n = export_labels(store, args.path, fmt=args.el_format, with_judge=args.with_judge,
                          workspace=ws.root)  # fmt: skip
    finally:
        store.close()
    from jarvis_tui.core.fmt import plural

    held = getattr(n, "held_out", 0)
    if args.el_format == "hf":  # splits train / test: the held-out pairs never trained on
        what = f"{plural(n, 'SFT pair')} ({n - held:,} train · {held:,} held out, split test)"
    else:
        what = f"{plural(n, 'labelled trace')} ({held:,} held out: split column)"
    _say(_console(), f"wrote {what} to {args.path} ({args.el_format})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from jarvis_tui.serve import serve_app

    return serve_app(
        resolve_home(args.serve_home or args.home), host=args.host, port=args.port,
        public_url=args.public_url, auth=not args.no_auth, max_sessions=args.max_sessions,
    )  # fmt: skip


# --------------------------------------------------------------------------- helpers


def _build_with_progress(console, build_demo, root: Path, traces: int, seed: int, force: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # a pipe or log gets no bar (nor its blank line)
    ) as bar:
        task = bar.add_task("Building demo traces", total=traces)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        build_demo(root, traces=traces, seed=seed, progress=progress, force=force)


def _open_app(home: Path) -> int:
    # No cyclic GC until the app's first rows are painted (issue 15): 146 collections,
    # one of them full, took ~50 ms of the first paint's CPU, over the modules, styles
    # and widgets made to start, which live as long as the app. The app collects the
    # young garbage once, freezes the rest and turns the GC back on
    # (JarvisApp._freeze_long_lived).
    gc.disable()
    try:
        # Imported here: the UI pulls in Textual, which headless commands never need.
        from jarvis_tui.ui.app import run_app

        status = int(run_app(home) or 0)
    finally:
        gc.enable()
    if status == 0 and not Workspace(home).traces_db.exists():
        # Printed once the app has given the screen back, where it stays to be read.
        _say(
            _console(stderr=True),
            f"{PROG}: {home} has no traces yet (OpenJarvis writes traces.db there as you use "
            f"it); to try the app on a demo workspace: {PROG} demo",
        )
    return status


def _describe(exc: BaseException) -> str:
    """One line saying what went wrong (OSError gets its path and reason)."""
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        if exc.filename is not None:
            text = f"{exc.filename}: {text}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


LINE_LIMIT = 2000
"""Characters of one printed line; data longer than this is cut with an ellipsis."""


def _require_traces(ws: Workspace) -> None:
    """Refuse a workspace whose traces.db is missing or is not a file, saying which."""
    from jarvis_tui.paths import trace_store_problem

    problem = trace_store_problem(ws.traces_db)
    if problem is not None:
        raise CommandError(problem)


def _known_agents(store, ws: Workspace) -> list[str]:
    """Agents with traces in *store* or a config in agents/, sorted."""
    names = {a for a in store.facets().get("agents", []) if a}
    if ws.agents_dir.is_dir():
        names |= {p.stem for p in ws.agents_dir.glob("*.toml") if p.is_file()}
    return sorted(names)


def _console(*, stderr: bool = False, quiet: bool = False):
    """A Rich console that never parses markup, emoji codes or highlights data."""
    from rich.console import Console

    return Console(stderr=stderr, quiet=quiet, highlight=False, markup=False, emoji=False)


def _line(text: object, style: str = ""):
    """One printed line as a Rich ``Text``: control characters visible, never markup."""
    from rich.text import Text

    from jarvis_tui.ui.text import plain

    return Text(plain(text, LINE_LIMIT), style=style)


def _say(console, text: object) -> None:
    """Print one line of *text* (which may hold data) on *console*, unwrapped."""
    console.print(_line(text), soft_wrap=True)


def _error(message: str) -> None:
    from jarvis_tui.ui.text import plain

    print(f"{PROG}: error: {plain(message, LINE_LIMIT)}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
