"""Your own (query, document) pairs from a CSV or JSON-lines file, in the form of the
standard-library pairs (:class:`~contrastor.data.codesearch.CodePair`), so the text recipes
and :func:`~contrastor.data.codesearch.split_by_module` work on them unchanged.

Columns (CSV header) or keys (JSON lines): ``query`` and ``document`` (``positive`` is
accepted for ``document``); optionally ``group`` (pairs of one group stay on one side of the
train/test split; without it every pair is its own group), hard negatives and teacher scores:

- JSON lines: ``negatives`` (a list of texts) and ``scores`` (the teacher's score of the
  document, then of each negative);
- CSV: every column whose name starts with ``negative`` is a negative, in column order, and
  ``score`` / ``<negative column>_score`` hold the teacher's scores.

Every pair must have the same number of negatives (the loss stacks them), and scores for all
of its texts or none.
"""

from __future__ import annotations

from pathlib import Path

from contrastor.data.codesearch import CodePair
from contrastor.data.files import Problems, Row, column, read_rows, text_cell


def _negatives(row: Row, columns: list[str]) -> tuple[list[str], list[object]]:
    value = row.values.get("negatives")
    if isinstance(value, list):
        return [str(v).strip() for v in value], list(row.values.get("scores") or [])
    names = [c for c in columns if c.lower().startswith("negative") and not c.endswith("_score")]
    texts = [text_cell(row, c) for c in names]
    score_columns = ["score"] + [f"{c}_score" for c in names]
    scores = [row.values.get(c) for c in score_columns if c in row.values]
    return texts, [s for s in scores if s not in ("", None)]


def read_pairs(path: str | Path, *, skip_bad_rows: bool = False) -> tuple[list[CodePair], Problems]:
    """Pairs from ``path`` (``.csv``/``.tsv``, or ``.jsonl``/``.json`` with one object per
    line), and the record of rows skipped."""
    problems = Problems(Path(path), skip_bad_rows)
    columns, rows = read_rows(path, problems)
    query_col = column(columns, ("query",))
    document_col = column(columns, ("document", "positive"))
    if query_col is None or document_col is None:
        raise ValueError(
            f"{path}:1: expected columns 'query' and 'document' (or 'positive'), got {columns}"
        )
    pairs: list[CodePair] = []
    width: int | None = None
    for row in rows:
        query, document = text_cell(row, query_col), text_cell(row, document_col)
        if not query or not document:
            problems.bad(row.line, "expected a non-empty 'query' and 'document' (or 'positive')")
            continue
        negatives, raw_scores = _negatives(row, columns)
        if any(not n for n in negatives):
            problems.bad(row.line, "expected non-empty negatives")
            continue
        if width is not None and len(negatives) != width:
            problems.bad(
                row.line, f"expected {width} negatives as in the rows before, got {len(negatives)}"
            )
            continue
        try:
            scores = tuple(float(s) for s in raw_scores)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            problems.bad(row.line, f"expected numeric teacher scores, got {raw_scores}")
            continue
        if scores and len(scores) != 1 + len(negatives):
            problems.bad(
                row.line,
                f"expected {1 + len(negatives)} teacher scores (document, then each negative), "
                f"got {len(scores)}",
            )
            continue
        width = len(negatives)
        group = text_cell(row, column(columns, ("group",))) or f"row{row.line}"
        pairs.append(CodePair(query, document, group, "", tuple(negatives), scores))
    if len(pairs) < 2:
        raise ValueError(f"{path}: need at least two pairs, found {len(pairs)}")
    if len({bool(p.scores) for p in pairs}) > 1:
        raise ValueError(f"{path}: teacher scores are given for some pairs but not all")
    return pairs, problems
