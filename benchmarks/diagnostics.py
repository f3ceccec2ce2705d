"""The diagnostics of ``contrastor.eval`` on bundled data: what they say about the packaged
all-MiniLM-L6-v2 on docstring-to-code pairs of the Python standard library (held-out
packages), written to ``docs/diagnostics.md``. Deterministic (no training), so one run.

- isotropy of sentence embeddings and of token states (within sequences), and the
  partition-function isotropy;
- the positive/negative similarity distributions of docstring-code pairs and their AUC,
  over all pairs and per query;
- how three losses on the same score matrix weigh the pairs (:func:`pair_gradients`): the
  softmax (InfoNCE), per-pair binary cross-entropy (the "SFT-like" pointwise objective) and
  the Mann-Whitney (AUC) loss;
- zero-shot classification of docstrings into their top-level package from package-name
  prompts, one prompt and a prompt ensemble (:func:`zero_shot_accuracy`);
- minimal-pair scores (:func:`minimal_pair_scores`) over pairs of functions of one module,
  each docstring with its own code against the other's.

    python benchmarks/diagnostics.py          # writes docs/diagnostics.md
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import contrastor.functional as CF
from contrastor.data.codesearch import split_by_module, stdlib_code_pairs
from contrastor.eval import (
    isotropy,
    minimal_pair_scores,
    pair_gradients,
    partition_isotropy,
    per_query_auc,
    similarity_distribution,
    zero_shot_accuracy,
)
from contrastor.models.text import TextEncoder

HERE = Path(__file__).parent
OUT = HERE.parent / "docs" / "diagnostics.md"
PAIRS = 256
TAU = 0.05
PROMPTS = (
    "{}",
    "Python standard library module {}",
    "a function from the {} package",
    "documentation of the {} library",
)


@torch.no_grad()
def _tokens(encoder: TextEncoder, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    batch = encoder.tokenize(texts)
    states = encoder.model(**batch).last_hidden_state
    return states, batch["attention_mask"].bool()


@torch.no_grad()
def _sentences(encoder: TextEncoder, texts: list[str]) -> torch.Tensor:
    return torch.cat([encoder(texts[i : i + 32]) for i in range(0, len(texts), 32)])


def _losses(n: int) -> dict[str, object]:
    eye = torch.eye(n, dtype=torch.bool)
    target = torch.arange(n)
    return {
        f"InfoNCE (tau {TAU})": lambda s: F.cross_entropy(s / TAU, target),
        "binary cross-entropy per pair": lambda s: F.binary_cross_entropy_with_logits(
            s / TAU, eye.double()
        ),
        # the library's AUC loss on the scores: identity queries against the scores' columns
        "Mann-Whitney (AUC)": lambda s: CF.mann_whitney(
            torch.eye(n, dtype=s.dtype), s.T, similarity="dot", temperature=TAU
        ),
    }


def measure(pairs: int = PAIRS) -> dict[str, object]:
    _, test = split_by_module(stdlib_code_pairs())
    test = test[:pairs]
    queries, codes = [p.query for p in test], [p.code for p in test]
    encoder = TextEncoder(max_length=128).eval()
    q, d = _sentences(encoder, queries), _sentences(encoder, codes)
    states, mask = _tokens(encoder, queries[:64])
    geometry = {
        "docstring embeddings": {
            "isotropy": isotropy(q),
            "partition isotropy": partition_isotropy(q),
        },
        "code embeddings": {"isotropy": isotropy(d), "partition isotropy": partition_isotropy(d)},
        "docstring token states (within sequences)": {"isotropy": isotropy(states, mask)},
    }
    spread = similarity_distribution(q, d)
    scores = (F.normalize(q.double(), dim=1) @ F.normalize(d.double(), dim=1).T).float()
    eye = torch.eye(len(q), dtype=torch.bool)
    query_auc = float(per_query_auc(scores, eye).nanmean())
    zero_shot = _zero_shot(encoder, test)
    minimal = _minimal_pairs(test, q, d)
    weights = {}
    for name, loss in _losses(len(q)).items():
        report = pair_gradients(loss, scores.double(), eye)
        weights[name] = {k: v for k, v in report.items() if k != "gradient"}
    return {
        "pairs": len(test),
        "geometry": geometry,
        "distribution": spread,
        "query_auc": query_auc,
        "weights": weights,
        "zero_shot": zero_shot,
        "minimal": minimal,
    }


def _zero_shot(encoder: TextEncoder, test: list) -> dict[str, dict[str, float]]:
    packages = sorted({p.module.split(".")[0] for p in test})
    labels = torch.tensor([packages.index(p.module.split(".")[0]) for p in test])
    docs = _sentences(encoder, [p.query for p in test])
    prompts = [[t.format(name) for t in PROMPTS] for name in packages]
    flat = _sentences(encoder, [t for group in prompts for t in group])
    ensemble = flat.reshape(len(packages), len(PROMPTS), -1)
    return {
        "classes": {"count": float(len(packages))},
        "package name alone": zero_shot_accuracy(docs, labels, ensemble[:, 0], ks=(1, 5)),
        f"ensemble of {len(PROMPTS)} prompts": zero_shot_accuracy(
            docs, labels, ensemble, ks=(1, 5)
        ),
    }


def _minimal_pairs(test: list, q: torch.Tensor, d: torch.Tensor) -> dict[str, float]:
    """Consecutive functions of one module as 2 x 2 items: (code a, code b) vs (doc a, doc b)."""
    first = [i for i in range(len(test) - 1) if test[i].module == test[i + 1].module][::2]
    index = torch.tensor([[i, i + 1] for i in first])
    scores = minimal_pair_scores(d[index], q[index])
    return {"items": float(len(first)), **scores}


def render(result: dict[str, object], seconds: float) -> str:
    lines = [
        "# Diagnostics on bundled data",
        "",
        "What the diagnostics of `contrastor.eval` report for the packaged all-MiniLM-L6-v2",
        f"(untrained here) on {result['pairs']} docstring-to-code pairs of held-out standard",
        "library packages. Generated by `python benchmarks/diagnostics.py` (deterministic:",
        "no training, so one run).",
        "",
        "## Isotropy",
        "",
        "| representation | isotropy (1 - mean cosine) | partition isotropy |",
        "| --- | --- | --- |",
    ]
    for name, row in result["geometry"].items():
        part = f"{row['partition isotropy']:.4f}" if "partition isotropy" in row else "-"
        lines.append(f"| {name} | {row['isotropy']:.4f} | {part} |")
    spread = result["distribution"]
    q = spread["positive_quantiles"], spread["negative_quantiles"]
    lines += [
        "",
        "## Docstring-code similarities",
        "",
        "| pairs | 5% | 25% | median | 75% | 95% |",
        "| --- | --- | --- | --- | --- | --- |",
        "| matching (positive) | " + " | ".join(f"{v:.3f}" for v in q[0]) + " |",
        "| other (negative) | " + " | ".join(f"{v:.3f}" for v in q[1]) + " |",
        "",
        f"AUC over all pairs {spread['auc']:.4f}; mean per-query AUC {result['query_auc']:.4f}.",
        "",
        "## How each loss weighs the pairs (gradient on the scores)",
        "",
        "| loss | mean abs(dL/ds), positives | mean abs(dL/ds), negatives | share of negative "
        "weight on the hardest 10% | pairs pushed the expected way |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in result["weights"].items():
        lines.append(
            f"| {name} | {row['positive_weight']:.3e} | {row['negative_weight']:.3e} | "
            f"{row['hard_negative_share']:.3f} | {row['expected_direction']:.3f} |"
        )
    zs = result["zero_shot"]
    lines += [
        "",
        f"## Zero-shot: docstring to its package ({zs['classes']['count']:.0f} packages)",
        "",
        "| class embeddings | top-1 | top-5 |",
        "| --- | --- | --- |",
    ]
    for name, row in zs.items():
        if name != "classes":
            lines.append(f"| {name} | {row['top1']:.4f} | {row['top5']:.4f} |")
    mp = result["minimal"]
    lines += [
        "",
        f"## Minimal pairs: two functions of one module ({mp['items']:.0f} items)",
        "",
        "| text score | input (code) score | group score |",
        "| --- | --- | --- |",
        f"| {mp['text']:.4f} | {mp['input']:.4f} | {mp['group']:.4f} |",
        "",
        "Text score: each code's own docstring ranks above the other's; input score: each",
        "docstring's own code ranks above the other's; group: both (Winoground's scores).",
        "",
        f"Measured on {platform.machine()}, torch {torch.__version__}, in {seconds:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    start = time.time()
    result = measure(args.pairs)
    args.out.write_text(render(result, time.time() - start))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
