"""Property tests: toml_diff, the evolver's TOML round trip, and the command line.

* ``toml_diff`` on random TOML-able documents: a document against itself (or
  its TOML round trip) gives no change; applying the reported changes to *old*
  rebuilds *new* (lists diffed element by element compare as multisets, since
  an element change carries no position); every reported key really differs,
  keys equal on both sides never appear; diff(b, a) mirrors diff(a, b).
* ``AgentConfigEvolver.write_config`` with any valid tools, prompt,
  temperature and max_turns reads back equal (``read_version`` text through
  ``tomllib``, and ``load_version``).
* ``jarvis_tui.cli.main`` on random argument lists: it returns a status or
  exits with argparse's 0/2, never raises; a status of 1 comes with exactly one
  ``jarvis-tui: error:`` line and no traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jarvis_tui.learning.agent_evolver import AgentConfigEvolver, Change, toml_diff

# --------------------------------------------------------------------------- strategies

TRICKY = st.sampled_from(
    ['"', "'", "\\", "\n", "\r\n", "\t", '"""', "'''", "\x00", "\x1b[31m", "\x7f", "\u2028",
     "ü", "数据", "🙂", "[agent]", "a = 1", "#", "=", ".", " ", "\\u0041", "\ufeff"]
)  # fmt: skip
TEXT = st.one_of(st.text(max_size=20), st.lists(TRICKY, max_size=6).map("".join))
KEY = st.one_of(
    st.from_regex(r"[A-Za-z0-9_\-]{1,8}", fullmatch=True),  # bare TOML keys
    TEXT,  # anything else is quoted (dots, quotes, spaces, unicode, "")
)
INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOAT = st.floats(allow_nan=False, allow_infinity=False)
SCALAR = st.one_of(TEXT, INT, FLOAT, st.booleans())


