"""The retrieval kit: search, mining, duplicate-safe labels, qrels metrics (against
trec_eval through pytrec_eval), Matryoshka training, distillation and guided false-negative
filtering, dense, tiled and across gloo ranks."""

from __future__ import annotations

import math
import os
import traceback

import pytest
import torch
import torch.distributed as dist
from torch import nn

import contrastor.functional as CF
from contrastor import losses as L
from contrastor.engine.similarity import prepare
from contrastor.noise import false_negative_mask, guide_suspects
from contrastor.retrieval import (
    BeirSet,
    Encoder,
    duplicate_safe_labels,
    mine_hard_negatives,
    qrels_metrics,
    read_beir,
    run_metrics,
    search,
    text_keys,
    write_beir,
)
from contrastor.scale import CachedEncoder
from tests.ranks import spawn_ranks


def _brute_topk(q, c, k):
    scores = prepare(q.double(), "cosine") @ prepare(c.double(), "cosine").T
    return scores.topk(k, dim=1)


# ---------------------------------------------------------------- search


@pytest.mark.parametrize("chunk", [7, 8192])
def test_exact_search_is_the_brute_force_top_k(gen, chunk):
    q, c = torch.randn(30, 12, generator=gen), torch.randn(101, 12, generator=gen)
    scores, idx = search(q, c, 9, corpus_chunk=chunk, query_chunk=4)
    best = _brute_topk(q, c, 9)
    assert torch.equal(idx, best.indices)
    assert torch.allclose(scores.double(), best.values, atol=1e-6)


def test_faiss_flat_returns_the_exact_neighbours(gen):
    pytest.importorskip("faiss")
    q, c = torch.randn(40, 16, generator=gen), torch.randn(300, 16, generator=gen)
    for similarity in ("cosine", "dot"):
        exact = search(q, c, 10, similarity=similarity)
        flat = search(q, c, 10, similarity=similarity, backend="faiss")
        assert torch.equal(exact[1], flat[1])
        assert torch.allclose(exact[0], flat[0], atol=1e-5)
    own = torch.arange(40)
    exact = search(q, c, 5, exclude=own)
    flat = search(q, c, 5, exclude=own, backend="faiss")
    assert torch.equal(exact[1], flat[1]) and not bool((exact[1] == own[:, None]).any())


def test_search_refuses_bad_input(gen):
    q = torch.randn(3, 4, generator=gen)
    with pytest.raises(ValueError, match="embedding sizes"):
        search(q, torch.randn(5, 6), 2)
    with pytest.raises(ValueError, match="backend"):
        search(q, q, 2, backend="annoy")
    with pytest.raises(ValueError, match="k must be positive"):
        search(q, q, 0)


# ---------------------------------------------------------------- qrels metrics


def _random_qrels_run(seed: int, queries: int = 25, docs: int = 60):
    g = torch.Generator().manual_seed(seed)
    qrels, run = {}, {}
    for i in range(queries):
        judged = torch.randperm(docs, generator=g)[: int(torch.randint(1, 12, (1,), generator=g))]
        grades = torch.randint(0, 4, (len(judged),), generator=g)
        grades[0] = max(int(grades[0]), 1)  # at least one relevant document
        qrels[f"q{i}"] = {f"d{int(d)}": int(s) for d, s in zip(judged, grades, strict=True)}
        retrieved = torch.randperm(docs, generator=g)[
            : int(torch.randint(5, docs, (1,), generator=g))
        ]
        scores = torch.rand(len(retrieved), generator=g, dtype=torch.float64)
        run[f"q{i}"] = {f"d{int(d)}": float(s) for d, s in zip(retrieved, scores, strict=True)}
    return qrels, run


