"""Text views (ESimCSE repetition, Contriever cropping, EDA), token contrast (SimCTG),
contrastive decoding and contrastive search on a tiny random language model."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor.data.views import EasyDataAugmentation, IndependentCropping, WordRepetition
from contrastor.models.decoding import contrastive_decoding_scores, contrastive_search

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "again"]


def test_word_repetition_doubles_a_bounded_number_of_tokens():
    for seed in range(20):
        out = WordRepetition(rate=0.32)(WORDS, torch.Generator().manual_seed(seed))
        extra = len(out) - len(WORDS)
        assert 0 <= extra <= max(2, int(0.32 * len(WORDS)))
        kept = iter(out)
        assert all(any(w == k for k in kept) for w in WORDS)  # the text is a subsequence
        doubled = sum(a == b for a, b in itertools.pairwise(out))
        assert doubled >= extra
    assert WordRepetition()([], torch.Generator()) == []


def test_independent_crops_are_spans_of_the_allowed_length():
    g = torch.Generator().manual_seed(0)
    crop = IndependentCropping(0.2, 0.5)
    text = [str(i) for i in range(40)]
    for _ in range(30):
        span = crop(text, g)
        assert 8 <= len(span) <= 20
        start = int(span[0])
        assert span == text[start : start + len(span)]
    with pytest.raises(ValueError, match="low"):
        IndependentCropping(0.6, 0.5)


def test_eda_edits():
    g = torch.Generator().manual_seed(3)
    synonyms = {"quick": ["fast", "rapid"], "lazy": ["idle"]}
    eda = EasyDataAugmentation(alpha=0.2, synonyms=synonyms)
    swapped = eda.apply("swap", WORDS, g)
    assert sorted(swapped) == sorted(WORDS) and swapped != WORDS
    state = g.get_state()
    deleted = eda.apply("delete", WORDS, g)
    draws = torch.rand(len(WORDS), generator=torch.Generator().set_state(state))
    expected = [w for w, u in zip(WORDS, draws.tolist(), strict=True) if u >= 0.2]
    assert deleted == expected and len(expected) < len(WORDS)  # each word dropped w.p. alpha
    replaced = eda.apply("replace", WORDS, g)
    changed = [(a, b) for a, b in zip(WORDS, replaced, strict=True) if a != b]
    assert changed and all(b in synonyms[a] for a, b in changed)
    inserted = eda.apply("insert", WORDS, g)
    assert len(inserted) > len(WORDS)
    assert set(inserted) - set(WORDS) <= {"fast", "rapid", "idle"}
    assert EasyDataAugmentation().edits() == ("swap", "delete")
    with pytest.raises(ValueError, match="edit must be"):
        eda.apply("shuffle", WORDS, g)


def test_token_contrastive_matches_the_pairwise_hinge(gen):
    hidden = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    unit = F.normalize(hidden, dim=-1)
    sums, counts = [], []
    for b in range(2):
        real = [i for i in range(4) if mask[b, i]]
        terms = [
            max(0.0, 0.5 - 1.0 + float(unit[b, i] @ unit[b, j]))
            for i in real
            for j in real
            if i != j
        ]
        sums.append(sum(terms))
        counts.append(len(terms))
    got = CF.token_contrastive(hidden, mask, reduction="none")
    torch.testing.assert_close(
        got, torch.tensor([s / c for s, c in zip(sums, counts, strict=True)], dtype=torch.float64)
    )
    total = CF.token_contrastive(hidden, mask)
    assert float(total) == pytest.approx(sum(sums) / sum(counts))
    leaf = hidden.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda h: CF.token_contrastive(h, mask, margin=2.0), (leaf,))
    with pytest.raises(ValueError, match="two real tokens"):
        CF.token_contrastive(hidden, torch.zeros(2, 4, dtype=torch.bool))


def test_contrastive_decoding_keeps_the_plausible_head():
    expert = torch.tensor([[2.0, 1.9, -3.0, 0.0]])
    amateur = torch.tensor([[2.5, 0.0, 0.0, 0.0]])
    scores = contrastive_decoding_scores(expert, amateur, alpha=0.1)
    pe, pa = expert.log_softmax(-1), amateur.log_softmax(-1)
    head = pe.exp() >= 0.1 * pe.exp().max()
    assert head.tolist() == [[True, True, False, True]]
    torch.testing.assert_close(scores[head], (pe - pa)[head])
    assert bool(torch.isneginf(scores[~head]).all())
    assert int(scores.argmax()) == 1  # the expert's runner-up, which the amateur does not know
    with pytest.raises(ValueError, match="same shape"):
        contrastive_decoding_scores(expert, amateur[:, :3])


@pytest.fixture(scope="module")
def tiny_lm():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=40, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    return transformers.GPT2LMHeadModel(config).eval()


def test_contrastive_search_without_penalty_is_greedy(tiny_lm):
    prompt = torch.tensor([[1, 5, 7], [2, 3, 4]])
    ours = contrastive_search(tiny_lm, prompt, max_new_tokens=5, top_k=4, penalty_alpha=0.0)
    ids = prompt
    for _ in range(5):
        ids = torch.cat([ids, tiny_lm(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(ours, ids)


def test_contrastive_search_step_by_candidate(tiny_lm):
    prompt = torch.tensor([[3, 9, 9, 4]])
    ours = contrastive_search(tiny_lm, prompt, max_new_tokens=1, top_k=5, penalty_alpha=0.6)
    with torch.no_grad():
        out = tiny_lm(prompt, output_hidden_states=True)
        context = out.hidden_states[-1][0]
        probs = out.logits[0, -1].softmax(-1)
        best, chosen = -math.inf, None
        for v in probs.topk(5).indices.tolist():
            h = tiny_lm(torch.tensor([[*prompt[0].tolist(), v]]), output_hidden_states=True)
            last = h.hidden_states[-1][0, -1]
            penalty = max(float(F.cosine_similarity(last, c, dim=0)) for c in context)
            score = 0.4 * float(probs[v]) - 0.6 * penalty
            if score > best:
                best, chosen = score, v
    assert ours[0, -1].item() == chosen
