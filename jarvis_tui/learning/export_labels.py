"""Labels out: every labelled trace with its label history (and judge score), or the SFT
pairs as a Hugging Face ``datasets`` dataset on disk.

Formats: ``jsonl`` (one object per line), ``csv`` (history as a JSON column), ``parquet``
(pyarrow, written in batches) and ``hf`` (``datasets.DatasetDict.save_to_disk`` of the SFT
pairs the Training pane mines, ``input``/``output``/``query_class``/``model``/``feedback``).

The held-out split is kept apart, the same one the trainer and ``jarvis-tui eval`` use
(:class:`jarvis_tui.evals.sets.EvalSplit`, recorded as a run's ``split.json``): ``hf``
writes a ``train`` and a ``test`` split (the held-out pairs, never trained on) and the
split itself as ``split.json`` in the dataset folder; the other formats carry a
``split`` column (``train`` / ``test``) on every row.

Every export is written to a temporary file (or folder) beside PATH, owner-only, and
renamed into place when complete: a reader never sees half a file, and a PATH that is a
symbolic link is replaced, never written through. PATH must not be a directory (an
``hf`` dataset is a folder: PATH must not exist), and its folder must exist.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List

FORMATS = ("jsonl", "csv", "parquet", "hf")
COLUMNS = ("trace_id", "query", "result", "agent", "model", "query_class", "started_at",
           "feedback", "outcome", "note", "label_history", "split")  # fmt: skip
TRAIN, TEST = "train", "test"
"""The values of the ``split`` column and the ``hf`` export's split names (test: held out)."""


class ExportCount(int):
    """Rows written (an int, as before) and how many of them are held out (``test``)."""

    held_out: int

    def __new__(cls, rows: int, held_out: int = 0) -> ExportCount:
        obj = super().__new__(cls, rows)
        obj.held_out = held_out
        return obj

    @property
    def train(self) -> int:
        return int(self) - self.held_out


JUDGE_COLUMNS = ("judge_score", "judge_reason", "judge_model", "judge_prompt_hash")
_BATCH = 2_000

EXTENSIONS = {"jsonl": (".jsonl", ".ndjson", ".json"), "csv": (".csv",),
              "parquet": (".parquet", ".pq")}  # fmt: skip
"""The file name endings of each file format (hf writes a folder)."""
DEFAULT_NAMES = {"jsonl": "labels.jsonl", "csv": "labels.csv", "parquet": "labels.parquet",
                 "hf": "labels-hf"}  # fmt: skip
"""The export's name when none is typed: it follows the format."""


def format_of(path: str | os.PathLike[str]) -> str | None:
    """The file format *path*'s extension names (``labels.csv``: csv), or None."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt, ends in EXTENSIONS.items() if suffix in ends), None)


def format_mismatch(path: str | os.PathLike[str], fmt: str) -> str | None:
    """Why *path* is the wrong name for a *fmt* export (one line), or None.

    Only an extension that names another format is refused (``labels.jsonl`` for csv,
    a file name for the hf folder); a name with no or an unknown extension is taken.
    """
    named = format_of(path)
    if named is None or named == fmt:
        return None
    name = Path(path).name
    if fmt == "hf":
        return f"{name} is a {named} file name, but hf writes a folder: name it {Path(name).stem}"
    better = Path(name).with_suffix(EXTENSIONS[fmt][0]).name
    return f"{name} is a {named} file name, but the format is {fmt}: name it {better}"


def _check_target(path: Path, *, folder: bool, workspace: Path | None = None) -> None:
    """Refuse *path* by the one export rule (:func:`jarvis_tui.paths.check_export_path`:
    a symbolic link, a directory, a missing folder outside the workspace), in the words
    the forms use; a missing folder inside the workspace (its ``exports/``) is made, as
    the best recipe's ``recipes/`` is."""
    from jarvis_tui.paths import check_export_path, ensure_dir

    check_export_path(path, workspace=workspace, folder_ok=folder)  # a ValueError
    if folder and path.exists():
        raise ValueError(f"{path} exists: a dataset folder is never written over")
    if not path.parent.is_dir():  # inside the workspace: check_export_path allowed it
        ensure_dir(path.parent)