def _tables(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.dictionaries(KEY, children, max_size=5)


VALUE = st.recursive(
    st.one_of(SCALAR, st.lists(SCALAR, max_size=5)),
    lambda inner: st.one_of(
        _tables(inner),
        st.lists(_tables(inner), min_size=1, max_size=2),  # arrays of tables
    ),
    max_leaves=10,
)
DOC = st.dictionaries(KEY, VALUE, max_size=6)


@st.composite
def _mutated(draw: st.DrawFn, doc: dict) -> dict:
    """*doc* with some keys kept, changed, removed and added (nested tables recurse)."""
    out: dict = {}
    for k, v in doc.items():
        action = draw(st.sampled_from(["keep", "keep", "change", "drop", "recurse", "list"]))
        if action == "keep":
            out[k] = copy.deepcopy(v)
        elif action == "change":
            out[k] = draw(VALUE)
        elif action == "recurse" and isinstance(v, dict):
            out[k] = draw(_mutated(v))
        elif action == "list" and isinstance(v, list) and all(map(_scalar, v)):
            kept = [x for x in v if draw(st.booleans())]
            out[k] = draw(st.permutations(kept + draw(st.lists(SCALAR, max_size=3))))
        elif action != "drop":
            out[k] = copy.deepcopy(v)
    for k, v in draw(st.dictionaries(KEY, VALUE, max_size=3)).items():
        out.setdefault(k, v)
    return out


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[dict, dict]:
    old = draw(DOC)
    new = draw(st.one_of(_mutated(old), DOC))
    return old, new


# --------------------------------------------------------------------------- helpers


def _scalar(v: Any) -> bool:
    return not isinstance(v, (dict, list))


def _typed(v: Any) -> Any:
    """A canonical form that keeps 1, 1.0 and true apart (as TOML does) and -0.0 from 0.0."""
    if isinstance(v, dict):
        return {k: _typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_typed(x) for x in v]
    return (type(v).__name__, repr(v))


def _split_key(key: str) -> tuple[str, ...]:
    """Inverse of the evolver's dotted keys: bare parts, or JSON-quoted ones, joined by '.'."""
    parts: list[str] = []
    i = 0
    decoder = json.JSONDecoder()
    while True:
        if key.startswith('"', i):
            part, i = decoder.raw_decode(key, i)
        else:
            j = key.find(".", i)
            j = len(key) if j < 0 else j
            part, i = key[i:j], j
            assert part, f"empty bare part in {key!r}"
        parts.append(part)
        if i == len(key):
            return tuple(parts)
        assert key[i] == ".", f"junk after a part in {key!r}"
        i += 1


def _get(doc: dict, path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _apply(old: dict, changes: list[Change]) -> tuple[dict, set[tuple[str, ...]]]:
    """*old* with *changes* applied; also the paths of lists changed element by element."""
    doc = copy.deepcopy(old)
    element_paths: set[tuple[str, ...]] = set()
    for c in changes:
        path = _split_key(c.key)
        found, parent = _get(doc, path[:-1])
        assert found and isinstance(parent, dict), c
        last = path[-1]
        if c.element:
            element_paths.add(path)
            lst = parent[last]
            assert isinstance(lst, list), c
            if c.kind == "removed":
                hits = [i for i, x in enumerate(lst) if _typed(x) == _typed(c.old)]
                assert hits, f"{c} removes an element that is not there"
                del lst[hits[0]]
            else:
                assert c.kind == "added", c
                lst.append(copy.deepcopy(c.new))
        elif c.kind == "added":
            assert last not in parent, c
            parent[last] = copy.deepcopy(c.new)
        elif c.kind == "removed":
            assert last in parent and _typed(parent[last]) == _typed(c.old), c
            del parent[last]
        else:
            assert c.kind == "changed", c
            assert last in parent and _typed(parent[last]) == _typed(c.old), c
            assert _typed(c.old) != _typed(c.new), f"{c} changes nothing"
            parent[last] = copy.deepcopy(c.new)
    return doc, element_paths


def _as_multisets(doc: dict, paths: set[tuple[str, ...]]) -> Any:
    out = _typed(doc)
    for path in paths:
        found, parent = _get(out, path[:-1])
        if found and isinstance(parent, dict) and isinstance(parent.get(path[-1]), list):
            parent[path[-1]] = sorted(parent[path[-1]], key=repr)
    return out


def _leaves(doc: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            out.extend(_leaves(v, (*prefix, k)))
        else:
            out.append(((*prefix, k), v))
    return out


def _mirror(c: Change) -> tuple:
    kind = {"added": "removed", "removed": "added"}.get(c.kind, c.kind)
    return (c.key, kind, repr(_typed(c.new)), repr(_typed(c.old)), c.element)


def _plain(c: Change) -> tuple:
    return (c.key, c.kind, repr(_typed(c.old)), repr(_typed(c.new)), c.element)


SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
# 75 examples each: the four properties draw from one generator (300 documents or pairs
# in all), and a draw is slow (~50 ms: nested tables of tricky keys); 150 each cost ~30 s.
DIFF_SETTINGS = settings(max_examples=75, deadline=None, suppress_health_check=SLOW_OK)

# --------------------------------------------------------------------------- toml_diff


@DIFF_SETTINGS
@given(DOC)
def test_a_document_against_itself_has_no_changes(doc: dict) -> None:
    assert toml_diff(doc, doc) == []
    assert toml_diff(doc, copy.deepcopy(doc)) == []
    # And against its own TOML round trip: tomli_w writes what tomllib reads back.
    back = tomllib.loads(tomli_w.dumps(doc))
    assert _typed(back) == _typed(doc)
    assert toml_diff(doc, back) == [] and toml_diff(back, doc) == []


@DIFF_SETTINGS
@given(_pairs())
def test_applying_the_changes_to_old_gives_new(pair: tuple[dict, dict]) -> None:
    old, new = pair
    changes = toml_diff(old, new)
    assert all(isinstance(c, Change) and c.kind in ("added", "removed", "changed")
               for c in changes)  # fmt: skip
    rebuilt, element_paths = _apply(old, changes)
    assert _as_multisets(rebuilt, element_paths) == _as_multisets(new, element_paths)
    assert bool(changes) == (_typed(old) != _typed(new))
    assert all(str(c) for c in changes)  # every change renders


@DIFF_SETTINGS
@given(_pairs())
def test_reported_keys_differ_and_equal_keys_never_appear(pair: tuple[dict, dict]) -> None:
    old, new = pair
    changes = toml_diff(old, new)
    paths = [_split_key(c.key) for c in changes]
    for c, path in zip(changes, paths, strict=True):
        in_old, a = _get(old, path)
        in_new, b = _get(new, path)
        if c.element:
            assert in_old and in_new and isinstance(a, list) and isinstance(b, list)
            count_a = Counter(repr(_typed(x)) for x in a)
            count_b = Counter(repr(_typed(x)) for x in b)
            x = c.old if c.kind == "removed" else c.new
            more, fewer = (count_a, count_b) if c.kind == "removed" else (count_b, count_a)
            assert more[repr(_typed(x))] > fewer[repr(_typed(x))], c
        elif c.kind == "added":
            assert in_new and not in_old, c
        elif c.kind == "removed":
            assert in_old and not in_new, c
        else:
            assert in_old and in_new and _typed(a) != _typed(b), c
    for path, value in _leaves(old):
        found, other = _get(new, path)
        if found and _typed(other) == _typed(value):
            assert not any(p[: len(path)] == path for p in paths), (path, changes)


@DIFF_SETTINGS
@given(_pairs())
def test_the_reverse_diff_mirrors_the_diff(pair: tuple[dict, dict]) -> None:
    old, new = pair
    forward = toml_diff(old, new)
    backward = toml_diff(new, old)
    assert {c.key for c in forward} == {c.key for c in backward}
    assert Counter(map(_plain, forward)) == Counter(map(_mirror, backward))


def test_toml_diff_refuses_what_is_not_a_table() -> None:
    for bad in ([], "x", None, 1):
        with pytest.raises(TypeError):
            toml_diff(bad, {})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            toml_diff({}, bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- evolver round trip


class _NoTraces:
    def iter_traces(self):
        return iter(())


PROMPT = st.one_of(st.text(max_size=200), st.lists(TRICKY, max_size=12).map("".join))
TOOL = st.one_of(st.text(min_size=1, max_size=20), TRICKY)
CONFIG = st.fixed_dictionaries(
    {
        "tools": st.lists(TOOL, max_size=6),
        "max_turns": st.integers(min_value=1, max_value=1_000_000),
        "temperature": st.one_of(
            st.floats(min_value=0.0, max_value=2.0), st.integers(0, 2), st.just(-0.0)
        ),
        "system_prompt": PROMPT,
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_OK)
@given(
    name=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,20}", fullmatch=True),
    configs=st.lists(CONFIG, min_size=1, max_size=3),
)
def test_written_configs_read_back_equal(name: str, configs: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ev = AgentConfigEvolver(_NoTraces(), config_dir=Path(tmp) / "agents")
        expected = []
        for cfg in configs:
            path = ev.write_config(name, **cfg)
            data = {
                "agent": {
                    "name": name,
                    "tools": list(cfg["tools"]),
                    "max_turns": cfg["max_turns"],
                    "temperature": float(cfg["temperature"]),
                    "system_prompt": cfg["system_prompt"],
                }
            }
            expected.append(data)
            assert _typed(tomllib.loads(path.read_text(encoding="utf-8"))) == _typed(data)
        versions = ev.list_versions(name)
        assert len(versions) == len(configs)
        for number, data in enumerate(expected, 1):
            assert _typed(tomllib.loads(ev.read_version(name, number))) == _typed(data)
            assert _typed(ev.load_version(name, number)) == _typed(data)
        for number in range(1, len(expected)):
            a, b = ev.load_version(name, number), ev.load_version(name, number + 1)
            assert toml_diff(a, b) == toml_diff(expected[number - 1], expected[number])


# --------------------------------------------------------------------------- command line

SUBCOMMANDS = ["demo", "learn", "train", "optimize", "export-best"]
FLAGS = ["--traces", "--seed", "--trials", "--patience", "--bound", "--epochs", "--lr",
         "--min-quality", "--max-pairs", "--batch-size", "--eval-split", "--rank", "--alpha",
         "--max-length", "--agent", "--resume", "--model", "--device", "--force", "--no-open",
         "--json", "--home", "--version", "-h", "--help", "--nope", "-x", "--"]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "0", "-0", "1", "2", "-1", "1e999", "-1e999", "nan", "NaN",
                     "inf", "-inf", "1_000", "0x10", "1.5", "0.7", "1e-3", "9" * 5000, "١٢",
                     "latency <= 2s", "cost<=0.01", "accuracy >= 0.8", "latency <= 1e999ms",
                     "energy < 5j", "tokens <= 1%", "cpu", "mps", "auto"]),
)  # fmt: skip
JUNK = st.text(max_size=12).filter(
    # Never an absolute path, a parent directory or a subcommand this test does not cover.
    lambda s: not s.startswith("/") and ".." not in s and s not in ("serve",)
)


def _safe_home_tokens(base: Path) -> list[str]:
    missing = base / "missing" / "deeper"
    a_file = base / "a-file.txt"
    return [str(base / "empty-home"), str(missing), str(a_file), str(a_file / "under"),
            "", ".", "~", "~/ws", "~nosuchuser_zz9", "~nosuchuser_zz9/ws", "rel/ws"]  # fmt: skip


TOKEN = st.one_of(
    st.sampled_from(SUBCOMMANDS),
    st.sampled_from(FLAGS),
    NUMBERS,
    JUNK,
    st.just("@HOME@"),
    st.sampled_from(["--home=@HOME@", "--traces=5", "--seed=-3", "--lr=nan", "--bound="]),
)
# Per command, the flags that take a value and the switches: well-formed command
# lines (with random values) reach the command bodies, not only argparse.
COMMANDS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "demo": (["--traces", "--seed"], ["--force", "--no-open"], ["@HOME@/demo", "d", "@HOME@"]),
    "learn": (["--home", "--agent", "--min-quality"], ["--json"], []),
    "train": (["--home", "--epochs", "--lr", "--min-quality", "--max-pairs", "--batch-size",
               "--eval-split", "--rank", "--alpha", "--max-length", "--model", "--device"],
              ["--json"], []),
    "optimize": (["--home", "--trials", "--patience", "--bound", "--seed", "--resume",
                  "--model"], ["--json"], []),
    "export-best": (["--home"], [], ["r1", "@HOME@/best.toml"]),
}  # fmt: skip
VALUE_TOKEN = st.one_of(NUMBERS, JUNK, st.just("@HOME@"), st.just("@HOME@/sub"))


@st.composite
def _command_line(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    options, switches, positionals = COMMANDS[name]
    argv = [name, *positionals[: draw(st.integers(0, len(positionals)))]]
    for _ in range(draw(st.integers(0, 4))):
        if switches and draw(st.booleans()):
            argv.append(draw(st.sampled_from(switches)))
        else:
            argv += [draw(st.sampled_from(options)), draw(VALUE_TOKEN)]
    if draw(st.integers(0, 4)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(TOKEN))
    return argv


ARGV = st.one_of(st.lists(TOKEN, max_size=8), _command_line())


def _with_home(token: str, home: str) -> str:
    """``@HOME@`` and ``@HOME@/name`` as paths under *home* (an empty home stays relative)."""
    head, sep, tail = token.partition("@HOME@")
    if not sep:
        return token
    rest = tail.lstrip("/")
    return head + (os.path.join(home, rest) if rest else home)


def _fake_build_demo(root, *, traces=20_000, seed=7, progress=None, force=False, optimize=True):
    """build_demo's argument checks and files, without generating traces (fast)."""
    from jarvis_tui.paths import Workspace, ensure_dir, secure_touch

    if isinstance(traces, bool) or not isinstance(traces, int) or traces <= 0:
        raise ValueError(f"traces must be a positive integer, got {traces!r}")
    target = Path(root).expanduser().resolve()
    # The test runs each command line in a temp dir (the cwd); refuse before writing elsewhere.
    assert target.is_relative_to(Path.cwd().resolve()), f"would write outside the test: {target}"
    ws = Workspace(ensure_dir(Path(root).expanduser()))
    if ws.traces_db.exists() and not force:
        raise FileExistsError(f"{ws.traces_db} already exists (use force=True to replace it)")
    secure_touch(ws.traces_db)
    if progress:
        progress(traces, traces)
    return ws.root


@pytest.fixture
def isolated_cli(monkeypatch: pytest.MonkeyPatch):
    """The app never opens and demos are instant (the test body points HOME at a temp dir)."""
    import jarvis_tui.cli as cli
    import jarvis_tui.demo as demo

    opened: list[Path] = []

    def fake_open(home: Path) -> int:
        opened.append(Path(home).resolve())  # relative to the cwd of the call
        return 0

    monkeypatch.setattr(cli, "_open_app", fake_open)
    monkeypatch.setattr(demo, "build_demo", _fake_build_demo)
    for name in ("JARVIS_TUI_HOME", "JARVIS_TUI_OPTIMIZER_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return cli, opened


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, *SLOW_OK],
)
@given(argv=ARGV, home_pick=st.integers(min_value=0, max_value=10))
def test_cli_never_raises_and_errors_are_one_line(isolated_cli, argv, home_pick) -> None:
    cli, opened = isolated_cli
    opened.clear()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "empty-home").mkdir()
        (base / "a-file.txt").write_text("not a workspace")
        homes = _safe_home_tokens(base)
        home = homes[home_pick % len(homes)]
        argv = [_with_home(t, home) for t in argv]
        # A bare subcommand-less app open must not look at the real ~/.openjarvis.
        argv = ["--home", str(base / "empty-home"), *argv]
        err, out = io.StringIO(), io.StringIO()
        old_cwd, old_home = os.getcwd(), os.environ.get("HOME")
        os.environ["HOME"] = str(base / "fake-user-home")
        try:
            os.chdir(base)  # demo's default DIR and relative paths land in the temp dir
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    rc = cli.main(argv)
                except SystemExit as exc:
                    rc = None
                    assert exc.code in (0, 1), (argv, exc.code, err.getvalue())  # 1: every error
                    event(f"exit {exc.code}")
                else:
                    event(f"returned {rc}")
        finally:
            os.chdir(old_cwd)
            if old_home is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = old_home
        text = err.getvalue()
        assert "Traceback" not in text, (argv, text)
        if rc is not None:
            assert isinstance(rc, int) and not isinstance(rc, bool), (argv, rc)
            assert rc in (0, 1), (argv, rc, text)
        if rc == 1:
            lines = text.splitlines()
            assert len(lines) == 1 and text.endswith("\n"), (argv, text)
            assert lines[0].startswith("jarvis-tui: error: "), (argv, text)
        # Nothing was written outside the temp dir: every opened home is inside it.
        for h in opened:
            assert h.is_relative_to(base.resolve()), (argv, h)
        opened.clear()


