"""Research losses outside the generic softmax cases: redundancy reduction, predictive and
Z-loss, MoCo with a queue and mixed hard negatives, and the state modules they rely on."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.state import FeatureQueue, MomentumEncoder, PerSampleState
from contrastor.train.config import TrainConfig
from contrastor.train.objectives import build_objective
from tests import reference as ref


def _randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("lam", [0.0, 5e-3, 0.3])
def test_barlow_twins_matches_reference(lam, gen):
    a, b = _randn(gen, 7, 4), _randn(gen, 7, 4)
    got = CF.barlow_twins(a, b, off_diagonal_weight=lam)
    assert math.isclose(float(got), ref.barlow_twins(a, b, lam), rel_tol=1e-10)
    _, terms = CF.barlow_twins(a, b, off_diagonal_weight=lam, return_terms=True)
    assert math.isclose(float(terms["on_diagonal"]), ref.barlow_twins(a, b, 0.0), rel_tol=1e-10)


def test_vicreg_matches_reference(gen):
    a, b = _randn(gen, 6, 5), _randn(gen, 6, 5) * 0.3
    assert math.isclose(float(CF.vicreg(a, b)), ref.vicreg(a, b), rel_tol=1e-10)
    got = CF.vicreg(a, b, invariance_weight=1.0, variance_weight=2.0, covariance_weight=0.5)
    assert math.isclose(float(got), ref.vicreg(a, b, 1.0, 2.0, 0.5), rel_tol=1e-10)


@pytest.mark.parametrize("fn", [CF.barlow_twins, CF.vicreg], ids=["barlow", "vicreg"])
def test_redundancy_gradcheck_and_errors(fn, gen):
    a = _randn(gen, 5, 3).requires_grad_(True)
    b = _randn(gen, 5, 3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: fn(x, y), (a, b), eps=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        fn(a[:1], b[:1])
    with pytest.raises(ValueError, match="same number of rows"):
        fn(a, b[:4])
    with pytest.raises(ValueError, match="embedding sizes"):
        fn(a, b[:, :2])
    bad = a.detach().clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fn(bad, b)


def test_barlow_twins_is_minimal_for_identical_whitened_views(gen):
    # identical views with decorrelated features: C is the identity, the loss is ~0
    x = _randn(gen, 64, 8)
    q, _ = torch.linalg.qr(x - x.mean(0))
    z = q * math.sqrt(64)
    assert float(CF.barlow_twins(z, z)) < 1e-6
    assert float(CF.barlow_twins(z, _randn(gen, 64, 8))) > 1.0


def test_z_loss_matches_reference_and_is_shift_scale_invariant(gen):
    logits, target = _randn(gen, 6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
    got = CF.z_loss(logits, target, a=2.0, b=0.5, reduction="none")
    expected = ref.z_loss(logits, target, 2.0, 0.5)
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-10)
    moved = CF.z_loss(3.0 * logits + 7.0, target, a=2.0, b=0.5, reduction="none")
    assert torch.allclose(moved, got, rtol=1e-10)
    x = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: CF.z_loss(t, target), (x,), eps=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="class ids"):
        CF.z_loss(logits, torch.tensor([0, 5, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match="two classes"):
        CF.z_loss(logits[:, :1], target)
    assert torch.allclose(L.ZLoss(a=2.0, b=0.5)(logits, target), got.mean())


def test_predictive_cosine_stops_the_target_gradient(gen):
    p, t = _randn(gen, 5, 4).requires_grad_(True), _randn(gen, 5, 4).requires_grad_(True)
    CF.predictive_cosine(p, t).backward()
    assert t.grad is None and p.grad is not None
    p1, p2, t1, t2 = (_randn(gen, 5, 4) for _ in range(4))
    sym = L.PredictiveCosine()(p1, p2, t1, t2)
    one = CF.predictive_cosine(p1, t2) + CF.predictive_cosine(p2, t1)
    assert torch.allclose(sym, 0.5 * one)
    with pytest.raises(ValueError, match="same shape"):
        CF.predictive_cosine(p1, t1[:4])


def test_debiased_without_prior_or_concentration_is_nt_xent_for_two_views(gen):
    z = _randn(gen, 7, 2, 5)
    plain = CF.debiased_contrastive(z, temperature=0.3, class_prior=0.0, concentration=0.0)
    assert torch.allclose(plain, CF.nt_xent(z, temperature=0.3), rtol=1e-10)
    with pytest.raises(ValueError, match="class_prior"):
        CF.debiased_contrastive(z, class_prior=1.0)
    with pytest.raises(ValueError, match="no negatives"):
        CF.debiased_contrastive(z, torch.zeros(7, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 views"):
        CF.mv_dhel(z[:, :1])


def test_anchor_negatives_enter_each_denominator(gen):
    q, r, extra = _randn(gen, 4, 3), _randn(gen, 6, 3), _randn(gen, 4, 2, 3)
    got = CF.info_nce(q, r, temperature=0.2, anchor_negatives=extra, reduction="none")
    for i in range(4):
        refs = torch.cat([r, extra[i]])
        pos = [[1.0 if j == i else 0.0 for j in range(8)]]
        expected = ref.info_nce(q[i : i + 1], refs, 0.2, pos)[0]
        assert math.isclose(float(got[i]), expected, rel_tol=1e-10)
    with pytest.raises(ValueError, match="anchor_negatives"):
        CF.info_nce(q, r, anchor_negatives=extra[:3])


def test_mixed_hard_negatives(gen):
    q, negs = _randn(gen, 5, 6), _randn(gen, 20, 6)
    cos = nn.functional.normalize(q, dim=1) @ nn.functional.normalize(negs, dim=1).T
    exclude = cos.argmax(1)  # each query's hardest negative plays its positive
    g = torch.Generator().manual_seed(0)
    out = CF.mix_hard_negatives(
        q, negs, hardest=1, mixed=3, query_mixed=2, exclude=exclude, generator=g
    )
    assert out.shape == (5, 5, 6) and not out.requires_grad
    assert torch.allclose(out.norm(dim=-1), torch.ones(5, 5, dtype=out.dtype))
    second = cos.scatter(1, exclude[:, None], float("-inf")).argmax(1)
    hardest = nn.functional.normalize(negs[second], dim=1)
    # with one hardest negative, a mix of it with itself is itself
    assert torch.allclose(out[:, :3], hardest[:, None].expand(5, 3, 6))
    # query-mixed points lie between the query and that negative: closer to the query
    qn = nn.functional.normalize(q, dim=1)
    closer = (out[:, 3:] * qn[:, None]).sum(-1) >= (hardest * qn).sum(-1)[:, None] - 1e-12
    assert bool(closer.all())
    with pytest.raises(ValueError, match="at least one"):
        CF.mix_hard_negatives(q, negs, mixed=0, query_mixed=0)


def test_feature_queue_is_fifo_and_checkpointed(gen):
    queue = FeatureQueue(5, 2)
    assert queue.features_in_use().shape == (0, 2)
    first, second = _randn(gen, 3, 2).float(), _randn(gen, 4, 2).float()
    queue.enqueue(first, labels=torch.tensor([0, 1, 2]))
    queue.enqueue(second)
    # slots 0-2 got `first`, then 3, 4, 0, 1 got `second`: first[2] is the only survivor
    expected = torch.stack([second[2], second[3], first[2], second[0], second[1]])
    assert torch.equal(queue.features_in_use(), expected)
    assert queue.labels_in_use().tolist() == [-1, -1, 2, -1, -1]
    restored = FeatureQueue(5, 2)
    restored.load_state_dict(queue.state_dict())
    assert torch.equal(restored.features_in_use(), expected) and int(restored.pointer) == 2
    with pytest.raises(ValueError, match="dimension"):
        queue.enqueue(_randn(gen, 2, 3).float())


def test_momentum_encoder_moves_towards_online():
    online = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    target = MomentumEncoder(online, momentum=0.9)
    before = target.target[0].weight.clone()
    with torch.no_grad():
        online[0].weight.add_(1.0)
    online(torch.randn(4, 3))  # moves the batch-norm statistics and counter
    target.update(online)
    assert torch.allclose(target.target[0].weight, 0.9 * before + 0.1 * online[0].weight)
    assert int(target.target[1].num_batches_tracked) == 1
    assert not any(p.requires_grad for p in target.parameters())
    target.update(online, momentum=0.0)
    assert torch.equal(target.target[0].weight, online[0].weight)
    assert MomentumEncoder.cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert MomentumEncoder.cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)


def test_momentum_ramps_to_one_over_the_run_and_resumes_from_its_count():
    online = nn.Linear(3, 2)
    ramped = MomentumEncoder(online, momentum=0.9, total_steps=4)
    moved = []
    for _ in range(5):
        before = ramped.target.weight.clone()
        with torch.no_grad():
            online.weight.add_(1.0)
        ramped.update(online)
        # the share of the online weights taken this step is 1 - momentum
        share = ((ramped.target.weight - before) / (online.weight - before)).detach()
        moved.append(float(share.mean()))
    expected = [1 - MomentumEncoder.cosine_momentum(0.9, k, 4) for k in range(5)]
    assert moved == pytest.approx(expected, abs=1e-6)
    assert moved[0] == pytest.approx(0.1) and moved[-1] == pytest.approx(0.0, abs=1e-7)
    copy = MomentumEncoder(online, momentum=0.9, total_steps=4)
    copy.load_state_dict(ramped.state_dict())
    assert int(copy.updates) == 5
    with pytest.raises(ValueError, match="total_steps"):
        MomentumEncoder(online, total_steps=0)


def test_the_image_task_builds_byol_with_a_ramp_and_siglip_for_its_batch():
    config = TrainConfig(loss="byol", epochs=3, batch_size=50)
    model = nn.Linear(3, 2)
    target = build_objective(config, model, dataset_size=260).target
    assert target.momentum == 0.996 and target.total_steps == 3 * 5
    siglip = build_objective(TrainConfig(loss="siglip", batch_size=128), model, 1000).loss
    assert float(siglip.bias) == pytest.approx(-math.log(128))
    assert isinstance(siglip.bias, nn.Parameter) and siglip.temperature.learnable
    assert float(siglip.temperature()) == pytest.approx(0.1)
    moco = build_objective(TrainConfig(loss="moco"), model, 1000).target
    assert moco.momentum == 0.99 and moco.total_steps is None


def test_per_sample_state_reads_writes_and_restores():
    state = PerSampleState(10, u=(), v=(2,))
    state.fill("u", 0.5)
    index = torch.tensor([3, 7])
    state.write("u", index, torch.tensor([1.0, 2.0]))
    state.write("v", index, torch.ones(2, 2))
    assert state.read("u", torch.tensor([3, 7, 0])).tolist() == [1.0, 2.0, 0.5]
    assert state.was_seen(torch.tensor([3, 0])).tolist() == [True, False]
    other = PerSampleState(10, u=(), v=(2,))
    other.load_state_dict(state.state_dict())
    assert torch.equal(other.u, state.u) and torch.equal(other.seen, state.seen)
    with pytest.raises(ValueError, match="out of range"):
        state.read("u", torch.tensor([10]))
    with pytest.raises(ValueError, match="shape"):
        state.write("v", index, torch.ones(2))


def test_direct_predictor_sets_its_weight_from_the_correlation(gen):
    predictor = L.DirectPredictor(4, rho=0.3, eps=0.1, every=1).double()
    f = _randn(gen, 50, 4) * torch.tensor([3.0, 1.0, 0.5, 0.1], dtype=torch.float64)
    out = predictor(f)
    corr = f.T @ f / 50
    assert torch.allclose(predictor.correlation, corr)
    s, u = torch.linalg.eigh(corr)
    p = torch.sqrt(s / s.max()) + 0.1
    assert torch.allclose(predictor.weight, u @ torch.diag(p) @ u.T)
    assert torch.allclose(out, f @ predictor.weight)  # the weight is set before it is used
    predictor(f)
    assert torch.allclose(predictor.correlation, corr)  # same batch: average unchanged
    predictor.eval()
    frozen = predictor.weight.clone()
    predictor(2 * f)
    assert torch.equal(predictor.weight, frozen)


def test_moco_queue_and_mixing(gen):
    moco = L.MoCo(0.2, queue_size=8, dim=3).double()
    moco.queue.features = moco.queue.features.double()
    q, k = _randn(gen, 4, 3), _randn(gen, 4, 3)
    tau = 0.2  # the number given: a fixed tau reaches the function exactly
    first = moco(q, k)
    assert math.isclose(float(first), float(CF.info_nce(q, k, temperature=tau)), rel_tol=1e-12)
    assert int(moco.queue.filled) == 4
    q2, k2 = _randn(gen, 4, 3), _randn(gen, 4, 3)
    second = moco(q2, k2)
    expected = CF.info_nce(q2, torch.cat([k2, k]), temperature=tau)
    assert math.isclose(float(second), float(expected), rel_tol=1e-12)
    mixing = L.MoCo(0.2, queue_size=8, dim=3, mixing={"hardest": 4, "mixed": 2, "query_mixed": 2})
    mixing = mixing.double()
    mixing.load_state_dict(moco.state_dict())
    mixing.eval()
    more = mixing(q2, k2, generator=torch.Generator().manual_seed(0))
    plain = moco.eval()(q2, k2)
    assert float(more) > float(plain)  # extra negatives only add to every denominator
    assert int(mixing.queue.filled) == 8


def _dcl_minus_log_n(z, tau):
    n = z.shape[0]
    return CF.dcl(z, temperature=tau, reduction="none") - math.log(2 * n - 2)


def test_global_contrastive_first_visit_is_the_batch_loss(gen):
    z = _randn(gen, 6, 2, 4).requires_grad_(True)
    loss_fn = L.GlobalContrastive(10, 0.3)
    index = torch.tensor([9, 2, 4, 0, 7, 5])
    got = loss_fn(z, index=index)
    (grad,) = torch.autograd.grad(got, z)
    expected = _dcl_minus_log_n(z, 0.3).mean()
    (grad_expected,) = torch.autograd.grad(expected, z)
    assert torch.allclose(got, expected, rtol=1e-10)
    assert torch.allclose(grad, grad_expected, rtol=1e-8, atol=1e-12)
    assert (
        loss_fn.state.was_seen(index).all() and not loss_fn.state.was_seen(torch.tensor([1])).any()
    )


def test_global_contrastive_tracks_a_moving_average(gen):
    gamma, tau = 0.3, 0.5
    loss_fn = L.GlobalContrastive(6, tau, gamma=gamma)
    index = torch.arange(6)
    first, second = _randn(gen, 6, 2, 3), _randn(gen, 6, 2, 3).requires_grad_(True)
    loss_fn(first, index=index)
    got = loss_fn(second, index=index, return_output=True)
    (grad,) = torch.autograd.grad(got.loss, second)

    def batch_g(z):  # (n, V) mean_{negatives} exp(s / tau), from plain loops
        zn = nn.functional.normalize(z, dim=-1)
        out = torch.zeros(6, 2, dtype=torch.float64)
        for i in range(6):
            for v in range(2):
                terms = [
                    torch.exp(zn[i, v] @ zn[j, w] / tau)
                    for j in range(6)
                    for w in range(2)
                    if j != i
                ]
                out[i, v] = torch.stack(terms).mean()
        return out

    u = (1 - gamma) * batch_g(first) + gamma * batch_g(second.detach())
    zn = nn.functional.normalize(second, dim=-1)
    pos = (zn[:, 0] * zn[:, 1]).sum(-1, keepdim=True).expand(6, 2) / tau
    assert torch.allclose(got.per_anchor, -pos + torch.log(u), rtol=1e-10)
    surrogate = (-pos + batch_g(second) / u).mean()
    (expected,) = torch.autograd.grad(surrogate, second)
    assert torch.allclose(grad, expected, rtol=1e-8, atol=1e-12)
    assert torch.allclose(loss_fn.state.log_u, torch.log(u), rtol=1e-10)


def test_isogclr_moves_each_temperature_along_its_dro_gradient(gen):
    rho, lr, beta = 2.0, 0.05, 0.9
    loss_fn = L.GlobalContrastive(
        5, 0.4, individual_temperature=True, rho=rho, temperature_lr=lr, temperature_momentum=beta
    )
    z = _randn(gen, 5, 2, 3)
    index = torch.tensor([4, 3, 2, 1, 0])
    out = loss_fn(z, index=index, return_output=True)
    zn = nn.functional.normalize(z, dim=-1)
    grads = torch.zeros(5, 2, dtype=torch.float64)
    for i in range(5):
        for v in range(2):
            logits = torch.stack(
                [zn[i, v] @ zn[j, w] / 0.4 for j in range(5) for w in range(2) if j != i]
            )
            g = torch.exp(logits).mean()  # first visit: u = g
            grads[i, v] = torch.log(g) + rho - (torch.softmax(logits, 0) * logits).sum()
    step = beta * grads.mean(1).clamp(-3, 3)
    assert torch.allclose(loss_fn.temperatures()[index], 0.4 - lr * step, rtol=1e-10)
    pos = (zn[:, 0] * zn[:, 1]).sum(-1, keepdim=True) / 0.4
    log_u = loss_fn.state.log_u[index]
    assert torch.allclose(out.per_anchor, 0.4 * (-pos + log_u + rho), rtol=1e-10)


def test_global_contrastive_state_resumes_and_tiles(gen):
    a = L.GlobalContrastive(8, 0.3, individual_temperature=True, temperature_lr=0.1)
    z1, z2 = _randn(gen, 8, 2, 4), _randn(gen, 8, 2, 4)
    index = torch.arange(8)
    a(z1, index=index)
    b = L.GlobalContrastive(8, 0.3, individual_temperature=True, temperature_lr=0.1)
    b.load_state_dict(a.state_dict())
    c = L.GlobalContrastive(
        8, 0.3, individual_temperature=True, temperature_lr=0.1, execution="tiled", tile_size=3
    )
    c.load_state_dict(a.state_dict())
    x, y = z2.clone().requires_grad_(True), z2.clone().requires_grad_(True)
    la, lc = a(x, index=index), c(y, index=index)
    assert torch.allclose(la, b(z2, index=index), rtol=1e-12)
    assert torch.allclose(la, lc, rtol=1e-10)
    (gx,), (gy,) = torch.autograd.grad(la, x), torch.autograd.grad(lc, y)
    assert torch.allclose(gx, gy, rtol=1e-8, atol=1e-12)
    assert torch.allclose(a.temperatures(), c.temperatures(), rtol=1e-10)
    with pytest.raises(ValueError, match="index"):
        a(z2, index=index[:3])
    with pytest.raises(ValueError, match="views"):
        a(_randn(gen, 8, 3, 4), index=index)


def test_anchor_negatives_and_contrastive_gap_gradcheck(gen):
    q, r, extra = (_randn(gen, 4, 3).requires_grad_(True) for _ in range(3))
    negatives = torch.stack([extra, extra.flip(0)], 1)
    assert torch.autograd.gradcheck(
        lambda a, b, c: CF.info_nce(a, b, temperature=0.3, anchor_negatives=c),
        (q, r, negatives),
        atol=1e-7,
    )
    assert torch.autograd.gradcheck(
        lambda a, b: CF.contrastive_gap(a, b, temperature=0.3), (q, r), atol=1e-7
    )


HALF_CASES = {
    "barlow_twins": lambda a, b: CF.barlow_twins(a, b),
    "vicreg": lambda a, b: CF.vicreg(a, b),
    "z_loss": lambda a, b: CF.z_loss(a, torch.arange(a.shape[0]) % a.shape[1]),
    "contrastive_gap": lambda a, b: CF.contrastive_gap(a, b, temperature=0.01),
    "listwise": lambda a, b: CF.listwise_wasserstein(
        a, torch.stack([b, a.flip(0)], 1), torch.ones(a.shape[0], 2), temperature=0.01
    ),
    "amcl": lambda a, b: CF.amcl(
        a.reshape(len(a), 2, -1), b.reshape(len(b), 2, -1), torch.nn.Identity()
    ),
    "supremix": lambda a, b: CF.supremix(
        torch.stack([a, b], 1),
        torch.arange(a.shape[0]).float() % 5,
        temperature=0.01,
        generator=torch.Generator().manual_seed(0),
    ),
    "conr": lambda a, b: CF.conr(
        a, torch.arange(a.shape[0]).float(), torch.zeros(a.shape[0]), temperature=0.01
    ),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(HALF_CASES))
def test_half_precision_inputs_give_finite_losses_and_gradients(name, dtype, gen):
    a = _randn(gen, 32, 16).to(dtype).requires_grad_(True)
    b = _randn(gen, 32, 16).to(dtype)
    loss = HALF_CASES[name](a, b)
    loss.backward()
    assert torch.isfinite(loss) and bool(torch.isfinite(a.grad).all())
    exact = HALF_CASES[name](a.detach().double(), b.double())
    assert math.isclose(loss.item(), exact.item(), rel_tol=2e-2, abs_tol=2e-2)
