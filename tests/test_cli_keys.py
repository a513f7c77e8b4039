"""`jarvis-tui keys` (walkthrough W3 40): the binding ids a [keymap] rebinds were
nowhere to be found (the notice said "? lists the keys", and ? lists no ids)."""

from __future__ import annotations

import json

from jarvis_tui.cli import main
from jarvis_tui.ui.binding_table import BINDINGS
from jarvis_tui.ui.settings import load_settings


def test_keys_lists_every_binding_id_with_its_keys_and_words(capsys) -> None:
    assert main(["keys"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "default", "keys", "does"]
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    assert set(rows) == set(BINDINGS)
    assert rows["trials.start"].split()[1:] == ["s", "Start", "run"]
    assert rows["traces.score3"].split()[1:] == ["3", "score", "0.3"]  # no raw score(0.3)


def test_keys_json(capsys) -> None:
    assert main(["keys", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in rows}
    assert by_id["traces.success"] == {"id": "traces.success", "keys": "y", "does": "Success"}


def test_an_unknown_id_notice_names_the_command(tmp_path) -> None:
    (tmp_path / "jarvis-tui.toml").write_text('[keymap]\n"nosuch.id" = "z"\n')
    problems = load_settings(tmp_path, BINDINGS).problems
    assert any("nosuch.id" in p and "jarvis-tui keys lists every id" in p for p in problems)
