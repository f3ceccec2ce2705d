"""Docstring-to-code pairs mined with ``ast``, and the split that keeps modules apart."""

from __future__ import annotations

import textwrap

from contrastor.data.codesearch import split_by_module, stdlib_code_pairs

SOURCE = '''
def short():
    """Too short."""
    return 1


@staticmethod
def documented(a, b):
    """Add two numbers and return their sum, which is what this helper is for."""
    total = a + b
    return total


class Box:
    async def fetch(self):
        """Fetch the contents of the box from wherever it happens to be stored now."""
        return await self.load()
'''


def test_pairs_are_docstring_and_code_without_it(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text(textwrap.dedent(SOURCE))
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test_x.py").write_text(textwrap.dedent(SOURCE))
    (tmp_path / "broken.py").write_text("def (:\n")
    pairs = stdlib_code_pairs(root=tmp_path)
    assert [(p.module, p.name) for p in pairs] == [("pkg", "documented"), ("pkg", "fetch")]
    first = pairs[0]
    assert first.query.startswith("Add two numbers") and '"""' not in first.code
    assert first.code.startswith("@staticmethod\ndef documented(a, b):")
    assert "return total" in first.code


def test_split_keeps_each_package_on_one_side(tmp_path):
    for name in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta"):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(SOURCE))
    pairs = stdlib_code_pairs(root=tmp_path)
    train, test = split_by_module(pairs, test_fraction=0.5, seed=3)
    assert len(train) + len(test) == len(pairs) == 12
    assert not {p.module for p in train} & {p.module for p in test}
    assert split_by_module(pairs, 0.5, seed=3) == (train, test)