def labelled_rows(store: Any, *, with_judge: bool = False) -> Iterator[Dict[str, Any]]:
    """Every labelled trace (a score or an outcome), oldest first, with history, note and
    ``split`` (``test`` when the held-out split keeps its query out of training)."""
    from jarvis_tui.evals.sets import EvalSplit
    from jarvis_tui.traces.read_conn import read_connection

    split = EvalSplit()

    with read_connection(store) as c:
        s = c.schema
        history: Dict[str, List[Dict[str, Any]]] = {}
        for tid, fld, old, new, note, source, at in c.conn.execute(
            f"SELECT trace_id, field, old_value, new_value, note, source, at"
            f" FROM {s}.jt_label_history ORDER BY id"
        ):
            history.setdefault(tid, []).append(
                {
                    "field": fld,
                    "old": _loads(old),
                    "new": _loads(new),
                    "note": note,
                    "source": source,
                    "at": at,
                }  # fmt: skip
            )
        notes = dict(c.conn.execute(f"SELECT trace_id, note FROM {s}.jt_notes").fetchall())
        rows = c.conn.execute(
            "SELECT t.trace_id, t.query, t.result, t.agent, t.model, r.qclass, t.started_at,"
            f" t.feedback, t.outcome FROM {s}.jt_rows r JOIN main.traces t ON t.id = r.id"
            " WHERE r.feedback IS NOT NULL OR r.outcome IS NOT NULL"
            " ORDER BY r.started_at, r.id"
        ).fetchall()
    judged: Dict[str, Any] = {}
    if with_judge:
        from jarvis_tui.evals.judge import JudgeStore

        if not getattr(store, "read_only", False):
            with JudgeStore(store.path) as js:
                judged = js.scores()
    for r in rows:
        row: Dict[str, Any] = dict(zip(COLUMNS[:9], r, strict=True))
        row["query_class"] = row["query_class"] or "general"
        row["note"] = notes.get(row["trace_id"])
        row["label_history"] = history.get(row["trace_id"], [])
        row["split"] = TEST if split.is_held_out(str(row["query"] or "")) else TRAIN
        if with_judge:
            j = judged.get(row["trace_id"])
            row["judge_score"] = j.score if j else None
            row["judge_reason"] = j.reason if j else None
            row["judge_model"] = j.judge_model if j else None
            row["judge_prompt_hash"] = j.prompt_hash if j else None
        yield row


def _loads(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


class _AtomicFile:
    """A temp file beside *path* (0600) renamed over it on success, removed on failure."""

    def __init__(self, path: Path, mode: str = "w") -> None:
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o600)
        self.fh: IO[Any]
        if "b" in mode:
            self.fh = os.fdopen(fd, mode)
        else:
            self.fh = os.fdopen(fd, mode, encoding="utf-8", newline="")

    def __enter__(self) -> Any:
        return self.fh

    def __exit__(self, et: Any, *_: Any) -> None:
        try:
            if et is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if et is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


def export_labels(
    store: Any,
    path: str | os.PathLike[str],
    *,
    fmt: str = "jsonl",
    with_judge: bool = False,
    workspace: str | os.PathLike[str] | None = None,
) -> int:
    """Write the export to *path*; returns the number of rows (traces, or SFT pairs for
    ``hf``) as an :class:`ExportCount`, whose ``held_out`` says how many are on the
    held-out (``test``) side. ``ValueError`` (one line) for a bad target or a missing
    library. A missing parent folder inside *workspace* is made; elsewhere it is refused."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    target = Path(path).expanduser()
    mismatch = format_mismatch(target, fmt)
    if mismatch is not None:  # a CSV in labels.jsonl is read back as garbage
        raise ValueError(mismatch)
    if workspace is None and getattr(store, "path", None) not in (None, ":memory:"):
        workspace = Path(store.path).parent  # never over the store itself, or its folders
    _check_target(target, folder=fmt == "hf",
                  workspace=Path(workspace) if workspace is not None else None)  # fmt: skip
    if fmt == "hf":
        return _export_hf(store, target)
    if fmt == "parquet":
        return _export_parquet(store, target, with_judge)
    n = held = 0
    with _AtomicFile(target) as fh:
        if fmt == "jsonl":
            for row in labelled_rows(store, with_judge=with_judge):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
                held += row["split"] == TEST
        else:
            cols = list(COLUMNS) + (list(JUDGE_COLUMNS) if with_judge else [])
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for row in labelled_rows(store, with_judge=with_judge):
                row["label_history"] = json.dumps(row["label_history"], ensure_ascii=False)
                w.writerow({k: csv_cell(v) for k, v in row.items()})
                n += 1
                held += row["split"] == TEST
    return ExportCount(n, held)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet runs as a formula when a cell starts with it (OWASP, CSV injection)."""


