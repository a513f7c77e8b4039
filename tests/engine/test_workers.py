"""Trials evaluated by several worker processes through Optuna's shared storage.

``jarvis-tui optimize --workers N`` starts N ``optimize-worker`` processes against one
run; every trial is claimed by exactly one of them, the coordinator mirrors each finished
trial into optimize.db with its worker, a worker killed mid-trial leaves its trial failed
and the run completes. Measured trials go to a local chat server whose answers the tests
hold behind a gate, so "mid-trial" is a state the test waits for, never a sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.evals.local_server import ChatServer
from jarvis_tui.learning.optimize import OptimizationStore
from jarvis_tui.learning.optimize.types import DEFAULT_OBJECTIVES
from jarvis_tui.learning.optimize.workers import (
    JOURNAL_FILE,
    Liveness,
    SharedRun,
    StudyDispatcher,
    open_storage,
)

DEADLINE_S = 120.0
FAST = ["--heartbeat", "0.5", "--grace", "2"]


@pytest.fixture(scope="module")
def template(demo_template) -> Path:
    """The run's one demo of these arguments (tests/conftest.py; never written to)."""
    return demo_template(traces=1500, seed=4, optimize=False)


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(template, dst)
    return dst


class Gate:
    """A chat server whose answers wait until the test opens the gate."""

    def __init__(self, *, open_: bool = True, delay: float = 0.0) -> None:
        self.event = threading.Event()
        if open_:
            self.event.set()
        self.queries: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.server = ChatServer({"*": (self._answer, delay)})

    def _answer(self, user: str, system: str) -> str:
        with self._lock:
            self.queries[user] += 1
        self.event.wait(DEADLINE_S)
        return "an answer"

    def __enter__(self) -> Gate:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.event.set()
        self.server.__exit__(*exc)


