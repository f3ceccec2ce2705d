"""Your own (query, document) pairs from a CSV or JSON-lines file, in the form of the
standard-library pairs (:class:`~contrastor.data.codesearch.CodePair`), so the text recipes
and :func:`~contrastor.data.codesearch.split_by_module` work on them unchanged.

Columns (CSV header) or keys (JSON lines): ``query`` and ``document`` (``positive`` is
accepted for ``document``), and optionally ``group``: pairs of one group stay on one side of
the train/test split (without it every pair is its own group)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from contrastor.data.codesearch import CodePair


def read_pairs(path: str | Path) -> list[CodePair]:
    """Pairs from ``path`` (``.csv``, or ``.jsonl``/``.json`` with one object per line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pairs file at {path}")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not a JSON object ({error})") from error
    pairs = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: row {number} is not a mapping")
        query = str(row.get("query") or "").strip()
        document = str(row.get("document") or row.get("positive") or "").strip()
        if not query or not document:
            raise ValueError(
                f"{path}: row {number} needs non-empty 'query' and 'document' (or 'positive')"
            )
        group = str(row.get("group") or f"row{number}")
        pairs.append(CodePair(query, document, group, ""))
    if len(pairs) < 2:
        raise ValueError(f"{path}: need at least two pairs, found {len(pairs)}")
    return pairs
