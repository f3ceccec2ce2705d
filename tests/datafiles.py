"""Small files of every data kind, written from bundled or generated data, for the tests of
``--data``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digits(per_class: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` scikit-learn digits of each of ``classes`` classes, as 8-bit
    8x8 images, and their labels."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(classes)])
    return (x[keep] * 255 / 16).round().astype(np.uint8).reshape(-1, 8, 8), y[keep]


def image_folder(root: Path, per_class: int = 12, classes: int = 10, size: int = 16) -> Path:
    """Digits as PNG files in one sub-folder per class, upscaled to ``size``."""
    from PIL import Image

    images, labels = digits(per_class, classes)
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / DIGIT_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).resize((size, size)).save(folder / f"{k:04d}.png")
    return root


def image_captions(root: Path, per_class: int = 6, classes: int = 10) -> Path:
    """Digit PNGs and a JSON-lines table of their paths and captions."""
    from PIL import Image

    images, labels = digits(per_class, classes)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        name = f"images/{k:04d}.png"
        Image.fromarray(image).resize((16, 16)).save(root / name)
        caption = f"a handwritten {DIGIT_NAMES[label]}, sample {k}"
        rows.append({"image": name, "caption": caption})
    table = root / "captions.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return table


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def wine_table(path: Path) -> Path:
    """scikit-learn's wine table with named classes."""
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    header = [f"f{j}" for j in range(x.shape[1])] + ["label"]
    names = ("barolo", "grignolino", "barbera")
    return write_csv(path, header, [[*row, names[c]] for row, c in zip(x, y, strict=True)])


def sine_series(n: int = 60, length: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of noisy series: sines of one frequency, or of twice it."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    t = np.linspace(0, 2 * np.pi, length)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin((1 + labels[:, None]) * t + phase) + 0.1 * rng.standard_normal((n, length))
    return x.astype(np.float32), labels


def interactions(path: Path, users: int = 40, items: int = 30, seed: int = 0) -> Path:
    """Users who each favour one of three item groups, with ratings and timestamps."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        group = u % 3
        chosen = rng.choice(np.arange(group, items, 3), 6, replace=False)
        rows += [
            [f"u{u}", f"i{i}", int(rng.integers(3, 6)), 1000 + 10 * t] for t, i in enumerate(chosen)
        ]
    return write_csv(path, ["user", "item", "rating", "timestamp"], rows)


def text_pairs(path: Path, negatives: bool = True, scores: bool = True) -> Path:
    """(query, document) pairs with one hard negative and teacher scores each."""
    words = ("sum", "mean", "median", "maximum", "minimum", "product", "variance", "range")
    rows = []
    for k, w in enumerate(words):
        row: dict[str, object] = {
            "query": f"return the {w} of a list of numbers",
            "document": f"def {w}(xs): ...",
            "group": w,
        }
        if negatives:
            row["negatives"] = [f"def {words[(k + 1) % len(words)]}(xs): ..."]
        if scores:
            row["scores"] = [5.0, 1.0]
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