def _truncated(run, k):
    return {q: dict(sorted(docs.items(), key=lambda x: -x[1])[:k]) for q, docs in run.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_run_metrics_equal_trec_eval(seed):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels, run = _random_qrels_run(seed)
    ks = (1, 5, 10, 20)
    ours = run_metrics(run, qrels, ks=ks, per_query=True)["per_query"]
    cuts = ",".join(map(str, ks))
    measures = {f"{m}.{cuts}" for m in ("recall", "P", "ndcg_cut", "map_cut", "success")}
    full = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    names = {
        "recall": "recall_{}",
        "precision": "P_{}",
        "ndcg": "ndcg_cut_{}",
        "map": "map_cut_{}",
        "success": "success_{}",
    }
    for k in ks:
        for ours_name, trec_name in names.items():
            for query, value in ours[f"{ours_name}@{k}"].items():
                expected = full[query][trec_name.format(k)]
                assert math.isclose(value, expected, abs_tol=1e-9), (ours_name, k, query)
        cut = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(_truncated(run, k))
        for query, value in ours[f"mrr@{k}"].items():
            assert math.isclose(value, cut[query]["recip_rank"], abs_tol=1e-9), (k, query)


def test_embedding_metrics_equal_the_run_of_their_scores(gen):
    q, c = torch.randn(20, 8, generator=gen), torch.randn(50, 8, generator=gen)
    query_ids, corpus_ids = [f"q{i}" for i in range(20)], [f"d{j}" for j in range(50)]
    qrels = {f"q{i}": {f"d{(3 * i + t) % 50}": 1 + t for t in range(3)} for i in range(19)}
    qrels["q19"] = {"d0": 0}  # judged, none relevant: left out and counted
    got = qrels_metrics(q, c, query_ids, corpus_ids, qrels, ks=(1, 10), corpus_chunk=16)
    scores = prepare(q.double(), "cosine") @ prepare(c.double(), "cosine").T
    run = {
        qi: {d: float(scores[i, j]) for j, d in enumerate(corpus_ids)}
        for i, qi in enumerate(query_ids)
    }
    expected = run_metrics(run, qrels, ks=(1, 10))
    for name in ("ndcg@10", "mrr@10", "recall@10", "map@10", "success@1", "precision@1"):
        assert math.isclose(got[name], expected[name], abs_tol=1e-9), name
    assert got["queries"] == 19 and got["queries_without_relevant"] == 1


def test_beir_folder_round_trip_and_errors(tmp_path):
    data = BeirSet(
        ["d1", "d2", "d3"],
        ["alpha beta", "gamma", "delta"],
        ["q1", "q2"],
        ["first query", "second query"],
        {"q1": {"d1": 2, "d3": 1}, "q2": {"d2": 1}},
    )
    back = read_beir(write_beir(tmp_path / "set", data))
    assert back == data
    (tmp_path / "set" / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tnope\t1\n"
    )
    with pytest.raises(ValueError, match=r"test.tsv:2: expected a known"):
        read_beir(tmp_path / "set")
    with pytest.raises(FileNotFoundError, match="no qrels for split 'dev'"):
        read_beir(tmp_path / "set", split="dev")
    with pytest.raises(FileNotFoundError, match=r"corpus\.jsonl"):
        read_beir(tmp_path)


# ---------------------------------------------------------------- mining


def _line_up(scores: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """One query e0 and corpus rows whose cosine with it is exactly ``scores``."""
    rows = [[s, math.sqrt(max(0.0, 1 - s * s))] for s in scores]
    return torch.tensor([[1.0, 0.0]], dtype=torch.float64), torch.tensor(rows, dtype=torch.float64)


def test_miner_rules_are_applied_in_order_and_counted():
    # row 0 is the positive (0.8); row 1 duplicates it; rows 2.. are candidates by score
    q, c = _line_up([0.8, 0.8, 0.95, 0.79, 0.77, 0.7, 0.6, 0.5, 0.5, 0.4, 0.3])
    keys = torch.tensor([0, 0, 2, 3, 4, 5, 6, 7, 7, 9, 10])
    mined = mine_hard_negatives(
        q,
        c,
        torch.tensor([0]),
        k=3,
        rank_range=(1, 7),
        absolute_margin=0.02,
        relative_margin=0.1,
        corpus_keys=keys,
    )
    # ranking after positive and duplicate: 2 (0.95), 3, 4, 5, 6, 7, [8 dup of 7], 9, ...
    # rank 0 (row 2) is before the window; row 3 (0.79 > 0.78) fails the absolute margin;
    # row 4 (0.77 > 0.72) fails the relative margin; rows 5, 6, 7 survive
    assert mined.indices.tolist() == [[5, 6, 7]]
    assert mined.rejected == {
        "positive": 2,
        "duplicate": 1,
        "rank_window": 1,
        "absolute_margin": 1,
        "relative_margin": 1,
    }
    assert "rejected: positive 2" in mined.summary()


def test_miner_sampling_several_positives_and_backends(gen):
    q, c = torch.randn(12, 16, generator=gen), torch.randn(200, 16, generator=gen)
    positives = [[i, i + 100] for i in range(12)]
    top = mine_hard_negatives(q, c, positives, k=4, rank_range=(2, 30))
    for i, rows in enumerate(top.indices.tolist()):
        ranked = [
            j for j in _brute_topk(q[i : i + 1], c, 40).indices[0].tolist() if j not in positives[i]
        ]
        assert rows == ranked[2:6]
    a = mine_hard_negatives(
        q, c, positives, k=4, sampling="random", generator=torch.Generator().manual_seed(3)
    )
    b = mine_hard_negatives(
        q, c, positives, k=4, sampling="random", generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(a.indices, b.indices) and not torch.equal(a.indices, top.indices)
    assert a.anchor_negatives(c).shape == (12, 4, 16)
    pytest.importorskip("faiss")
    flat = mine_hard_negatives(q, c, positives, k=4, rank_range=(2, 30), backend="faiss")
    assert torch.equal(flat.indices, top.indices)


def test_miner_reports_short_lists_and_bad_input(gen):
    q, c = torch.randn(4, 8, generator=gen), torch.randn(6, 8, generator=gen)
    mined = mine_hard_negatives(q, c, torch.arange(4), k=3, rank_range=(0, 2))
    assert mined.found.tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="fewer than 3 mined negatives"):
        mined.anchor_negatives(c)
    assert set(mined.references().tolist()) <= set(range(6))
    with pytest.raises(ValueError, match="rank_range"):
        mine_hard_negatives(q, c, torch.arange(4), rank_range=(3, 3))
    with pytest.raises(ValueError, match="no positive"):
        mine_hard_negatives(q, c, [[0], [], [1], [2]])
    with pytest.raises(ValueError, match="corpus rows"):
        mine_hard_negatives(q, c, torch.tensor([0, 1, 2, 9]))


# ---------------------------------------------------------------- duplicate-safe labels


def test_text_keys_are_stable_and_fold_case_and_space():
    keys = text_keys(["A  b", "a b", "a c"])
    assert keys[0] == keys[1] != keys[2]
    assert text_keys(["x"]).tolist() == text_keys(["x"]).tolist()
    assert text_keys(["A"], normalize=False) != text_keys(["a"], normalize=False)


def _groups_by_hand(queries, documents):
    """Pairs joined by a shared query or document, transitively (the slow way)."""
    n = len(queries)
    group = list(range(n))
    changed = True
    while changed:
        changed = False
        for i in range(n):
            for j in range(n):
                if (queries[i] == queries[j] or documents[i] == documents[j]) and group[i] != group[
                    j
                ]:
                    group[i] = group[j] = min(group[i], group[j])
                    changed = True
    return group


def test_duplicate_safe_labels_group_shared_queries_and_documents():
    queries = ["q1", "q2", "q1", "q3", "q4", "q5"]
    documents = ["a", "b", "c", "c", "d", "a"]
    labels, reference = duplicate_safe_labels(
        text_keys(queries), text_keys(documents), text_keys(["d", "zz"])
    )
    group = _groups_by_hand(queries, documents)
    for i in range(6):
        for j in range(6):
            assert (labels[i] == reference[j]) == (group[i] == group[j]), (i, j)
    assert reference[6] == labels[4]  # the extra duplicates document "d"
    assert not bool((reference[7] == labels).any())


def test_duplicate_safe_loss_dense_equals_tiled_and_the_masked_reference(gen):
    q, d = (
        torch.randn(10, 8, generator=gen, dtype=torch.float64),
        torch.randn(12, 8, generator=gen, dtype=torch.float64),
    )
    queries = [f"q{i}" for i in range(10)]
    documents = [f"d{i}" for i in range(10)]
    documents[7] = documents[2]  # the same document twice
    queries[5] = queries[1]  # the same query twice
    labels, reference = duplicate_safe_labels(
        text_keys(queries), text_keys(documents), text_keys(["d2", "x"])
    )
    dense = CF.info_nce(
        q, d, labels=labels, reference_labels=reference, temperature=0.2, reduction="none"
    )
    tiled = CF.info_nce(
        q,
        d,
        labels=labels,
        reference_labels=reference,
        temperature=0.2,
        reduction="none",
        execution="tiled",
        tile_size=3,
    )
    assert torch.allclose(dense, tiled, atol=1e-12)
    logits = prepare(q, "cosine") @ prepare(d, "cosine").T / 0.2
    positive = labels[:, None] == reference[None, :]
    expected = torch.logsumexp(logits, 1) - (logits * positive).sum(1) / positive.sum(1)
    assert torch.allclose(dense, expected, atol=1e-12)
    assert (
        positive[2, 7] and positive[7, 2] and positive[2, 10] and positive[1, 5] and positive[5, 1]
    )


# ---------------------------------------------------------------- Matryoshka


def test_matryoshka_is_the_weighted_sum_of_prefix_losses(gen):
    q, r = torch.randn(9, 16, generator=gen), torch.randn(9, 16, generator=gen)
    inner = L.InfoNCE(0.1, symmetric=True)
    wrapped = L.Matryoshka(inner, dims=(16, 8, 4), weights=(1.0, 0.5, 0.25))
    expected = inner(q, r) + 0.5 * inner(q[:, :8], r[:, :8]) + 0.25 * inner(q[:, :4], r[:, :4])
    assert torch.allclose(wrapped(q, r), expected)
    assert set(wrapped.last_losses) == {16, 8, 4}
    views = L.Matryoshka(L.SupCon(0.1), dims=(16, 4))
    z, y = torch.randn(9, 2, 16, generator=gen), torch.randint(0, 3, (9,), generator=gen)
    assert torch.allclose(views(z, y), L.SupCon(0.1)(z, y) + L.SupCon(0.1)(z[..., :4], y))
    negatives = torch.randn(9, 3, 16, generator=gen)
    plain = CF.info_nce(q[:, :4], r[:, :4], temperature=0.1, anchor_negatives=negatives[..., :4])
    got = L.Matryoshka(L.InfoNCE(0.1), dims=(4,))(q, r, anchor_negatives=negatives)
    assert torch.allclose(got, plain)
    weights = torch.rand(9, generator=gen)
    out = wrapped(q, r, weights=weights, return_output=True)
    each = [inner(q[:, :k], r[:, :k], weights=weights, return_output=True) for k in (16, 8, 4)]
    assert torch.allclose(out.loss, each[0].loss + 0.5 * each[1].loss + 0.25 * each[2].loss)
    assert torch.allclose(
        out.per_anchor, each[0].per_anchor + 0.5 * each[1].per_anchor + 0.25 * each[2].per_anchor
    )
    own = L.Matryoshka(CF.info_nce, dims=(16, 4), temperatures=(0.1, 0.3))(q, r, temperature=0.05)
    each_own = CF.info_nce(q, r, temperature=0.1) + CF.info_nce(q[:, :4], r[:, :4], temperature=0.3)
    assert torch.allclose(own, each_own)
    with pytest.raises(ValueError, match="one positive temperature per dimension"):
        L.Matryoshka(inner, dims=(16, 4), temperatures=(0.1,))
    with pytest.raises(ValueError, match="distinct positive"):
        L.Matryoshka(inner, dims=(8, 8))
    with pytest.raises(ValueError, match="no embedding input is 32 wide"):
        L.Matryoshka(inner, dims=(32, 8))(q, r)


def test_matryoshka_tiled_and_cached_equal_plain(gen):
    xa, xb = torch.randn(24, 12, generator=gen), torch.randn(24, 12, generator=gen)

    def grads(cached: bool, execution: str):
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 16))
        embed = CachedEncoder(encoder, 5) if cached else encoder
        loss = L.Matryoshka(
            L.InfoNCE(0.2, symmetric=True, execution=execution, tile_size=4), dims=(16, 8, 2)
        )
        loss(embed(xa), embed(xb)).backward()
        return [p.grad.clone() for p in encoder.parameters()]

    plain = grads(False, "dense")
    for cached, execution in ((False, "tiled"), (True, "dense"), (True, "tiled")):
        for a, b in zip(plain, grads(cached, execution), strict=True):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), (cached, execution)


