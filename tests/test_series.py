"""Time series: TS2Vec's crops, encoder and loss settings, and the UCR/UEA evaluation
protocol (1-NN with Euclidean distance or DTW, the cross-validated RBF SVM)."""

from __future__ import annotations

import math

import pytest
import torch

import contrastor.functional as CF
from contrastor.data.views.timeseries import OverlappingCrops
from contrastor.eval.series import (
    SVM_C,
    dtw_distances,
    leave_one_out_accuracy,
    nearest_neighbour_accuracy,
    svm_accuracy,
    svm_predict,
)
from contrastor.models.temporal import DilatedConvEncoder
from tests import reference as ref


def _dtw(x, y):
    """Textbook dynamic time warping by the full table, squared step costs."""
    t, u = x.shape[1], y.shape[1]
    table = [[math.inf] * (u + 1) for _ in range(t + 1)]
    table[0][0] = 0.0
    for i in range(1, t + 1):
        for j in range(1, u + 1):
            cost = float(((x[:, i - 1] - y[:, j - 1]) ** 2).sum())
            table[i][j] = cost + min(table[i - 1][j], table[i][j - 1], table[i - 1][j - 1])
    return math.sqrt(table[t][u])


def test_dtw_equals_the_full_table_on_each_pairs_valid_steps(gen):
    a = torch.randn(3, 2, 7, generator=gen, dtype=torch.float64)
    b = torch.randn(4, 2, 9, generator=gen, dtype=torch.float64)
    la, lb = torch.tensor([7, 5, 1]), torch.tensor([9, 2, 6, 1])
    got = dtw_distances(a, b, la, lb)
    for i in range(3):
        for j in range(4):
            expected = _dtw(a[i, :, : la[i]], b[j, :, : lb[j]])
            assert math.isclose(float(got[i, j]), expected, rel_tol=1e-12), (i, j)
    assert torch.allclose(dtw_distances(a, a)[range(3), range(3)], torch.zeros(3, dtype=a.dtype))
    with pytest.raises(ValueError, match="channels"):
        dtw_distances(a, b[:, :1])


def test_one_nearest_neighbour_by_euclidean_distance_and_by_warping():
    """A bump moved along time is far from its class in Euclidean distance (nearer a flat
    line) but not once warped."""
    steps = torch.arange(40, dtype=torch.float64)
    bump = torch.exp(-((steps - 10) ** 2) / 8)[None]
    flat = torch.full_like(bump, 0.01)
    train, labels = torch.stack([bump, flat]), torch.tensor([0, 1])
    test = torch.stack([bump.roll(15, 1), flat + 0.005])
    assert nearest_neighbour_accuracy(train, labels, test, labels, distance="dtw") == 1.0
    assert nearest_neighbour_accuracy(train, labels, test, labels) == 0.5
    with pytest.raises(ValueError, match="distance"):
        nearest_neighbour_accuracy(train, labels, test, labels, distance="cosine")


def test_svm_protocol_cross_validates_c_and_keeps_a_hard_margin_when_data_is_short(gen):
    pytest.importorskip("sklearn")
    centres = torch.randn(3, 5, generator=gen) * 3
    y = torch.arange(60) % 3
    x = centres[y] + torch.randn(60, 5, generator=gen)
    test_y = torch.arange(30) % 3
    test = centres[test_y] + torch.randn(30, 5, generator=gen)
    got = svm_accuracy(x, y, test, test_y)
    assert got["accuracy"] > 0.9 and got["C"] in (
        1e-4,
        1e-3,
        1e-2,
        0.1,
        1.0,
        10.0,
        100.0,
        1e3,
        1e4,
        1e8,
    )
    assert svm_accuracy(x[:12], y[:12], test, test_y)["C"] == 1e8  # 4 per class: no CV


