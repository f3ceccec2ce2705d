"""Ship a trained encoder: a sentence-transformers folder for text encoders, and ONNX for
any encoder, each checked against PyTorch on the way out.

:func:`save_sentence_transformer` writes a folder that ``SentenceTransformer(folder)`` loads
(the transformer, mean pooling and an optional linear projection) and returns the largest
difference between its embeddings and the encoder's own on ``check`` texts.
:func:`export_onnx` writes an ``.onnx`` file (dynamic batch and sequence axes) and returns
the largest difference between onnxruntime's outputs and PyTorch's on the example input.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from contrastor.integrations.hf_trainer import MeanPooled


def save_sentence_transformer(
    encoder: nn.Module,
    folder: str | Path,
    *,
    projection: nn.Linear | None = None,
    check: Sequence[str] = ("a first sentence to compare", "and a second, longer one to compare"),
) -> float:
    """Save a :class:`~contrastor.models.text.TextEncoder` (anything with ``model``,
    ``tokenizer`` and ``max_length``; its own ``projection`` if it has one) and an optional
    further ``projection`` as a sentence-transformers folder; returns the max abs difference
    of the loaded folder's embeddings of ``check`` from the encoder's (eval mode)."""
    from sentence_transformers import SentenceTransformer, models

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as staging:
        encoder.model.save_pretrained(staging)
        encoder.tokenizer.save_pretrained(staging)
        transformer = models.Transformer(staging, max_seq_length=encoder.max_length)
        modules: list[nn.Module] = [transformer]
        modules.append(models.Pooling(transformer.get_word_embedding_dimension(), "mean"))
        for linear in (getattr(encoder, "projection", None), projection):
            if linear is not None:
                dense = models.Dense(
                    linear.in_features,
                    linear.out_features,
                    bias=linear.bias is not None,
                    activation_function=nn.Identity(),
                )
                dense.linear.load_state_dict(linear.state_dict())
                modules.append(dense)
        SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    loaded = SentenceTransformer(str(folder), device="cpu")
    got = loaded.encode(list(check), convert_to_tensor=True).float().cpu()
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        expected = encoder(list(check))
        if projection is not None:
            expected = projection(expected)
    encoder.train(was_training)
    return float((got - expected.float()).abs().max())


def export_onnx(
    module: nn.Module,
    example: Tensor | tuple[Tensor, ...],
    path: str | Path,
    *,
    input_names: Sequence[str] | None = None,
    dynamic: Sequence[Sequence[int]] | None = None,
) -> float:
    """Export ``module`` (eval mode) to ONNX at ``path`` and return the max abs difference of
    onnxruntime's output on ``example`` from PyTorch's. ``dynamic[i]`` lists the dynamic axes
    of input ``i`` (default: the first, the batch)."""
    import onnxruntime

    inputs = example if isinstance(example, tuple) else (example,)
    names = list(input_names or [f"input_{i}" for i in range(len(inputs))])
    axes = dynamic or [(0,) for _ in inputs]
    was_training = module.training
    module.eval()
    with torch.no_grad():
        expected = module(*inputs)
    torch.onnx.export(
        module,
        inputs,
        str(path),
        input_names=names,
        output_names=["output_embedding"],
        dynamic_axes={
            name: {axis: f"{name}_{axis}" for axis in dims}
            for name, dims in zip(names, axes, strict=True)
        }
        | {"output_embedding": {0: "batch"}},
        dynamo=True,
    )
    module.train(was_training)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: x.cpu().numpy() for name, x in zip(names, inputs, strict=True)}
    got = torch.from_numpy(session.run(None, feeds)[0])
    return float((got - expected.float().cpu()).abs().max())


def export_text_onnx(encoder: nn.Module, path: str | Path, texts: Sequence[str]) -> float:
    """A text encoder's transformer + mean pooling (+ its ``projection``, if any) to ONNX
    (inputs ``input_ids`` and ``attention_mask``, dynamic batch and length), checked on
    ``texts``."""
    tokens = encoder.tokenizer(list(texts), padding=True, return_tensors="pt")
    pooled = MeanPooled(encoder.model, getattr(encoder, "projection", None))
    return export_onnx(
        pooled,
        (tokens["input_ids"], tokens["attention_mask"]),
        path,
        input_names=["input_ids", "attention_mask"],
        dynamic=[(0, 1), (0, 1)],
    )