# ---------------------------------------------------------------- distillation


def _lists(gen, n=5, k=4, d=6):
    q = torch.randn(n, d, generator=gen, dtype=torch.float64)
    docs = torch.randn(n, k, d, generator=gen, dtype=torch.float64)
    teacher = 5 * torch.randn(n, k, generator=gen, dtype=torch.float64)
    return q, docs, teacher


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def test_margin_mse_matches_a_float64_reference(gen):
    q, docs, teacher = _lists(gen)
    got = CF.margin_mse(q, docs, teacher, temperature=0.1, reduction="none")
    for i in range(5):
        s = [_cos(q[i].tolist(), docs[i, j].tolist()) / 0.1 for j in range(4)]
        t = teacher[i].tolist()
        expected = sum(((s[0] - s[j]) - (t[0] - t[j])) ** 2 for j in range(1, 4)) / 3
        assert math.isclose(float(got[i]), expected, rel_tol=1e-12)
    assert torch.autograd.gradcheck(
        lambda a: CF.margin_mse(a, docs, teacher, temperature=0.1), (q.requires_grad_(),)
    )
    with pytest.raises(ValueError, match="at least one negative"):
        CF.margin_mse(q, docs[:, :1], teacher[:, :1])
    with pytest.raises(ValueError, match="teacher_scores must have shape"):
        CF.margin_mse(q, docs, teacher[:, :3])


