"""``contrastor eval``: metrics of saved embeddings (.npy or .safetensors), or of a text
model on a BEIR-layout retrieval set (graded qrels)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import Tensor


def load_tensor(path: str, key: str | None = None) -> Tensor:
    """Read a ``.npy`` array or one tensor of a ``.safetensors`` file (``key``, or its only one)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if p.suffix == ".npy":
        import numpy as np

        return torch.from_numpy(np.load(p, allow_pickle=False))
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(p))
        if key is None:
            if len(tensors) != 1:
                raise ValueError(f"{path} holds {sorted(tensors)}: say which with --key")
            return next(iter(tensors.values()))
        if key not in tensors:
            raise ValueError(f"{path} has no tensor {key!r}; it holds {sorted(tensors)}")
        return tensors[key]
    raise ValueError(f"{path}: expected a .npy or .safetensors file")


def _embeddings_and_labels(
    path: str, labels: str | None, key: str | None, labels_key: str
) -> tuple[Tensor, Tensor | None]:
    """Embeddings, and labels from ``labels`` or from the same .safetensors file."""
    if path.endswith(".safetensors") and key is None:
        from safetensors.torch import load_file

        tensors = load_file(path)
        key = "embeddings" if "embeddings" in tensors else None
        if labels is None and labels_key in tensors:
            return load_tensor(path, key or next(k for k in tensors if k != labels_key)), tensors[
                labels_key
            ]
    emb = load_tensor(path, key)
    return emb, load_tensor(labels) if labels else None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="metrics of saved embeddings",
        description=(
            "Evaluate embeddings saved as .npy or .safetensors. With labels: leave-one-out "
            "retrieval (Recall@K, MRR@K, nDCG@K, mAP@R), kNN accuracy and geometry. With "
            "--gallery: retrieval of the embeddings (queries) against the gallery; labels are "
            "class ids or pair ids, and without them query i matches gallery row i. With "
            "--beir FOLDER: a text model (--model: a text run folder, a transformers model "
            "folder, or the packaged MiniLM) encodes the set's queries and corpus and is "
            "scored against its graded qrels (nDCG@K, MRR@K, Recall@K, MAP@K, Success@K), "
            "per Matryoshka dimension with --dims."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("embeddings", nargs="?", help="(n, d) embeddings: .npy, or .safetensors")
    parser.add_argument(
        "--labels", metavar="FILE", help="(n,) labels or pair ids (.npy/.safetensors)"
    )
    parser.add_argument(
        "--gallery", metavar="FILE", help="(m, d) gallery embeddings to retrieve from"
    )
    parser.add_argument("--gallery-labels", metavar="FILE", help="(m,) gallery labels or pair ids")
    parser.add_argument(
        "--key", help="tensor name inside a .safetensors file (default: 'embeddings')"
    )
    parser.add_argument(
        "--labels-key", default="labels", help="labels tensor inside a .safetensors file"
    )
    parser.add_argument(
        "--k", default="1,5,10", help="comma-separated cut-offs for Recall/MRR/nDCG"
    )
    parser.add_argument("--knn-k", type=int, default=20, help="neighbours for kNN accuracy")
    parser.add_argument("--similarity", choices=("cosine", "dot"), default="cosine")
    beir = parser.add_argument_group("retrieval sets in the BEIR layout")
    beir.add_argument(
        "--beir", metavar="FOLDER", help="corpus.jsonl, queries.jsonl, qrels/<split>.tsv"
    )
    beir.add_argument("--split", default="test", help="which qrels file")
    beir.add_argument(
        "--model", metavar="PATH", help="text run folder or transformers model folder"
    )
    beir.add_argument("--method", help="which trained model of a text run (default the last)")
    beir.add_argument("--dims", help="comma-separated leading dimensions to score (Matryoshka)")
    beir.add_argument("--backend", choices=("exact", "faiss"), default="exact")
    beir.add_argument("--batch-size", type=int, default=64, help="texts encoded at once")
    parser.add_argument("--json", metavar="FILE", help="also write the metrics as JSON")
    parser.set_defaults(run=run)


def _cutoffs(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"--k must be comma-separated integers, got {text!r}") from exc
    if not ks or min(ks) < 1:
        raise ValueError(f"--k must be positive integers, got {text!r}")
    return ks


def evaluate_beir(args: argparse.Namespace) -> dict[str, float]:
    """A text model's retrieval metrics on a BEIR folder, per dimension with ``--dims``."""
    from contrastor.cli.runs import text_model
    from contrastor.retrieval import Encoder, qrels_metrics, read_beir

    data = read_beir(args.beir, args.split)
    encoder = Encoder(text_model(args.model, args.method), normalize=False)
    encode = {"batch_size": args.batch_size, "convert_to_tensor": True}
    queries = encoder.encode(data.query_texts, **encode)
    corpus = encoder.encode(data.corpus_texts, **encode)
    dims = _cutoffs(args.dims) if args.dims else [queries.shape[1]]
    ks = _cutoffs(args.k)
    metrics: dict[str, float] = {"queries": len(data.query_ids), "documents": len(data.corpus_ids)}
    for dim in dims:
        if dim > queries.shape[1]:
            raise ValueError(f"--dims: {dim} exceeds the model's {queries.shape[1]} dimensions")
        scores = qrels_metrics(
            queries[:, :dim],
            corpus[:, :dim],
            data.query_ids,
            data.corpus_ids,
            data.qrels,
            ks=ks,
            similarity=args.similarity,
            backend=args.backend,
        )
        prefix = f"d{dim}/" if args.dims else ""
        metrics.update({prefix + name: value for name, value in scores.items()})
    return metrics


def evaluate(args: argparse.Namespace) -> dict[str, float]:
    if args.beir:
        return evaluate_beir(args)
    if args.embeddings is None:
        raise ValueError("give an embeddings file, or --beir FOLDER with a text model")
    from contrastor.eval import (
        effective_rank,
        knn_accuracy,
        retrieval_metrics,
        similarity_gap,
        uniformity_score,
    )

    ks = _cutoffs(args.k)
    emb, labels = _embeddings_and_labels(args.embeddings, args.labels, args.key, args.labels_key)
    emb = emb.float()
    metrics: dict[str, float] = {"samples": emb.shape[0], "dimensions": emb.shape[1]}
    if args.gallery:
        gallery, gallery_labels = _embeddings_and_labels(
            args.gallery, args.gallery_labels, args.key, args.labels_key
        )
        gallery = gallery.float()
        if (labels is None) != (gallery_labels is None):
            raise ValueError("give labels for both the queries and the gallery, or for neither")
        metrics.update(
            retrieval_metrics(
                emb, gallery, labels, gallery_labels, ks=ks, similarity=args.similarity
            )
        )
        if labels is None and emb.shape[0] == gallery.shape[0]:
            metrics.update(similarity_gap(emb, y=gallery))
        metrics["effective_rank"] = effective_rank(emb)
        metrics["gallery_effective_rank"] = effective_rank(gallery)
        return metrics
    if labels is not None:
        metrics.update(
            retrieval_metrics(
                emb, emb, labels, labels, ks=ks, similarity=args.similarity, exclude_self=True
            )
        )
        metrics["knn_accuracy"] = knn_accuracy(
            emb, labels, emb, labels, k=args.knn_k, similarity=args.similarity, exclude_self=True
        )
        metrics.update(similarity_gap(emb, labels))
    metrics["effective_rank"] = effective_rank(emb)
    metrics["uniformity"] = uniformity_score(emb)
    return metrics


def run(args: argparse.Namespace) -> int:
    metrics = evaluate(args)
    width = max(len(k) for k in metrics) + 2
    for name, value in metrics.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{name.ljust(width)}{text:>12}")
    if args.json:
        Path(args.json).write_text(json.dumps(metrics, indent=1))
    return 0
