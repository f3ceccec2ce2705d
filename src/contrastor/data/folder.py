"""Images from your own files, read from disk when needed (never all in memory): a folder of
class sub-folders (``images``) and a table of image paths and captions (``image_text``).

:class:`FolderImages` indexes like an ``(N, C, H, W)`` tensor in [0, 1] — an index, a slice
or an index tensor loads those files with Pillow, resized to one size — and
:meth:`FolderImages.batch` streams a training plan through a ``DataLoader`` whose worker
processes decode the next batches while the current one trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contrastor.data.datasets import ImageDataset, stratified_split
from contrastor.data.files import Problems, column, existing, read_rows, text_cell

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _pillow() -> Any:
    try:
        from PIL import Image
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "images from files need Pillow: pip install 'contrastor[data]'"
        ) from error
    return Image


class FolderImages:
    """``paths`` read as ``(channels, *size)`` float images in [0, 1] (size is (H, W)).

    ``workers`` decoding processes stream training batches (:meth:`batch`); other reads use
    as many threads."""

    def __init__(
        self, paths: Sequence[Path], size: tuple[int, int], channels: int, workers: int = 2
    ) -> None:
        self.paths, self.size, self.channels, self.workers = list(paths), size, channels, workers
        self._stream: tuple[list[Tensor], int, Any] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.channels, *self.size))

    def load(self, i: int) -> Tensor:
        """Image ``i`` as a ``(C, H, W)`` tensor."""
        image_module = _pillow()
        path = self.paths[i]
        h, w = self.size
        try:
            with image_module.open(path) as image:
                image = image.convert("L" if self.channels == 1 else "RGB")
                if image.size != (w, h):
                    image = image.resize((w, h), image_module.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.float32) / 255.0
        except OSError as error:
            raise ValueError(f"{path}: cannot read the image ({error})") from error
        return torch.from_numpy(array.reshape(h, w, self.channels)).permute(2, 0, 1).contiguous()

    def subset(self, index: Sequence[int] | np.ndarray) -> FolderImages:
        return FolderImages(
            [self.paths[int(i)] for i in index], self.size, self.channels, self.workers
        )

    def __getitem__(self, index: int | slice | Tensor | Sequence[int]) -> Tensor:
        if isinstance(index, int):
            return self.load(index)
        if isinstance(index, slice):
            rows = list(range(len(self)))[index]
        else:
            rows = torch.as_tensor(index).reshape(-1).tolist()
        if not rows:
            return torch.zeros((0, self.channels, *self.size))
        if self.workers > 1 and len(rows) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                return torch.stack(list(pool.map(self.load, rows)))
        return torch.stack([self.load(i) for i in rows])

    def batch(self, plan: list[Tensor], position: int) -> Tensor:
        """The images of ``plan[position]``, decoded ahead by worker processes: a stream
        starts at ``position`` of ``plan`` and continues while the batches are asked for in
        order (a new plan, or a jump such as a resume, starts a new stream)."""
        stream = self._stream
        if stream is None or stream[0] is not plan or stream[1] != position:
            loader = torch.utils.data.DataLoader(
                _Files(self),
                batch_sampler=[b.tolist() for b in plan[position:]],
                num_workers=self.workers,
                collate_fn=torch.stack,
            )
            stream = (plan, position, iter(loader))
        images = next(stream[2])
        self._stream = (plan, position + 1, stream[2])
        return images


class _Files(torch.utils.data.Dataset):
    def __init__(self, images: FolderImages) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self.images.load(i)


def batch_of(images: Tensor | FolderImages, plan: list[Tensor], position: int) -> Tensor:
    """The images of ``plan[position]``: indexed from a tensor, streamed from files."""
    if isinstance(images, FolderImages):
        return images.batch(plan, position)
    return images[plan[position]]


@dataclass
class Scanned:
    """Image files checked by their header: paths, the common size and channels."""

    paths: list[Path]
    size: tuple[int, int]
    channels: int


def scan_images(paths: list[Path], problems: Problems, size: int = 0) -> tuple[Scanned, list[int]]:
    """Check each file is a readable PNG/JPEG (header only) and fix one size and channel
    count: ``size`` x ``size`` when given, else the first image's; one channel when every
    image is grey-scale, else three. Returns the good files and their positions."""
    image_module = _pillow()
    good, keep, gray, first = [], [], True, None
    for k, path in enumerate(paths):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.bad(path, f"expected a PNG or JPEG image ({', '.join(IMAGE_SUFFIXES)})")
            continue
        try:
            with image_module.open(path) as image:
                mode, (w, h) = image.mode, image.size
        except OSError as error:
            problems.bad(path, f"not a readable image ({error})")
            continue
        first = first or (h, w)
        gray = gray and mode in GRAY_MODES
        good.append(path)
        keep.append(k)
    if not good:
        raise ValueError(f"{problems.path}: no readable PNG/JPEG image found")
    chosen = (size, size) if size else first
    return Scanned(good, chosen, 1 if gray else 3), keep


def read_image_folder(
    path: str | Path,
    test_fraction: float = 0.2,
    seed: int = 0,
    *,
    size: int = 0,
    workers: int = 2,
    skip_bad_rows: bool = False,
) -> tuple[ImageDataset, Problems]:
    """A folder of class sub-folders (``root/cat/001.png``...) as an
    :class:`~contrastor.data.datasets.ImageDataset` of :class:`FolderImages` with a
    class-stratified held-out split; hidden files are ignored, any other non-image file or
    unreadable image is a malformed row."""
    root = existing(path, "image folder")
    if not root.is_dir():
        raise ValueError(f"{root}: expected a folder of class sub-folders of images")
    problems = Problems(root, skip_bad_rows)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for loose in sorted(root.iterdir()):
        if loose.is_file() and not loose.name.startswith("."):
            problems.bad(loose, "expected image files inside class sub-folders, not at the top")
    if len(classes) < 2:
        raise ValueError(
            f"{root}: expected at least two class sub-folders of images, found {len(classes)}"
        )
    paths, labels = [], []
    for k, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        paths += files
        labels += [k] * len(files)
    scanned, keep = scan_images(paths, problems, size)
    y = np.asarray(labels, dtype=np.int64)[keep]
    images = FolderImages(scanned.paths, scanned.size, scanned.channels, workers)
    train, test = stratified_split(y, test_fraction, seed)
    labels_t = torch.from_numpy(y)
    dataset = ImageDataset(
        root.name,
        images.subset(train),
        labels_t[train],
        images.subset(test),
        labels_t[test],
        classes,
    )
    return dataset, problems


@dataclass
class CaptionedImages:
    """Image-caption pairs: ``images`` (from files) and their ``captions``."""

    images: FolderImages
    captions: list[str]


def read_image_captions(
    path: str | Path, *, size: int = 0, workers: int = 2, skip_bad_rows: bool = False
) -> tuple[CaptionedImages, Problems]:
    """A CSV/JSON-lines table with an ``image`` column (a path, relative to the table's
    folder) and a ``caption`` (or ``text``) column."""
    table = existing(path, "image-caption table")
    problems = Problems(table, skip_bad_rows)
    columns, rows = read_rows(table, problems)
    image_col, caption_col = column(columns, ("image",)), column(columns, ("caption", "text"))
    if image_col is None or caption_col is None:
        raise ValueError(
            f"{table}:1: expected columns 'image' and 'caption' (or 'text'), got {columns}"
        )
    paths, captions = [], []
    for row in rows:
        image, caption = text_cell(row, image_col), text_cell(row, caption_col)
        if not image or not caption:
            problems.bad(row.line, "expected a non-empty image path and caption")
            continue
        file = (table.parent / image).expanduser()
        if not file.is_file():
            problems.bad(row.line, f"no image file at {file}")
            continue
        paths.append(file)
        captions.append(caption)
    scanned, keep = scan_images(paths, problems, size)
    pairs = CaptionedImages(
        FolderImages(scanned.paths, scanned.size, scanned.channels, workers),
        [captions[k] for k in keep],
    )
    if len(pairs.captions) < 4:
        raise ValueError(
            f"{table}: need at least 4 image-caption pairs, found {len(pairs.captions)}"
        )
    return pairs, problems