def test_distill_kl_matches_a_float64_reference(gen):
    q, docs, teacher = _lists(gen)
    got = CF.distill_kl(
        q, docs, teacher, temperature=0.2, teacher_temperature=2.0, reduction="none"
    )
    for i in range(5):
        s = [_cos(q[i].tolist(), docs[i, j].tolist()) / 0.2 for j in range(4)]
        t = [x / 2.0 for x in teacher[i].tolist()]
        ls, lt = math.log(sum(math.exp(x) for x in s)), math.log(sum(math.exp(x) for x in t))
        p = [math.exp(x - lt) for x in t]
        expected = sum(pj * ((tj - lt) - (sj - ls)) for pj, tj, sj in zip(p, t, s, strict=True))
        assert math.isclose(float(got[i]), expected, rel_tol=1e-10, abs_tol=1e-12)
    assert torch.autograd.gradcheck(
        lambda a: CF.distill_kl(a, docs, teacher), (q.requires_grad_(),)
    )
    # a student whose scores are the teacher's (at matched temperatures) has zero loss
    unit = torch.nn.functional.normalize(
        torch.randn(3, 4, dtype=torch.float64, generator=gen), dim=1
    )
    lists = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    assert float(CF.distill_kl(unit, lists, unit / 0.5, temperature=0.5)) < 1e-12


