"""A real browser: `jarvis-tui serve` in headless Chromium, driven by selenium.

The server runs as its own process on a free localhost port over a small demo
workspace; the page connects to it by itself (textual-serve shows its start button
only with ``?delay``). textual-serve draws the terminal with xterm.js's WebGL or
canvas renderer, so the DOM holds no text: a script injected before the page's own
catches the xterm.js ``Terminal`` as textual.js stores it and we read its buffer.
Waits are bounded polls, never fixed sleeps. Needs selenium and textual-serve (the
dev extra) and Debian's chromium and chromium-driver packages; skipped without them.

The page is opened with the token link the server prints; a page on another origin
(a tiny local http server on another port) cannot open the server's websocket, not
with the cookie the real page left in the browser, not even with the token.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "jarvis-tui"
TRACES = 500


def _first(*candidates: str | None) -> str | None:
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return None


CHROMEDRIVER = _first("/usr/bin/chromedriver", shutil.which("chromedriver"))
CHROMIUM = _first(
    *(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome"))
)

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("selenium") is None,
        reason="selenium is not installed (pip install -e '.[dev]')",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("textual_serve") is None,
        reason="textual-serve is not installed (pip install -e '.[dev]')",
    ),
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        CHROMEDRIVER is None,
        reason="chromedriver is not installed (apt-get install chromium-driver)",
    ),
]

CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--window-size=1280,900",
    # The page links a Google font: fail that at once, never touch the network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)

# textual.js does `this.terminal = new Terminal(...)` in its session's constructor and
# keeps it to itself: a setter on Object.prototype sees that assignment (and makes
# `terminal` a plain own property again, so nothing else changes).
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal",
      {value, writable: true, configurable: true, enumerable: true});
    if (value && typeof value.write === "function" && value.buffer) {
      window.__jtTerminal = value;
    }
  },
});
"""

READ_SCREEN = """
const term = window.__jtTerminal;
if (!term) { return null; }
const buf = term.buffer.active, lines = [];
for (let y = 0; y < buf.length; y++) {
  const line = buf.getLine(y);
  lines.push(line ? line.translateToString(true) : "");
}
return lines.join("\\n");
"""


