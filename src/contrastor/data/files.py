"""Your own data from files: the kind of a path, its table rows with their line numbers, and
errors that name the file, the line and what was expected.

Kinds (:data:`KINDS`), each read by its own module and trained by one recipe
(:data:`RECIPE_OF`):

- ``images``: a folder of class sub-folders of PNG/JPEG images (:mod:`.folder`);
- ``image_text``: a CSV/JSON-lines table of ``image`` (path) and ``caption``;
- ``text_pairs``: ``query``, ``document`` and optional hard negatives and teacher scores;
- ``tabular``: numeric columns and an optional ``label``;
- ``series``: ``.npy``/``.npz`` arrays or a CSV with one series per row;
- ``interactions``: ``user``, ``item`` and optional ``rating`` and ``timestamp``.

A malformed row stops the run with ``path:line: what was expected``; with
``skip_bad_rows`` it is left out instead and counted, and the count is reported.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("images", "image_text", "text_pairs", "tabular", "series", "interactions")
#: the recipe that trains each kind of file
RECIPE_OF = {
    "images": "image",
    "image_text": "crossmodal",
    "text_pairs": "text",
    "tabular": "tabular",
    "series": "timeseries",
    "interactions": "recommendation",
}
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
ARRAY_SUFFIXES = (".npy", ".npz")
#: the columns that tell one kind of table from another, first match wins
SIGNATURES = (
    ("image_text", ({"image"}, {"caption", "text"})),
    ("text_pairs", ({"query"}, {"document", "positive"})),
    ("interactions", ({"user"}, {"item"})),
)


@dataclass
class DataOptions:
    """Options of every job that reads a user's file: ``data`` is the path ('' for the
    bundled data), ``data_kind`` overrides the kind detected from it, ``skip_bad_rows``
    leaves malformed rows out (counted and reported) instead of stopping."""

    data: str = ""
    data_kind: str = ""
    skip_bad_rows: bool = False

    def validate_data(self, kind: str) -> None:
        """Refuse a file of another kind than ``kind``, the one this job reads."""
        if not self.data:
            return
        found = self.data_kind or detect_kind(self.data)
        if found not in KINDS:
            raise ValueError(f"data_kind must be one of {', '.join(KINDS)}, got {found!r}")
        if found != kind:
            raise ValueError(
                f"{self.data} holds {found} data; this job reads {kind} "
                f"(the {RECIPE_OF[found]!r} recipe reads {found})"
            )


@dataclass
class Problems:
    """Malformed rows of one file: raised at the first one, or counted with
    ``skip`` (the first few kept for the report)."""

    path: Path
    skip: bool = False
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def bad(self, where: int | Path, message: str) -> None:
        """Row ``where`` (a line of the file, or a file of a folder) is malformed."""
        text = (
            f"{self.path}:{where}: {message}" if isinstance(where, int) else f"{where}: {message}"
        )
        if not self.skip:
            raise ValueError(text)
        self.skipped += 1
        if len(self.examples) < 3:
            self.examples.append(text)

    def notes(self) -> list[str]:
        """:meth:`note` as the list of a run's notes (empty when nothing was skipped)."""
        return [self.note()] if self.skipped else []

    def note(self) -> str:
        """The report line for skipped rows ('' when none were skipped)."""
        if not self.skipped:
            return ""
        return (
            f"{self.skipped} malformed row(s) of {self.path} skipped (skip_bad_rows); "
            f"first: {'; '.join(self.examples)}"
        )


@dataclass(frozen=True)
class Row:
    """One record of a table and the line of the file it starts on."""

    line: int
    values: dict[str, Any]


def existing(path: str | Path, what: str) -> Path:
    """``path`` as a Path, or a ``FileNotFoundError`` saying what was looked for."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}")
    return path


def read_rows(path: str | Path, problems: Problems | None = None) -> tuple[list[str], list[Row]]:
    """The columns and rows of a CSV/TSV (header line first) or JSON-lines file. A line that
    is not a JSON object, or a CSV line with more cells than the header, is a malformed row."""
    path = existing(path, "data file")
    problems = problems or Problems(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: expected a table ({', '.join(TABLE_SUFFIXES)})")
    if path.suffix.lower() in (".csv", ".tsv"):
        return _csv_rows(path, problems)
    rows, columns = [], {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                problems.bad(number, f"expected one JSON object per line ({error.msg})")
                continue
            if not isinstance(value, dict):
                problems.bad(number, f"expected a JSON object, got {type(value).__name__}")
                continue
            columns.update(dict.fromkeys(value))
            rows.append(Row(number, value))
    return list(columns), rows


def _csv_rows(path: Path, problems: Problems) -> tuple[list[str], list[Row]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = _csv_reader(path, handle)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}:1: expected a header line of column names")
        header = [h.strip() for h in header]
        rows = []
        for cells in reader:
            number = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                problems.bad(
                    number, f"expected {len(header)} cells (the header's), got {len(cells)}"
                )
                continue
            cells = cells + [""] * (len(header) - len(cells))
            rows.append(Row(number, dict(zip(header, cells, strict=True))))
    return header, rows


def _csv_reader(path: Path, handle: Any) -> Any:
    """A CSV reader of ``handle``, tab-separated for ``.tsv`` files."""
    return csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")


def header_of(path: Path) -> list[str]:
    """The column names of a table without reading all of it."""
    if path.suffix.lower() in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as handle:
            return [h.strip() for h in next(_csv_reader(path, handle), [])]
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"{path}:{number}: expected a JSON object ({error.msg})"
                    ) from error
                return list(value) if isinstance(value, dict) else []
    return []


def detect_kind(path: str | Path) -> str:
    """The kind of data at ``path``: a folder holds images; ``.npy``/``.npz`` series; a
    table is told apart by its columns (``image`` + ``caption``: image_text; ``query`` +
    ``document``: text_pairs; ``user`` + ``item``: interactions); any other table is
    tabular (a CSV of series needs ``data_kind: series``)."""
    path = existing(path, "data")
    if path.is_dir():
        return "images"
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        return "series"
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"{path}: cannot tell the kind of data from the suffix {suffix!r}: expected a "
            f"folder of images, a table ({', '.join(TABLE_SUFFIXES)}) or arrays "
            f"({', '.join(ARRAY_SUFFIXES)})"
        )
    columns = {c.lower() for c in header_of(path)}
    for kind, groups in SIGNATURES:
        if all(columns & group for group in groups):
            return kind
    return "tabular"


def column(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` among ``columns`` (case-insensitive), as spelled there."""
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def text_cell(row: Row, name: str | None) -> str:
    """A cell as stripped text ('' when the column is absent or empty)."""
    if name is None:
        return ""
    value = row.values.get(name)
    return "" if value is None else str(value).strip()


def number_cell(row: Row, name: str, problems: Problems) -> float | None:
    """A cell as a float, or ``None`` after reporting the row as malformed."""
    value = row.values.get(name)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        problems.bad(row.line, f"expected a number in column {name!r}, got {value!r}")
        return None
    if number != number or number in (float("inf"), float("-inf")):
        problems.bad(row.line, f"expected a finite number in column {name!r}, got {value!r}")
        return None
    return number


def class_indices(values: list[str]) -> tuple[list[int], list[str]]:
    """Labels as ``0..C-1`` in sorted order of their names (numbers sorted as numbers)."""

    def key(name: str) -> tuple[int, float | str]:
        try:
            return 0, float(name)
        except ValueError:
            return 1, name

    names = sorted(set(values), key=key)
    index = {name: k for k, name in enumerate(names)}
    return [index[v] for v in values], names