# ---------------------------------------------------------------- guided false negatives


def test_guide_suspects_margins_match_the_dense_rule(gen):
    g_q, g_r = torch.randn(12, 8, generator=gen), torch.randn(12, 8, generator=gen)
    g_r[3] = g_q[3]  # a near-duplicate of query 3 among the references
    scores = prepare(g_q, "cosine") @ prepare(g_r, "cosine").T
    positive = scores.diagonal()
    expected = (scores > positive[:, None] - 0.1) | (scores > 0.9 * positive[:, None])
    expected.fill_diagonal_(False)
    mask = false_negative_mask(g_q, g_r, absolute_margin=0.1, relative_margin=0.1)
    assert torch.equal(mask, expected)
    found = guide_suspects(g_q, g_r, absolute_margin=0.1, relative_margin=0.1)
    assert torch.equal(found.dense() > 0, expected)
    assert torch.equal(found.block(slice(2, 7), slice(5, 12)) > 0, expected[2:7, 5:12])


@pytest.mark.parametrize("mode", ["eliminate", "attract"])
def test_cancellation_with_guide_suspects_dense_tiled_and_mask_agree(gen, mode):
    q, r = (
        torch.randn(10, 8, generator=gen, dtype=torch.float64),
        torch.randn(10, 8, generator=gen, dtype=torch.float64),
    )
    guide = r + 0.3 * torch.randn(10, 8, generator=gen, dtype=torch.float64)
    found = guide_suspects(q, guide, absolute_margin=0.3)
    mask = found.dense() > 0
    assert bool(mask.any())
    run = {"mode": mode, "temperature": 0.3, "reduction": "none"}
    dense = CF.false_negative_cancellation(q, r, found, **run)
    tiled = CF.false_negative_cancellation(q, r, found, execution="tiled", tile_size=3, **run)
    from_mask = CF.false_negative_cancellation(q, r, mask, **run)
    assert torch.allclose(dense, tiled, atol=1e-12) and torch.allclose(dense, from_mask, atol=1e-12)