def csv_cell(value: Any) -> Any:
    """*value* as a CSV cell that a spreadsheet shows as text: trace text is untrusted,
    and ``=HYPERLINK(...)`` or ``+1+1`` in a query would run as a formula in Excel,
    LibreOffice or Sheets; such a cell gets a leading ``'`` (OWASP's advice), and a NUL
    (which no CSV reader keeps) is written as ``␀``. jsonl and parquet keep text as it is."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "\u2400")
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _need(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(
            f"{what} needs the {module.split('.')[0]} package: pip install 'jarvis-tui[train]'"
            f" (or pip install {module.split('.')[0]})"
        ) from None


def _export_parquet(store: Any, target: Path, with_judge: bool) -> int:
    pa = _need("pyarrow", "--format parquet")
    pq = _need("pyarrow.parquet", "--format parquet")
    history = pa.list_(
        pa.struct([("field", pa.string()), ("old", pa.string()), ("new", pa.string()),
                   ("note", pa.string()), ("source", pa.string()), ("at", pa.float64())])
    )  # fmt: skip
    fields = [("trace_id", pa.string()), ("query", pa.string()), ("result", pa.string()),
              ("agent", pa.string()), ("model", pa.string()), ("query_class", pa.string()),
              ("started_at", pa.float64()), ("feedback", pa.float64()), ("outcome", pa.string()),
              ("note", pa.string()), ("label_history", history), ("split", pa.string())]  # fmt: skip
    if with_judge:
        fields += [("judge_score", pa.float64()), ("judge_reason", pa.string()),
                   ("judge_model", pa.string()), ("judge_prompt_hash", pa.string())]  # fmt: skip
    schema = pa.schema(fields)
    n = held = 0
    with _AtomicFile(target, "wb") as fh:
        writer = pq.ParquetWriter(fh, schema)
        batch: List[Dict[str, Any]] = []
        for row in labelled_rows(store, with_judge=with_judge):
            # old/new values are numbers, strings or null: kept as their JSON text
            row["label_history"] = [
                {**h, "old": json.dumps(h["old"]), "new": json.dumps(h["new"])}
                for h in row["label_history"]
            ]
            batch.append(row)
            n += 1
            held += row["split"] == TEST
            if len(batch) >= _BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch or n == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        writer.close()
    return ExportCount(n, held)


def _export_hf(store: Any, target: Path) -> ExportCount:
    """The SFT pairs as a DatasetDict: ``train`` (what a run may train on) and ``test``
    (the held-out pairs), split as the trainer splits them; the split is recorded as
    ``split.json`` beside ``dataset_dict.json``. No progress bars on the terminal."""
    datasets = _need("datasets", "--format hf")
    from jarvis_tui.evals.heldout import write_split
    from jarvis_tui.evals.sets import EvalSplit
    from jarvis_tui.learning.training.data import TrainingDataMiner

    split = EvalSplit()
    sides: Dict[str, List[Dict[str, Any]]] = {TRAIN: [], TEST: []}
    for pair in TrainingDataMiner(store).iter_sft_pairs():
        sides[TEST if split.is_held_out(str(pair["input"])) else TRAIN].append(pair)
    features = datasets.Features(
        {
            "input": datasets.Value("string"),
            "output": datasets.Value("string"),
            "query_class": datasets.Value("string"),
            "model": datasets.Value("string"),
            "feedback": datasets.Value("float64"),
        }
    )
    was_enabled = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # its bars would land on our stderr (or the TUI)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        dd = datasets.DatasetDict(
            {
                # by columns: an empty side keeps its columns (from_list([]) has none)
                name: datasets.Dataset.from_dict(
                    {col: [r.get(col) for r in rows] for col in features}, features=features
                )
                for name, rows in sides.items()
            }
        )
        # An empty split needs its one (empty) shard written, or datasets cannot load it.
        dd.save_to_disk(str(tmp), num_shards={n: 1 for n, rows in sides.items() if not rows})
        write_split(tmp, split, len(sides[TEST]))
        os.rename(tmp, target)  # a folder: rename fails rather than replace an existing one
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return ExportCount(len(sides[TRAIN]) + len(sides[TEST]), len(sides[TEST]))


def read_back(path: str | os.PathLike[str], fmt: str) -> List[Dict[str, Any]]:
    """The rows of an export (tests and the palette's preview)."""
    p = Path(path)
    if fmt == "jsonl":
        return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8"), newline="")))
    if fmt == "parquet":
        return _need("pyarrow.parquet", "parquet").read_table(p).to_pylist()
    if fmt == "hf":  # every split's rows, train first, each with its split's name
        loaded = _need("datasets", "hf").load_from_disk(str(p))
        if not hasattr(loaded, "keys"):  # a single Dataset (exports before the split)
            return list(loaded)
        return [{**row, "split": name} for name in loaded for row in loaded[name]]
    raise ValueError(f"unknown format {fmt!r}")


__all__ = ["FORMATS", "ExportCount", "export_labels", "labelled_rows", "read_back"]