def wait_until(check: Callable[[], object], timeout: float, what: Callable[[], str]) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what()}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A `jarvis-tui serve` process in its own process group."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log = home, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""  # the link it printed, with its token
        self.port = 0

    def start(self) -> None:
        # A free port can be taken between our probe and the server's bind: try again.
        for _ in range(3):
            port = _free_port()
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen(
                    [str(BIN), "serve", "--home", str(self.home), "--host", "127.0.0.1",
                     "--port", str(port)],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            self.port, link = port, re.compile(rf"http://127\.0\.0\.1:{port}/\?token=[\w-]+")
            found = wait_until(
                lambda link=link: self.proc.poll() is not None or link.search(self.output()),
                timeout=30,
                what=lambda: f"the server's token link; its output:\n{self.output()}",
            )
            if self.proc.poll() is None:
                self.url = found.group(0)  # type: ignore[union-attr]
                wait_until(
                    lambda: self.proc.poll() is not None or self._answers(),
                    timeout=30,
                    what=lambda: f"the server at {self.url}; its output:\n{self.output()}",
                )
            if self.proc.poll() is None:
                return
            if "in use" not in self.output():
                break
        raise AssertionError(f"the server did not start; its output:\n{self.output()}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def apps(self) -> list:
        """The app processes it runs, one per open page."""
        import psutil

        assert self.proc is not None
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server, then kill whatever is left of its process group."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:  # the apps it started (one per page), should any outlive it
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    home = tmp_path / "demo"
    subprocess.run(
        [str(BIN), "demo", str(home), "--traces", str(TRACES), "--no-open"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    server = Served(home, tmp_path / "serve.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.page_load_strategy = "eager"
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CATCH_TERMINAL})
        yield driver
    finally:
        driver.quit()


def test_the_app_in_a_browser(served: Served, browser) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    last = {"screen": ""}

    def screen() -> str:
        last["screen"] = browser.execute_script(READ_SCREEN) or ""
        return last["screen"]

    def showing(*texts: str) -> Callable[[], bool]:
        return lambda: all(t in screen() for t in texts)

    def what(text: str) -> Callable[[], str]:
        def describe() -> str:
            body = browser.execute_script("return document.body.className")
            return (
                f"{text!r} in the page (body class {body!r}); the screen was:\n{last['screen']}"
                f"\n--- server output:\n{served.output()}"
            )

        return describe

    browser.get(served.url)

    # The Traces pane: the header line of the table.
    wait_until(showing("rows 1–", "labelled"), timeout=60, what=what("rows 1– … labelled"))
    assert f"of {TRACES}" in last["screen"]

    # A key typed in the page reaches the app: R shows the Routing pane.
    keys = browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    browser.execute_script("arguments[0].focus()", keys)  # a click would reach the app
    ActionChains(browser).send_keys("R").perform()
    wait_until(showing("ratings (> <)"), timeout=30, what=what("ratings (> <)"))

    # Ctrl+C stops the server: it ends the page's session and exits 0.
    assert served.proc is not None
    served.proc.send_signal(signal.SIGINT)
    try:
        rc = served.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not stop on SIGINT; its output:\n{served.output()}")
    assert rc == 0, served.output()
    wait_until(
        lambda: browser.execute_script("return document.body.classList.contains('-closed')"),
        timeout=15,
        what=what("the page's 'Session ended'"),
    )


# A page elsewhere tries the server's websocket: with the cookie the real page left in
# the browser (cookies ignore the port, and SameSite counts 127.0.0.1:any as the same
# site), and with the token itself, as if it had leaked.
FOREIGN_PAGE = """<!DOCTYPE html>
<title>elsewhere</title>
<script>
window.__probes = {};
function probe(name, url) {
  let ws;
  try { ws = new WebSocket(url); } catch (e) { window.__probes[name] = "error"; return; }
  ws.onopen = () => { window.__probes[name] = "open"; ws.close(); };
  ws.onclose = () => { if (!window.__probes[name]) { window.__probes[name] = "refused"; } };
}
const params = new URLSearchParams(location.search);
const target = params.get("target"), token = params.get("token");
probe("cookie", "ws://" + target + "/ws?width=80&height=24");
probe("token", "ws://" + target + "/ws/" + token + "?width=80&height=24");
</script>
"""


@pytest.fixture
def elsewhere() -> Iterator[str]:
    """http://127.0.0.1:PORT/ of a tiny server that serves FOREIGN_PAGE."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = FOREIGN_PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_page_on_another_origin_cannot_open_the_app(served: Served, browser, elsewhere) -> None:
    pytest.importorskip("psutil")
    from urllib.parse import parse_qs, urlsplit

    # The real page first: it leaves its cookie in the browser.
    browser.get(served.url)
    wait_until(
        lambda: browser.execute_script("return document.body.classList.contains('-first-byte')"),
        timeout=60,
        what=lambda: f"the app's first bytes; server output:\n{served.output()}",
    )
    browser.get("about:blank")  # the real page's session ends
    wait_until(lambda: not served.apps(), 30, lambda: f"no app left: {served.apps()}")

    token = parse_qs(urlsplit(served.url).query)["token"][0]
    browser.get(f"{elsewhere}?target=127.0.0.1:{served.port}&token={token}")
    probes = wait_until(
        lambda: (got := browser.execute_script("return window.__probes")) and len(got) == 2 and got,
        timeout=30,
        what=lambda: f"both probes; server output:\n{served.output()}",
    )
    assert probes == {"cookie": "refused", "token": "refused"}
    assert served.apps() == []  # no app was started for them