# ---------------------------------------------------------------- across ranks

N_RANK = 6


def _rank_data():
    g = torch.Generator().manual_seed(11)
    xa, xb = torch.randn(2 * N_RANK, 12, generator=g), torch.randn(2 * N_RANK, 12, generator=g)
    queries = [f"q{i % 9}" for i in range(2 * N_RANK)]  # queries 0-2 repeat on rank 1
    documents = [f"d{i}" for i in range(2 * N_RANK)]
    documents[8] = documents[1]  # a document of rank 0 again on rank 1
    return xa, xb, queries, documents


def _kit_losses(encoder, xa, xb, queries, documents, gather: bool):
    za, zb = encoder(xa), encoder(xb)
    labels, reference = duplicate_safe_labels(
        text_keys(queries), text_keys(documents), gather_distributed=gather
    )
    safe = L.InfoNCE(0.2, gather_distributed=gather, execution="tiled", tile_size=4)
    matryoshka = L.Matryoshka(
        L.InfoNCE(0.2, symmetric=True, gather_distributed=gather), dims=(8, 4)
    )
    found = guide_suspects(za.detach(), zb.detach(), absolute_margin=0.2, gather_distributed=gather)
    cancel = CF.false_negative_cancellation(
        za,
        zb,
        found,
        temperature=0.2,
        execution="tiled",
        tile_size=4,
        exchange=safe.run_options()["exchange"],
    )
    return safe(za, zb, labels=labels, reference_labels=reference) + matryoshka(za, zb) + cancel


def _kit_worker(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    try:
        xa, xb, queries, documents = _rank_data()
        rows = slice(rank * N_RANK, (rank + 1) * N_RANK)
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 8))
        loss = _kit_losses(encoder, xa[rows], xb[rows], queries[rows], documents[rows], True)
        loss.backward()
        grads = [p.grad.clone() for p in encoder.parameters()]
        for grad in grads:
            dist.all_reduce(grad)
            grad /= world
        queue.put((rank, [g.numpy() for g in grads]))
    except Exception:
        queue.put((rank, traceback.format_exc()))
    finally:
        dist.destroy_process_group()


def test_duplicate_safe_matryoshka_and_guided_cancellation_across_ranks():
    results = spawn_ranks(_kit_worker, 2)
    xa, xb, queries, documents = _rank_data()
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 8))
    _kit_losses(encoder, xa, xb, queries, documents, False).backward()
    for rank, grads in results.items():
        assert not isinstance(grads, str), grads
        for got, p in zip(grads, encoder.parameters(), strict=True):
            assert torch.allclose(torch.from_numpy(got), p.grad, rtol=1e-4, atol=1e-6), rank


# ---------------------------------------------------------------- encode() for MTEB


