"""``docs/papers.md``: every grade-A and grade-B technique of the papers behind contrastor,
with its status and entry points, generated from :mod:`contrastor.techniques` (and the loss
registry for the losses' API).

    python benchmarks/papers_report.py            # writes docs/papers.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from contrastor import techniques as T

HERE = Path(__file__).parent
OUT = HERE.parent / "docs" / "papers.md"


def _entry(entry: str) -> str:
    found = T.resolve(entry)
    if entry.startswith("loss:"):
        return f"`{found.api}` ({found.name})"
    return f"`{entry.removeprefix('contrastor.')}`"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("``", "`")


def render() -> str:
    """The page's Markdown."""
    lines = [
        "# Papers and their techniques in contrastor",
        "",
        "Every grade-A technique (a generic loss, module or metric) and grade-B technique (tied",
        "to an architecture or a large model, with a generic core) of the project's paper",
        "catalogue, with its status here: *implemented* (the entry points run it),",
        "*partial* (what is missing is said) or *not implemented* (and why, where known).",
        "Losses are described in [losses.md](losses.md). Generated from",
        "`contrastor.techniques` by `python benchmarks/papers_report.py`;",
        "`contrastor.techniques.find('MoCHi')` looks a technique up.",
        "",
        "| grade | implemented | partial | not implemented | total |",
        "| --- | --- | --- | --- | --- |",
    ]
    for grade in ("A", "B"):
        c = T.counts(grade)
        total = sum(c.values())
        lines.append(f"| {grade} | {' | '.join(str(c[s]) for s in T.STATUSES)} | {total} |")
    for grade in ("A", "B"):
        lines += [
            "",
            f"## Grade {grade}",
            "",
            "| id | technique | status | entry points | missing, or why not |",
            "| --- | --- | --- | --- | --- |",
        ]
        for t in T.TECHNIQUES:
            if t.grade != grade:
                continue
            entries = "<br>".join(_entry(e) for e in t.entry) or "-"
            lines.append(
                f"| {t.id} | {_cell(t.title)} | {t.status} | {entries} | {_cell(t.note) or '-'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.write_text(render())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