def test_svm_folds_in_training_order_are_the_authors_cv_5_whatever_the_seed(gen):
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    y = torch.arange(70) % 2
    x = y[:, None] * 0.6 + torch.randn(70, 4, generator=gen)  # overlapping classes
    test = torch.randn(40, 4, generator=gen)
    search = GridSearchCV(SVC(gamma="scale"), {"C": list(SVM_C)}, cv=5)
    search.fit(x.double().numpy(), y.numpy())
    expected = torch.from_numpy(search.predict(test.double().numpy()))
    for seed in (0, 3):
        predicted, c = svm_predict(x, y, test, seed=seed, shuffle=False)
        assert c == search.best_params_["C"]
        assert torch.equal(predicted, expected)
    chosen = {svm_predict(x, y, test, seed=seed)[1] for seed in range(6)}
    assert len(chosen) > 1  # shuffled folds: the C chosen moves with the split


def test_overlapping_crops_share_their_overlap_and_stay_inside_each_series():
    lengths = torch.tensor([40, 25, 31, 25])
    x = torch.arange(4 * 40, dtype=torch.float32).view(4, 1, 40)  # each value is its position
    x = torch.cat([x, -x], 1) * (torch.arange(40) < lengths[:, None, None])
    for seed in range(20):
        crops = OverlappingCrops()(x, lengths, torch.Generator().manual_seed(seed))
        k = crops.overlap
        assert 2 <= k <= 25
        assert torch.equal(crops.first[..., -k:], crops.second[..., :k])
        for view in (crops.first, crops.second):
            start = (view[:, 0, 0] - torch.arange(4) * 40).long()
            assert bool((start >= 0).all() and (start + view.shape[2] <= lengths).all())
            assert torch.equal(view[:, 1], -view[:, 0])  # whole windows, channels together
    again = OverlappingCrops()(x, lengths, torch.Generator().manual_seed(3))
    assert torch.equal(
        again.first, OverlappingCrops()(x, lengths, torch.Generator().manual_seed(3)).first
    )
    with pytest.raises(ValueError, match="shorter than min_overlap"):
        OverlappingCrops(min_overlap=30)(x, lengths, torch.Generator())


def test_dilated_encoder_per_step_outputs_padding_and_masking(gen):
    encoder = DilatedConvEncoder(2, hidden=8, out_dim=6, depth=3).eval()
    lengths = torch.tensor([20, 9])
    x = torch.randn(2, 2, 20, generator=gen) * (torch.arange(20) < lengths[:, None, None])
    out = encoder(x, lengths)
    assert out.shape == (2, 20, 6)
    for i, n in enumerate(lengths.tolist()):
        alone = encoder(x[i : i + 1, :, :n])
        assert torch.allclose(out[i, :n], alone[0], atol=1e-6)
        assert torch.allclose(encoder.pooled(x, lengths)[i], alone[0].amax(0), atol=1e-6)
    # a masked step only changes the steps within the receptive field of the blocks
    keep = torch.ones(2, 20, dtype=torch.bool)
    keep[0, 0] = False
    masked = encoder(x, lengths, keep=keep)
    assert not torch.allclose(masked[0, 0], out[0, 0]) and torch.equal(masked[1], out[1])
    with pytest.raises(ValueError, match="series must be"):
        encoder(x[0])


def test_hierarchical_loss_with_ts2vecs_settings_matches_the_reference(gen):
    """Dot product, no temperature: levels of 8, 4, 2, 1 steps; the temporal term from the
    second level on; one series (no instance negatives)."""
    for n, t, unit, alpha in ((3, 8, 0, 0.5), (4, 6, 1, 0.5), (1, 5, 0, 0.5), (3, 1, 0, 0.7)):
        a = torch.randn(n, t, 4, generator=gen, dtype=torch.float64)
        b = torch.randn(n, t, 4, generator=gen, dtype=torch.float64)
        got = CF.hierarchical_contrastive(
            a, b, alpha=alpha, temporal_unit=unit, reduction="none", return_output=True
        )
        expected = ref.hierarchical_contrastive(a, b, 1.0, alpha, unit)
        assert torch.allclose(got.per_anchor, torch.tensor(expected, dtype=a.dtype), rtol=1e-10)
        combined = alpha * got.terms["instance"] + (1 - alpha) * got.terms["temporal"]
        assert torch.allclose(combined, got.per_anchor)
    with pytest.raises(ValueError, match="same series and timestamps"):
        CF.hierarchical_contrastive(a, b[:, :0] if t > 1 else b[:2])
    with pytest.raises(ValueError, match="alpha"):
        CF.hierarchical_contrastive(a, b, alpha=1.5)
    with pytest.raises(ValueError, match="one temperature"):
        CF.hierarchical_contrastive(a, b, temperature=torch.ones(3))


