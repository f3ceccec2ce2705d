"""The technique table behind docs/papers.md names only what exists, and the page is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from contrastor import techniques as T

ROOT = Path(__file__).parent.parent


def test_every_entry_point_exists_and_statuses_are_consistent():
    ids = [t.id for t in T.TECHNIQUES]
    assert len(ids) == len(set(ids))
    for t in T.TECHNIQUES:
        assert t.grade in ("A", "B") and t.status in T.STATUSES, t.id
        assert t.status == T.MISSING or t.entry, f"{t.id} is {t.status} without an entry point"
        assert t.status != T.PARTIAL or t.note, f"{t.id} is partial without saying what is missing"
        assert t.status != T.MISSING or t.note, f"{t.id} is missing without saying why"
        for entry in t.entry:
            assert T.resolve(entry) is not None
    with pytest.raises(ValueError, match="no such entry point"):
        T.resolve("contrastor.functional.no_such_loss")
    with pytest.raises(ValueError, match="unknown loss"):
        T.resolve("loss:no_such_loss")


def test_counts_and_lookup():
    total = T.counts()
    assert sum(total.values()) == len(T.TECHNIQUES)
    assert T.counts("A") + T.counts("B") == total
    assert [t.id for t in T.find("mochi")] == ["T12"]
    assert [t.id for t in T.find("T61")] == ["T61"]
    assert "T03" in [t.id for t in T.find("loss:hard_contrastive")]


def test_docs_page_is_generated_from_the_table():
    path = ROOT / "benchmarks" / "papers_report.py"
    spec = importlib.util.spec_from_file_location("papers_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "papers.md").read_text()
    assert page == module.render(), "docs/papers.md is stale: run benchmarks/papers_report.py"
