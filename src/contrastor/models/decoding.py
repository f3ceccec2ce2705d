"""Decoding with contrast for causal language models: contrastive decoding (expert minus
amateur) and contrastive search (likelihood minus degeneration)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def contrastive_decoding_scores(
    expert_logits: Tensor, amateur_logits: Tensor, *, alpha: float = 0.1
) -> Tensor:
    """Next-token scores ``log p_E(v) - log p_A(v)`` on the expert's plausible tokens
    ``{v : p_E(v) >= alpha * max_w p_E(w)}`` and ``-inf`` elsewhere, so a greedy or beam
    search prefers what the large model knows and the small one does not. Li et al.,
    "Contrastive Decoding: Open-ended Text Generation as Optimization", ACL 2023 (alpha 0.1).

    Args:
        expert_logits, amateur_logits: ``(..., vocabulary)`` logits of the same positions.
    """
    if expert_logits.shape != amateur_logits.shape:
        raise ValueError("expert and amateur logits must have the same shape")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    expert = F.log_softmax(expert_logits.float(), dim=-1)
    amateur = F.log_softmax(amateur_logits.float(), dim=-1)
    head = expert >= expert.amax(-1, keepdim=True) + torch.log(torch.tensor(alpha))
    return torch.where(head, expert - amateur, -torch.inf)


@torch.no_grad()
def contrastive_search(
    model: nn.Module,
    input_ids: Tensor,
    *,
    max_new_tokens: int,
    top_k: int = 4,
    penalty_alpha: float = 0.6,
) -> Tensor:
    """Greedy contrastive search with a Hugging Face causal LM: among the ``top_k`` most
    likely next tokens, pick

        x_t = argmax_v (1 - alpha) p(v | x_<t) - alpha max_{j < t} cos(h_v, h_j)

    with ``h`` the last hidden states, so a token whose representation repeats the context
    is passed over (degeneration penalty). Su et al., "A Contrastive Framework for Neural
    Text Generation" (SimCTG), NeurIPS 2022 (k 4-10, alpha 0.6). Without a KV cache: each
    step runs the context and the k candidates; meant for evaluation and small models.

    Args:
        model: a causal LM returning ``logits`` and ``hidden_states`` (``transformers``).
        input_ids: ``(batch, T)`` prompts (no padding).
    Returns: ``(batch, T + max_new_tokens)``.
    """
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise ValueError("input_ids must be a non-empty (batch, T) tensor")
    if top_k < 1 or not 0.0 <= penalty_alpha <= 1.0 or max_new_tokens < 0:
        raise ValueError("need top_k >= 1, penalty_alpha in [0, 1] and max_new_tokens >= 0")
    ids = input_ids
    for _ in range(max_new_tokens):
        out = model(ids, output_hidden_states=True)
        context = F.normalize(out.hidden_states[-1].float(), dim=-1)  # (b, T, d)
        probs = out.logits[:, -1].float().softmax(-1)
        top_p, top_v = probs.topk(top_k, dim=-1)  # (b, k)
        b, k = top_v.shape
        candidates = torch.cat([ids.repeat_interleave(k, 0), top_v.reshape(-1, 1)], 1)
        last = model(candidates, output_hidden_states=True).hidden_states[-1][:, -1]
        last = F.normalize(last.float(), dim=-1).reshape(b, k, -1)
        penalty = torch.einsum("bkd,btd->bkt", last, context).amax(-1)
        score = (1.0 - penalty_alpha) * top_p - penalty_alpha * penalty
        ids = torch.cat([ids, top_v.gather(1, score.argmax(-1, keepdim=True))], 1)
    return ids
