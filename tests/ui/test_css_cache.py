"""The parsed-CSS cache (issue 15): the same rules and the same screen as a fresh parse,
and a file that is corrupt, truncated, foreign, stale, hostile, a link or open to
others is ignored (and written again), never an error."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from jarvis_tui.ui import css_cache
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.css_cache import CssCache


async def _screen(home: Path, cache: CssCache | None) -> tuple[str, list[object]]:
    """The first screen of the app on *home* (as SVG) and its stylesheet's rules."""
    app = JarvisApp(home, css_cache=cache)
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.query_one("#traces-status")
        while not str(status.render()).startswith("rows "):
            await pilot.pause(0.01)
        await pilot.pause()
        return app.export_screenshot(), list(app.stylesheet.rules)


async def test_a_warm_cache_gives_the_same_rules_and_screen_as_a_fresh_parse(
    workspace: Path, tmp_path: Path
) -> None:
    path = tmp_path / "cache" / css_cache.FILE_NAME
    fresh_svg, fresh_rules = await _screen(workspace, None)
    cold = CssCache(path)
    cold_svg, cold_rules = await _screen(workspace, cold)
    assert cold.misses > 20 and cold.hits == 0
    assert cold.save() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    warm = CssCache(path)
    warm_svg, warm_rules = await _screen(workspace, warm)
    assert warm.misses == 0 and warm.hits == cold.misses
    assert not warm.save()  # nothing new: not written again
    assert _same(warm_rules) == _same(fresh_rules) == _same(cold_rules)
    assert warm_svg == fresh_svg == cold_svg


def _same(rules: list[object]) -> list[tuple[object, ...]]:
    """What *rules* say, comparable: a layout object (``layout: vertical``) has no
    equality of its own, and sets (``important``) are compared as sets."""
    from textual.layout import Layout

    def value(v: object) -> object:
        return (type(v).__name__, sorted(vars(v).items())) if isinstance(v, Layout) else repr(v)

    return [
        (
            repr(r.selector_set), r.is_default_rules, r.tie_breaker, sorted(r.selector_names),
            sorted(r.pseudo_classes), sorted(r.styles.important), r.errors,
            [(k, value(v)) for k, v in r.styles._rules.items()],
        )
        for r in rules  # type: ignore[attr-defined]
    ]  # fmt: skip


def _stylesheet() -> object:
    from textual.app import App

    return App().stylesheet


CSS = "Static { color: $primary; padding: 1 2; } #x > .y:focus { border: tall $accent; }"


def _parse(cache: CssCache, css: str = CSS) -> list[object]:
    sheet = _stylesheet()
    cache.install(sheet)
    return sheet._parse_rules(css, ("a.tcss", ""))  # type: ignore[attr-defined, no-any-return]


def _warm(path: Path) -> list[object]:
    cache = CssCache(path)
    rules = _parse(cache)
    assert cache.save()
    return rules


def _hits(path: Path, css: str = CSS) -> tuple[int, list[object]]:
    cache = CssCache(path)
    rules = _parse(cache, css)
    return cache.hits, rules


def test_rules_read_back_equal_the_parse(tmp_path: Path) -> None:
    path = tmp_path / "c.pickle"
    fresh = _warm(path)
    hits, rules = _hits(path)
    assert hits == 1 and _same(rules) == _same(fresh)


def test_an_edited_source_or_another_theme_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.pickle"
    _warm(path)
    assert _hits(path, CSS.replace("1 2", "2 1"))[0] == 0
    cache = CssCache(path)
    sheet = _stylesheet()
    sheet.set_variables({**sheet._variables, "primary": "#123456"})  # type: ignore[attr-defined]
    cache.install(sheet)
    sheet._parse_rules(CSS, ("a.tcss", ""))  # type: ignore[attr-defined]
    assert cache.hits == 0 and cache.misses == 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"\x00garbage" * 50,  # corrupt
        lambda data: b"",  # empty
        lambda data: pickle.dumps(("jarvis-tui css cache", 999, (), "", ()), protocol=4),
        lambda data: pickle.dumps({"not": "a cache"}),  # foreign
        lambda data: pickle.dumps((css_cache._header(), {("k",): ["not a rule"]})),
    ],
    ids=["truncated", "corrupt", "empty", "other-version", "foreign", "not-rules"],
)
def test_a_spoilt_file_is_ignored_and_written_again(tmp_path: Path, spoil) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.pickle"
    fresh = _warm(path)
    path.write_bytes(spoil(path.read_bytes()))
    os.chmod(path, 0o600)
    cache = CssCache(path)
    assert _same(_parse(cache)) == _same(fresh) and cache.hits == 0
    assert cache.save()  # replaced by a good one
    assert _hits(path)[0] == 1


def test_a_hostile_pickle_is_refused_not_run(tmp_path: Path) -> None:
    path = tmp_path / "c.pickle"
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps((css_cache._header(), {("k",): [Evil()]})))
    os.chmod(path, 0o600)
    cache = CssCache(path)
    _parse(cache)
    assert not marker.exists() and cache.hits == 0
    # getattr and functools.partial reach only enum members, a dict's get, selector checks
    with pytest.raises(pickle.UnpicklingError):
        css_cache._getattr(os, "system")
    with pytest.raises(pickle.UnpicklingError):
        css_cache._partial(os.system)


def test_a_link_or_a_file_others_can_write_is_not_read(tmp_path: Path) -> None:
    real = tmp_path / "real.pickle"
    _warm(real)
    link = tmp_path / "c.pickle"
    link.symlink_to(real)
    assert _hits(link)[0] == 0
    cache = CssCache(link)
    _parse(cache)
    assert not cache.save()  # not written through the link
    assert link.is_symlink()
    os.chmod(real, 0o666)
    assert _hits(real)[0] == 0
    folder = tmp_path / "linked"
    folder.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    cache = CssCache(folder / "c.pickle")
    _parse(cache)
    assert not cache.save() and not (tmp_path / "elsewhere").exists()


def test_an_unwritable_cache_folder_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cache = CssCache(tmp_path / "file" / "c.pickle")
    assert _parse(cache)
    assert not cache.save()


def test_the_default_path_follows_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert css_cache.default_path() == tmp_path / "jarvis-tui" / css_cache.FILE_NAME
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")
    assert css_cache.default_path() == Path.home() / ".cache" / "jarvis-tui" / css_cache.FILE_NAME