@pytest.mark.parametrize(
    "argv",
    [
        ["--home", "~nosuchuser_zz9"],
        ["learn", "--home", "~nosuchuser_zz9"],
        ["train", "--home", "~nosuchuser_zz9/ws"],
        ["optimize", "--home", "~nosuchuser_zz9"],
        ["export-best", "r1", "best.toml", "--home", "~nosuchuser_zz9"],
        ["demo", "~nosuchuser_zz9/demo", "--no-open", "--traces", "5"],
    ],
)
def test_a_home_of_an_unknown_user_is_a_one_line_error(isolated_cli, argv, tmp_path) -> None:
    """``~name`` for a user that does not exist: pathlib raises RuntimeError on expansion."""
    cli, opened = isolated_cli
    err = io.StringIO()
    with contextlib.chdir(tmp_path), contextlib.redirect_stderr(err):
        assert cli.main(argv) == 1
    assert err.getvalue().startswith("jarvis-tui: error: ")
    assert len(err.getvalue().splitlines()) == 1 and "Traceback" not in err.getvalue()
    assert "~nosuchuser_zz9" in err.getvalue()
    assert opened == []


def test_a_demo_failure_under_the_progress_bar_is_one_line(isolated_cli, tmp_path) -> None:
    """Rich's progress bar wrote a blank line to a non-terminal stderr before the error."""
    cli, _ = isolated_cli
    (tmp_path / "a-file").write_text("x")
    err = io.StringIO()
    with contextlib.chdir(tmp_path), contextlib.redirect_stderr(err):
        assert cli.main(["demo", str(tmp_path / "a-file" / "under"), "--no-open"]) == 1
    assert err.getvalue().startswith("jarvis-tui: error: ")
    assert len(err.getvalue().splitlines()) == 1


