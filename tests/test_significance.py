"""The exact McNemar test against scipy's binomial test, and its floor from counts against
every pairing of small prediction sets."""

from __future__ import annotations

import itertools

import pytest
import torch

from contrastor.eval import mcnemar, mcnemar_floor

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("seed", range(6))
def test_mcnemar_equals_the_two_sided_binomial_test(seed):
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(5, 60, (1,), generator=g))
    a = torch.rand(n, generator=g) < 0.8
    b = torch.rand(n, generator=g) < 0.6
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    expected = 1.0 if only_a + only_b == 0 else stats.binomtest(only_a, only_a + only_b).pvalue
    assert mcnemar(a, b) == pytest.approx(expected, abs=1e-12)
    assert mcnemar(b, a) == pytest.approx(expected, abs=1e-12)


def test_floor_is_the_smallest_p_over_every_pairing_of_the_counts():
    n = 7
    for first, second in itertools.product(range(n + 1), repeat=2):
        a = torch.arange(n) < first  # which items are right does not matter to the first
        smallest = min(
            mcnemar(a, torch.tensor([i in chosen for i in range(n)]))
            for chosen in itertools.combinations(range(n), second)
        )
        assert mcnemar_floor(first, second) == pytest.approx(smallest, abs=1e-12)
    assert mcnemar_floor(40, 39) == 1.0 and mcnemar_floor(150, 145) == pytest.approx(1 / 16)


def test_mcnemar_refuses_bad_input():
    with pytest.raises(ValueError, match="one correctness flag per test item"):
        mcnemar(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="one correctness flag"):
        mcnemar(torch.ones(0), torch.ones(0))
    with pytest.raises(ValueError, match=">= 0"):
        mcnemar_floor(-1, 3)
