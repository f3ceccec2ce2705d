"""``docs/noise.md``: the three noise-robustness tables from the runs recorded by
``noisy_correspondence.py``, ``noisy_code_search.py`` and ``label_noise.py``.

    python benchmarks/noise_report.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import label_noise
import noisy_correspondence
from training_runs import Results

HERE = Path(__file__).parent

INTRO = [
    "# Noise robustness",
    "",
    "Measured behaviour of `contrastor.noise`: simulated noise with a known ground-truth mask,",
    "the detectors' AUROC against that mask, and held-out quality of plain training beside each",
    "robust strategy. Every figure comes from the recorded runs under `benchmarks/results/`;",
    "each section names the command that reproduces it.",
]


def code_search_section() -> list[str]:
    """The text benchmark's table; its script needs the text extra only to run."""
    path = HERE / "results" / "noise_code_search.jsonl"
    if not path.exists():
        return []
    import noisy_code_search

    return noisy_code_search.section(Results(path, ()).rows())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "noise.md")
    args = parser.parse_args()
    sections = [
        noisy_correspondence.section(Results(noisy_correspondence.RESULTS, ()).rows()),
        code_search_section(),
        label_noise.section(Results(label_noise.RESULTS, ()).rows()),
    ]
    lines = list(INTRO)
    for section in sections:
        if section:
            lines += ["", *section]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