def test_a_train_failure_under_the_progress_bar_is_one_line(tmp_path: Path) -> None:
    for module in ("torch", "transformers", "peft"):
        pytest.importorskip(module)
    from jarvis_tui.cli import main
    from jarvis_tui.core.types import Trace
    from jarvis_tui.traces import TraceStore

    home = tmp_path / "ws"
    with TraceStore(home / "traces.db") as store:
        store.save_many(
            Trace(trace_id=f"p{i}", query=f"what is {i} plus {i}?", result=f"It is {2 * i}.",
                  feedback=0.9, started_at=float(i))
            for i in range(6)
        )  # fmt: skip
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        # A folder that is not a model: the trainer refuses it inside the progress bar.
        assert main(["train", "--home", str(home), "--model", str(tmp_path)]) == 1
    assert err.getvalue().startswith("jarvis-tui: error: ")
    assert len(err.getvalue().splitlines()) == 1, err.getvalue()
    assert "not a Hugging Face model folder" in err.getvalue()


@settings(max_examples=100, deadline=None)
@given(st.lists(KEY, min_size=1, max_size=4))
def test_dotted_keys_name_the_path(keys: list[str]) -> None:
    """The helper that reads the evolver's dotted keys back is itself right."""

    def nested(leaf: dict) -> dict:
        for k in reversed(keys[:-1]):
            leaf = {k: leaf}
        return leaf

    (change,) = toml_diff(nested({}), nested({keys[-1]: 1}))
    assert change.kind == "added" and _split_key(change.key) == tuple(keys)