def test_hierarchical_loss_is_the_same_inside_autocast_and_with_half_inputs(gen):
    a = torch.randn(6, 12, 16, generator=gen).bfloat16().float()
    b = torch.randn(6, 12, 16, generator=gen).bfloat16().float()
    exact = CF.hierarchical_contrastive(a, b, similarity="cosine", temperature=0.2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = CF.hierarchical_contrastive(a, b, similarity="cosine", temperature=0.2)
    assert inside.dtype == torch.float32
    assert torch.allclose(inside, exact, rtol=1e-5)
    half = CF.hierarchical_contrastive(
        a.bfloat16(), b.bfloat16(), similarity="cosine", temperature=0.2
    )
    assert torch.allclose(half.float(), exact, rtol=1e-2)


def test_leave_one_out_accuracy_classifies_each_sample_by_its_nearest_other(gen):
    x = torch.randn(12, 3, generator=gen)
    y = torch.randint(0, 3, (12,), generator=gen)
    hits = 0
    for i in range(12):
        others = [j for j in range(12) if j != i]
        nearest = min(others, key=lambda j: (float((x[i] - x[j]).norm()), j))
        hits += int(y[nearest] == y[i])
    assert leave_one_out_accuracy(x, y) == pytest.approx(hits / 12)
    # a sample's own label never counts: duplicated points with two labels score 0
    twins = torch.tensor([[0.0], [0.0], [5.0], [5.0]])
    assert leave_one_out_accuracy(twins, torch.tensor([0, 1, 0, 1])) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out_accuracy(x[:1], y[:1])
    with pytest.raises(ValueError):
        leave_one_out_accuracy(x, y[:5])


def test_time_series_candidates_are_chosen_on_the_training_split(monkeypatch):
    import contrastor.recipes.timeseries as ts
    from contrastor.data.timeseries import load_series
    from contrastor.recipes import get_recipe
    from contrastor.run.loop import RunContext

    tiny = {**get_recipe("timeseries").tiny, "datasets": "gunpoint", "epochs": 1}
    options = ts.TimeSeriesOptions(**tiny, candidates="mask=0.25; lr=0.01,alpha=1")
    labels = [label for label, _ in options.alternatives()]
    assert labels == ["as given", "mask=0.25", "lr=0.01,alpha=1"]
    assert options.alternatives()[2][1].lr == 0.01 and options.alternatives()[2][1].alpha == 1
    for bad in ("mask", "seed=3", "nope=1", "mask=1.5"):
        with pytest.raises(ValueError):
            ts.TimeSeriesOptions(**tiny, candidates=bad).validate()
    # the scores are the training labels' leave-one-out accuracy; a tie keeps the earlier
    scores = iter([0.5, 0.9, 0.9])
    seen = []

    def score(x, y):
        seen.append(y)
        return next(scores)

    monkeypatch.setattr(ts, "leave_one_out_accuracy", score)
    data = load_series("gunpoint")
    context = RunContext(progress=False)
    _, chosen, _, note = ts.pretrain_and_choose(data, options, context)
    assert all(torch.equal(y, data.train.y) for y in seen) and len(seen) == 3
    assert note.startswith("gunpoint: mask=0.25 chosen") and "as given 0.500" in note
    _, direct, _ = ts.pretrain(data, options.alternatives()[1][1], context)
    assert all(torch.equal(v, direct.state_dict()[k]) for k, v in chosen.state_dict().items())


def test_test_sizes_count_each_official_test_split():
    from contrastor.data.timeseries import TEST_SIZES, UCR, load_series

    assert set(TEST_SIZES) == set(UCR)
    for name, size in TEST_SIZES.items():
        assert len(load_series(name).test.y) == size
