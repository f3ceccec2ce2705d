"""Docstring-to-code pairs mined from the Python standard library: a text-retrieval dataset
that is on every machine with Python, split by module so held-out code is unseen."""

from __future__ import annotations

import ast
import functools
import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

#: stdlib folders that are tests, demos, vendored code or tools rather than library modules
EXCLUDED = ("test", "tests", "idlelib", "lib2to3", "turtledemo", "ensurepip", "site-packages")


@dataclass(frozen=True)
class CodePair:
    """One function: its docstring (the query), its code without the docstring (the
    document), and where it lives; pairs read from a file may add hard ``negatives`` and a
    teacher's ``scores`` (of the document, then of each negative)."""

    query: str
    code: str
    module: str
    name: str
    negatives: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()


def _modules(root: Path) -> list[tuple[str, Path]]:
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[-1] == "__main__.py" or any(p in EXCLUDED or p.startswith(".") for p in parts):
            continue
        name = ".".join(parts)[: -len(".py")].removesuffix(".__init__")
        out.append((name, path))
    return out


def _pairs_of(name: str, source: str, min_words: int) -> list[CodePair]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    pairs = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc or len(doc.split()) < min_words or node.end_lineno is None:
            continue
        body = node.body[1:]  # without the docstring
        if not body:
            continue
        start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        header = lines[start - 1 : node.body[0].lineno - 1]
        code = "\n".join(header + lines[body[0].lineno - 1 : node.end_lineno])
        pairs.append(CodePair(" ".join(doc.split()), code, name, node.name))
    return pairs


def stdlib_code_pairs(min_words: int = 10, root: str | Path | None = None) -> list[CodePair]:
    """Every (docstring, function code) pair of the standard library whose docstring has at
    least ``min_words`` words, in module order; tests, demos and vendored tools skipped.
    Parsed once per process and folder (the pairs are immutable)."""
    return list(_parse_tree(min_words, str(Path(root or sysconfig.get_paths()["stdlib"]))))


@functools.lru_cache(maxsize=4)
def _parse_tree(min_words: int, root: str) -> tuple[CodePair, ...]:
    pairs: list[CodePair] = []
    for name, path in _modules(Path(root)):
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        pairs.extend(_pairs_of(name, source, min_words))
    return tuple(pairs)


def split_by_module(
    pairs: list[CodePair], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[CodePair], list[CodePair]]:
    """Train and test pairs with every module on one side only: a module goes to the test
    side when a seeded hash of its top-level package name falls under ``test_fraction``
    (so ``os.path`` and ``os`` stay together)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")

    def held_out(module: str) -> bool:
        top = module.split(".")[0]
        digest = hashlib.sha256(f"{seed}:{top}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction

    train = [p for p in pairs if not held_out(p.module)]
    test = [p for p in pairs if held_out(p.module)]
    return train, test
