"""Local transformers model folders: nothing is downloaded, so a path must hold one."""

from __future__ import annotations

from pathlib import Path


def model_folder(path: str | Path) -> Path:
    """``path`` as a folder holding a transformers ``config.json``, or a
    ``FileNotFoundError`` that says what was expected."""
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no transformers model at {folder}: expected a folder with config.json "
            "(and weights, for a pre-trained model)"
        )
    return folder