class _Bag(nn.Module):
    """Texts to a bag of character codes through one linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(128, 6)

    def forward(self, texts):
        bags = torch.zeros(len(texts), 128)
        for i, text in enumerate(texts):
            for ch in text:
                bags[i, ord(ch) % 128] += 1
        return self.linear(bags)


def test_encoder_follows_the_encode_contract():
    model = _Bag().train()
    encoder = Encoder(model, dim=4, prefixes={"query": "query: "})
    out = encoder.encode(["abc", "de", "f"], batch_size=2, show_progress_bar=False, task_name="x")
    assert out.shape == (3, 4) and out.dtype.name == "float32"
    assert abs(float((out**2).sum(1).max()) - 1.0) < 1e-5
    assert model.training  # restored
    single = encoder.encode("abc")
    assert single.shape == (1, 4)
    with torch.no_grad():
        expected = nn.functional.normalize(model(["query: abc"])[:, :4], dim=1)
    got = encoder.encode(["abc"], prompt_name="query", convert_to_tensor=True)
    assert torch.allclose(got, expected, atol=1e-6)
    with pytest.raises(ValueError, match="dim 9 exceeds"):
        Encoder(model, dim=9).encode(["a"])


# ---------------------------------------------------------------- contrastor eval --beir


def test_contrastor_eval_scores_a_model_on_a_beir_folder(tmp_path, capsys):
    import json

    from contrastor.cli.main import main
    from contrastor.models.text import TextEncoder
    from tests.tiny_models import tiny_bert

    pytest.importorskip("transformers")
    model = tiny_bert(tmp_path / "bert")
    words = ["sort", "list", "read", "file", "parse", "json", "open", "socket", "join", "path"]
    corpus = [f"{a} {b}" for a in words for b in words[:3]]
    data = BeirSet(
        [f"d{j}" for j in range(len(corpus))],
        corpus,
        ["q0", "q1", "q2"],
        ["sort list", "read file", "open socket"],
        {"q0": {"d1": 2, "d2": 1}, "q1": {"d10": 1}, "q2": {"d21": 1, "d0": 0}},
    )
    folder = write_beir(tmp_path / "set", data)
    out = tmp_path / "m.json"
    args = ["eval", "--beir", str(folder), "--model", str(model), "--k", "1,10", "--dims", "32,8"]
    assert main([*args, "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["queries"] == 3 and got["documents"] == len(corpus)
    encoder = TextEncoder(model).eval()
    with torch.no_grad():
        q, c = encoder(data.query_texts), encoder(data.corpus_texts)
    for dim in (32, 8):
        expected = qrels_metrics(
            q[:, :dim], c[:, :dim], data.query_ids, data.corpus_ids, data.qrels, ks=(1, 10)
        )
        for name in ("ndcg@10", "mrr@10", "recall@10", "map@10"):
            assert math.isclose(got[f"d{dim}/{name}"], expected[name], abs_tol=1e-6), (dim, name)
    assert "d8/ndcg@10" in capsys.readouterr().out
    assert main(["eval", "--beir", str(folder), "--model", str(model), "--dims", "64"]) == 2
    assert "64 exceeds the model's 32 dimensions" in capsys.readouterr().err


def test_cutoffs_deeper_than_the_corpus(gen):
    q, c = torch.randn(3, 4, generator=gen), torch.randn(2, 4, generator=gen)
    qrels = {"q0": {"d0": 1, "d1": 2}, "q1": {"d1": 1}, "q2": {"d0": 3}}
    got = qrels_metrics(q, c, ["q0", "q1", "q2"], ["d0", "d1"], qrels, ks=(1, 10))
    assert got["recall@10"] == 1.0 and got["success@10"] == 1.0
    scores = prepare(q, "cosine") @ prepare(c, "cosine").T
    run = {f"q{i}": {f"d{j}": float(scores[i, j]) for j in range(2)} for i in range(3)}
    expected = run_metrics(run, qrels, ks=(1, 10))
    assert all(math.isclose(got[k], expected[k], abs_tol=1e-9) for k in ("ndcg@10", "map@10"))


def test_matryoshka_self_distillation_adds_the_prefix_kl(gen):
    q = torch.randn(6, 8, generator=gen, dtype=torch.float64)
    r = torch.randn(6, 8, generator=gen, dtype=torch.float64)
    plain = L.Matryoshka(CF.info_nce, (8, 4, 2), (1.0, 1.0, 2.0))
    kd = L.Matryoshka(
        CF.info_nce, (8, 4, 2), (1.0, 1.0, 2.0), self_distill=0.5, distill_temperature=0.1
    )

    def log_p(dim):
        a, b = (torch.nn.functional.normalize(x[:, :dim], dim=1) for x in (q, r))
        return torch.log_softmax(a @ b.T / 0.1, dim=1)

    teacher = log_p(8)
    kl = [(teacher.exp() * (teacher - log_p(d))).sum(1).mean() for d in (4, 2)]
    expected = plain(q, r) + 0.5 * (1.0 * kl[0] + 2.0 * kl[1])
    torch.testing.assert_close(kd(q, r), expected)
    with pytest.raises(ValueError, match="self_distill"):
        L.Matryoshka(CF.info_nce, (8, 4), self_distill=-1.0)