def wait_for(what: str, check: Callable[[], object], deadline: float = DEADLINE_S):
    """Poll *check* until it returns something truthy; fail after *deadline* seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)  # polling interval, not a synchronisation
    pytest.fail(f"timed out waiting for {what}")


def journal(home: Path) -> Path:
    return home / JOURNAL_FILE


def config_trials(url: str, run_id: str) -> list:
    run = SharedRun(open_storage(url), run_id, url)
    return [t for t in run.trials() if t.user_attrs.get("jt_kind") == "config"]


def cli(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jarvis_tui", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def only_run_id(url: str) -> str | None:
    storage = open_storage(url)
    names = [s.study_name for s in storage.get_all_studies()]
    return names[0].removeprefix("jarvis-tui-") if names else None


def measured(server_url: str, samples: int = 3) -> list[str]:
    return ["--evaluate", "measured", "--eval-backend", server_url, "--samples", str(samples),
            "--concurrency", "1"]  # fmt: skip


# --------------------------------------------------------------------------- every trial once


def test_each_trial_is_evaluated_once_by_one_worker_and_recorded(home, capsys) -> None:
    with Gate(delay=0.05) as gate:
        argv = ["optimize", "--home", str(home), "--trials", "8", "--patience", "100",
                "--seed", "3", "--workers", "3", "--json", *FAST,
                *measured(gate.server.url, samples=3)]  # fmt: skip
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        requests = sum(gate.queries.values())
    run_id = out["run_id"]
    assert out["status"] == "completed"
    with OptimizationStore(home / "optimize.db") as store:
        trials = store.get_trials(run_id)
        meta = store.get_trial_meta(run_id)
    ids = [t.trial_id for t in trials]
    assert len(ids) == 8 and len(set(ids)) == 8
    # In the shared study: 8 config trials, each completed once, by the worker optimize.db names.
    shared = config_trials(str(journal(home)), run_id)
    assert sorted(t.state.name for t in shared) == ["COMPLETE"] * 8
    by_id = {t.user_attrs["jt_config"]["trial_id"]: t.user_attrs["jt_worker"] for t in shared}
    assert set(by_id) == set(ids)
    for tid in ids:
        assert meta[tid]["worker"] == by_id[tid]
        assert meta[tid]["worker"] in {"w1", "w2", "w3"}
        assert meta[tid]["scoring"] == "measured"
    # None evaluated twice: the server answered each trial's samples exactly once.
    assert requests == 8 * 3
    # No exact repeat of a config among the trials (proposals ahead see what is in flight).
    keys = [json.dumps(t.config.params, sort_keys=True) for t in trials]
    assert len(set(keys)) == len(keys)


def test_worker_killed_mid_trial_fails_that_trial_and_the_run_completes(home) -> None:
    with Gate(open_=False) as gate:
        url = str(journal(home))
        proc = cli("optimize", "--home", str(home), "--trials", "4", "--patience", "100",
                   "--seed", "1", "--workers", "2", "--json", *FAST,
                   *measured(gate.server.url, samples=2))  # fmt: skip
        try:
            run_id = wait_for(
                "the run's study", lambda: journal(home).exists() and only_run_id(url)
            )

            def both_running():
                running = [t for t in config_trials(url, run_id) if t.state.name == "RUNNING"]
                workers = {t.user_attrs.get("jt_worker") for t in running}
                return running if workers == {"w1", "w2"} else None

            running = wait_for("both workers mid-trial", both_running)
            victim = next(t for t in running if t.user_attrs["jt_worker"] == "w1")
            pid = SharedRun(open_storage(url), run_id, url).workers()["w1"]["pid"]
            os.kill(pid, signal.SIGKILL)
            gate.event.set()
            out, err = proc.communicate(timeout=DEADLINE_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert doc["status"] == "completed"
    killed = victim.user_attrs["jt_config"]["trial_id"]
    with OptimizationStore(home / "optimize.db") as store:
        trials = store.get_trials(run_id)
        meta = store.get_trial_meta(run_id)
    assert meta[killed]["status"] == "failed"
    assert meta[killed]["worker"] == "w1"
    assert "no heartbeat" in meta[killed]["error"]
    assert killed not in {t.trial_id for t in trials}
    assert len(trials) == 3  # the budget of 4: one failed, three evaluated by the survivor
    assert {meta[t.trial_id]["worker"] for t in trials} <= {"w1", "w2"}
    states = Counter(t.state.name for t in config_trials(url, run_id))
    assert states == {"COMPLETE": 3, "FAIL": 1}


def test_a_worker_whose_backend_fails_fails_its_trials_and_others_go_on(home) -> None:
    with Gate(open_=False) as gate:
        url = str(journal(home))
        proc = cli("optimize", "--home", str(home), "--trials", "6", "--patience", "100",
                   "--seed", "2", "--workers", "1", "--json", *FAST,
                   *measured(gate.server.url, samples=2))  # fmt: skip
        try:
            run_id = wait_for(
                "the run's study", lambda: journal(home).exists() and only_run_id(url)
            )
            with socket.socket() as s:  # a port nobody listens on
                s.bind(("127.0.0.1", 0))
                dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
            bad = cli("optimize-worker", "--run", run_id, "--storage", url, "--home", str(home),
                      "--worker-id", "bad", *measured(dead, samples=2)[2:])  # fmt: skip
            _bad_out, bad_err = bad.communicate(timeout=DEADLINE_S)
            gate.event.set()
            out, err = proc.communicate(timeout=DEADLINE_S)
        finally:
            for p in (proc,):
                if p.poll() is None:
                    p.kill()
                    p.communicate()
    assert bad.returncode == 1
    last = bad_err.strip().splitlines()[-1]
    assert last.startswith("jarvis-tui: error: worker bad leaves run")
    assert proc.returncode == 0, err
    with OptimizationStore(home / "optimize.db") as store:
        trials = store.get_trials(run_id)
        meta = store.get_trial_meta(run_id)
    failed = {tid: m for tid, m in meta.items() if m.get("status") == "failed"}
    assert len(failed) == 3
    for m in failed.values():
        assert m["worker"] == "bad"
        assert "worker bad:" in m["error"] and "127.0.0.1" in m["error"]
    assert len(trials) == 3
    assert {meta[t.trial_id]["worker"] for t in trials} == {"w1"}


# --------------------------------------------------------------------------- bad input


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("jarvis-tui: error: ")
    return err[0]


@pytest.mark.parametrize(
    ("storage", "says"),
    [
        ("nosuch://host/db", "unknown storage"),
        ("postgresql://nobody@127.0.0.1:1/nodb", "postgresql"),
    ],
)
def test_a_wrong_or_unreachable_storage_is_one_line_and_nothing_starts(
    home, capsys, storage, says
) -> None:
    argv = ["optimize", "--home", str(home), "--trials", "2", "--storage", storage]
    assert main(argv) == 1
    line = _one_error_line(capsys)
    assert says in line
    assert not (home / "optimize.db").exists()
    assert not (home / "optimize-workers").exists()


def test_a_journal_through_a_symlink_is_refused(home, tmp_path, capsys) -> None:
    target = tmp_path / "elsewhere.journal"
    target.write_text("")
    link = home / "linked.journal"
    link.symlink_to(target)
    assert main(["optimize", "--home", str(home), "--storage", str(link)]) == 1
    assert "symbolic link" in _one_error_line(capsys)
    assert target.read_text() == ""


def test_a_worker_joining_a_run_that_does_not_exist(home, capsys) -> None:
    url = str(journal(home))
    argv = ["optimize-worker", "--run", "nosuchrun", "--storage", url, "--home", str(home)]
    assert main(argv) == 1
    assert "no run 'nosuchrun'" in _one_error_line(capsys)


def test_a_second_coordinator_on_one_run_refuses(home, capsys) -> None:
    url = str(journal(home))
    argv = ["optimize", "--home", str(home), "--trials", "1", "--workers", "1", "--json"]
    assert main(argv) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    first = StudyDispatcher(url, liveness=Liveness(0.5, 2))
    first.begin(run_id, DEFAULT_OBJECTIVES, known=set())
    try:
        resume = ["optimize", "--home", str(home), "--trials", "3", "--resume", run_id,
                  "--workers", "1", "--storage", url]  # fmt: skip
        assert main(resume) == 1
        line = _one_error_line(capsys)
        assert f"run {run_id} already has a coordinator" in line
        with OptimizationStore(home / "optimize.db") as store:
            assert len(store.get_trials(run_id)) == 1  # nothing was evaluated
    finally:
        first.close("stopped", "test over")
    # Once the first one has gone, the run can be resumed.
    assert main(resume + ["--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["trials"]) == 3


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).is_file():
            return str(d / name)
    return None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL: $JARVIS_TUI_TEST_PG_URL, else a throwaway server started here."""
    env = os.environ.get("JARVIS_TUI_TEST_PG_URL")
    if env:
        yield env
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL test skipped: the psycopg driver is not installed")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip(
            "PostgreSQL test skipped: no server binaries (Debian: apt-get install postgresql)"
        )
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            runuser = None
        if not runuser:
            pytest.skip("PostgreSQL test skipped: running as root without a 'postgres' user")
        as_user = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="jt-pg-"))
    os.chmod(root, 0o755)
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        init = subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres",
                               "--auth=trust", "-E", "UTF8"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if init.returncode != 0:
            pytest.skip(f"PostgreSQL test skipped: initdb failed: {init.stderr.strip()[-200:]}")
        opts = f"-k {sock} -p {port} -c listen_addresses=''"
        start = subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-w", "-t", "60",
                                "-l", str(root / "log"), "start"],
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        if start.returncode != 0:
            pytest.skip(f"PostgreSQL test skipped: the server did not start: {start.stderr[-200:]}")
        try:
            yield f"postgresql+psycopg://postgres@/postgres?host={sock}&port={port}"
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_postgresql_backed_run(home, postgres_url, capsys) -> None:
    argv = ["optimize", "--home", str(home), "--trials", "5", "--patience", "100", "--seed", "4",
            "--workers", "2", "--storage", postgres_url, "--json", "--heartbeat", "1",
            "--grace", "3"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed"
    with OptimizationStore(home / "optimize.db") as store:
        trials = store.get_trials(out["run_id"])
        meta = store.get_trial_meta(out["run_id"])
    assert len(trials) == 5
    shared = config_trials(postgres_url, out["run_id"])
    assert sorted(t.state.name for t in shared) == ["COMPLETE"] * 5
    by_id = {t.user_attrs["jt_config"]["trial_id"]: t.user_attrs["jt_worker"] for t in shared}
    assert {t.trial_id: meta[t.trial_id]["worker"] for t in trials} == by_id
    assert not journal(home).exists()  # the run's study lives in PostgreSQL only


# --------------------------------------------------------------------------- steering


def test_review_gate_holds_every_proposal_before_any_worker_sees_it(home) -> None:
    """Engine level: a worker joins from a thread; in review mode nothing reaches the
    storage until accepted, a rejected proposal never does, and queued configs go first."""
    from jarvis_tui.learning.optimize.optimizer import RunControl
    from jarvis_tui.learning.optimize.session import open_session
    from jarvis_tui.learning.optimize.workers import run_worker
    from jarvis_tui.paths import Workspace

    session = open_session(Workspace(home), max_trials=4, patience=100, seed=5)
    url = str(journal(home))
    dispatcher = StudyDispatcher(url, liveness=Liveness(0.5, 2))
    control = RunControl(review=True)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    seen_at_review: list[list[str]] = []
    rejected: list[str] = []
    decisions = iter(["reject", "accept", "accept", "accept", "accept", "accept"])

    def on_event(ev) -> None:
        if ev.kind == "started":
            t = threading.Thread(
                target=run_worker,
                args=(url, ev.run.run_id, lambda info: session.engine.trial_runner),
                kwargs={"worker_id": "thread", "stop": stop},
                daemon=True,
            )
            t.start()
            threads.append(t)
            control.enqueue(dict(ev.run.search_space.fixed) | _first_config(session.space))
        elif ev.kind == "review":
            in_storage = [
                t.user_attrs["jt_config"]["trial_id"] for t in config_trials(url, ev.run.run_id)
            ]
            seen_at_review.append(in_storage)
            assert ev.config.trial_id not in in_storage
            if next(decisions) == "reject":
                rejected.append(ev.config.trial_id)
                control.reject("too slow for this test")
            else:
                control.accept()

    try:
        run = session.engine.run(control=control, on_event=on_event, dispatcher=dispatcher)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        session.close()
    assert run.status == "completed"
    shared = config_trials(url, run.run_id)
    stored = [t.user_attrs["jt_config"]["trial_id"] for t in shared]
    assert rejected and not set(rejected) & set(stored)
    assert len(stored) == 4 and [t.state.name for t in shared] == ["COMPLETE"] * 4
    assert shared[0].user_attrs["jt_source"] == "queued"  # the queued config went first
    with OptimizationStore(home / "optimize.db") as store:
        meta = store.get_trial_meta(run.run_id)
    assert {meta[i]["worker"] for i in stored} == {"thread"}


class CountingStop(threading.Event):
    """A worker's stop event that counts its waits: each one is a look at the run's
    state that ended in "not now" (paused, or nothing to claim)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


class GatedRunner:
    """The session's trial runner, whose trials wait until the test opens the gate."""

    def __init__(self, inner, gate: threading.Event) -> None:
        self.inner, self.gate = inner, gate

    def run_trial(self, config):
        self.gate.wait(DEADLINE_S)
        return self.inner.run_trial(config)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_pause_holds_every_worker_and_stop_ends_the_run_for_all(home) -> None:
    """Engine level: pause reaches the workers through the storage (a waiting trial is
    not claimed while paused, a running one finishes), resume lets them go on, and stop
    ends the run for every worker (the trial running finishes, waiting ones cancelled)."""
    from jarvis_tui.learning.optimize.optimizer import RunControl
    from jarvis_tui.learning.optimize.session import open_session
    from jarvis_tui.learning.optimize.workers import run_worker
    from jarvis_tui.paths import Workspace

    session = open_session(Workspace(home), max_trials=8, patience=100, seed=7)
    url = str(journal(home))
    dispatcher = StudyDispatcher(url, liveness=Liveness(0.5, 2))
    control = RunControl()
    gate = threading.Event()
    stop = CountingStop()
    runner = GatedRunner(session.engine.trial_runner, gate)
    run_ids: list[str] = []
    done: list[str] = []
    threads: list[threading.Thread] = []
    out: dict = {}

    def on_event(ev) -> None:
        if ev.kind == "started":
            run_ids.append(ev.run.run_id)
            # A second worker that joins and never claims: the run keeps two trials
            # enqueued or running, so one waits while worker "a" evaluates the other.
            SharedRun(dispatcher.storage, ev.run.run_id, url).register_worker("b")
            t = threading.Thread(target=run_worker, args=(url, ev.run.run_id, lambda _i: runner),
                                 kwargs={"worker_id": "a", "stop": stop}, daemon=True)  # fmt: skip
            t.start()
            threads.append(t)
        elif ev.kind == "trial_done":
            done.append(ev.result.trial_id)
            if len(done) == 3:
                control.stop()

    def go() -> None:
        out["run"] = session.engine.run(control=control, on_event=on_event, dispatcher=dispatcher)

    engine = threading.Thread(target=go, daemon=True)
    engine.start()

    def states() -> list[str]:
        return sorted(t.state.name for t in config_trials(url, run_ids[0])) if run_ids else []

    try:
        wait_for("one trial running, one waiting", lambda: states() == ["RUNNING", "WAITING"])
        control.pause()
        shared = SharedRun(open_storage(url), run_ids[0], url)
        wait_for("the paused state in the storage", lambda: shared.state()["state"] == "paused")
        gate.set()  # the running trial finishes although the run is paused
        wait_for("the running trial recorded", lambda: len(done) == 1)
        stop.waits = 0
        wait_for("worker a looking at the run three times", lambda: stop.waits >= 3)
        assert states() == ["COMPLETE", "WAITING"]  # nothing claimed while paused
        assert len(done) == 1
        control.resume()
        engine.join(DEADLINE_S)
        assert not engine.is_alive()
    finally:
        gate.set()
        control.stop()
        engine.join(DEADLINE_S)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        session.close()
    run = out["run"]
    assert run.status == "stopped"
    final = config_trials(url, run.run_id)
    assert "WAITING" not in {t.state.name for t in final}  # cancelled for every worker
    assert "RUNNING" not in {t.state.name for t in final}
    with OptimizationStore(home / "optimize.db") as store:
        stored = store.get_trials(run.run_id)
        meta = store.get_trial_meta(run.run_id)
    assert 3 <= len(stored) < 8  # stopped early; the trial running at the stop finished
    assert {meta[t.trial_id]["worker"] for t in stored} == {"a"}
    assert shared.state()["state"] == "ended"


def _first_config(space) -> dict:
    from jarvis_tui.learning.optimize.optimizer import default_config

    return default_config(space)


def test_the_storage_comes_from_optimize_toml_else_the_workspace_journal(tmp_path) -> None:
    from jarvis_tui.learning.optimize.workers import default_storage_url

    assert default_storage_url(tmp_path) == str(tmp_path / JOURNAL_FILE)
    (tmp_path / "optimize.toml").write_text('[optimize]\nstorage = "postgresql://u@db/j"\n')
    assert default_storage_url(tmp_path) == "postgresql://u@db/j"
    (tmp_path / "optimize.toml").write_text('[optimize]\nstorage = "runs.journal"\n')
    assert default_storage_url(tmp_path) == str(tmp_path / "runs.journal")
