"""The losses that do not fit the plain image task, each measured on a task shaped for it,
beside the natural baseline, on the bundled digits (8x8, 1,797 images), three seeds.

Tasks (encoder: SmallCNN width 16 + projection head to 64-d; AdamW lr 2e-3, warm-up +
cosine; batch 128; 25 epochs; stratified 20% held out, as ``contrastor train``):

  graded     a two-level hierarchy over the digits (an assigned grouping by shape: closed
             loops {0, 6, 8, 9}, straight strokes {1, 4, 7}, open curves {2, 3, 5});
             relevance 2 = same digit, 1 = same group, 0 = other. Trained with SupCon (digit
             labels), hierarchy-aware SupCon, ListNet and list-wise Wasserstein (W1) on each
             view's list of the batch's other-view images. Metrics: kNN accuracy of digits and
             of groups, and graded nDCG@10 of held-out queries against the training set.
  classify   a linear classification head on the encoder, one augmented view: cross-entropy
             vs the Z-loss; held-out accuracy.
  regress    rotated digits: target = rotation angle in [-60, 60] degrees, drawn skewed for
             training (Beta(1, 3): few large positive angles) and uniform for testing, as in
             imbalanced-regression work; L1 regression, L1 + ConR, and SupReMix pre-training
             followed by a least-squares head on the frozen features; test MAE in degrees,
             overall and on the rare third (angles above 20).
  transfer   two modalities: top halves (trained) and bottom halves (a frozen encoder
             pre-trained with NT-Xent on bottom halves, no labels). CLIP-style InfoNCE vs CWCL
             (targets from the frozen modality's own similarities; ``cwcl_centred``: from the
             frozen embeddings minus their training mean, so that the similarities spread
             instead of crowding near one value). Metrics: cross-modal
             Recall@1 of the exact partner; zero-shot accuracy (each held-out top half takes
             the digit whose mean frozen bottom-half embedding over the training split is
             nearest, the CWCL/LiT protocol with class means as prompts); kNN digit accuracy
             of the top-half encoder features. The alignment temperature of each method is
             chosen on a validation split of the training images (seed 0) by zero-shot
             accuracy (CWCL's targets only shape the scores at a high one).
  transfer_loose  the same, but each top half is paired with the bottom half of another
             image of the same digit, as a caption describes a kind of image rather than the
             one it came with: the continuous similarity CWCL is built for.

Runs go to ``benchmarks/results/structured_losses.jsonl`` (resumable); ``--report`` adds the
tables to ``docs/losses.md`` through ``loss_catalogue.py --report``.

    python benchmarks/structured_losses.py          # runs (resumable)
    python benchmarks/loss_catalogue.py --report    # docs/losses.md
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import contrastor.functional as CF
from contrastor.data.datasets import ImageDataset, load_image_dataset, validation_split
from contrastor.data.views.image import ImageViews
from contrastor.eval import embed_in_chunks, knn_accuracy, retrieval_metrics
from contrastor.models import ContrastiveModel, SmallCNN
from contrastor.recipes.loop import fit as recipe_fit
from contrastor.recipes.loop import shuffled_batches

sys.path.insert(0, str(Path(__file__).parent))
from training_runs import Results, machine, mean_spread

RESULTS = Path(__file__).parent / "results" / "structured_losses.jsonl"
SEEDS = (0, 1, 2)
EPOCHS, BATCH, WIDTH, DIM, TAU = 25, 128, 16, 64, 0.1
#: digit -> shape group: closed loops 0, straight strokes 1, open curves 2
GROUP = torch.tensor([0, 1, 2, 2, 1, 2, 0, 1, 0, 0])
MAX_ANGLE, RARE_ANGLE = 60.0, 20.0


def model(seed: int, in_features: int = 128) -> ContrastiveModel:
    torch.manual_seed(seed)
    return ContrastiveModel(SmallCNN(1, WIDTH, in_features), in_features, DIM)


def fit(
    modules: dict[str, nn.Module],
    n: int,
    seed: int,
    step: Callable[[Tensor, torch.Generator], Tensor],
) -> None:
    """``EPOCHS`` passes over ``n`` samples in shuffled batches; ``step(index, generator)``
    returns the batch loss."""
    recipe_fit(
        modules,
        shuffled_batches(n, BATCH),
        lambda index, loop: step(index, loop.generator),
        epochs=EPOCHS,
        lr=2e-3,
        warmup_epochs=2,
        seed=seed,
    )


def graded_ndcg(queries: Tensor, gallery: Tensor, relevance: Tensor, k: int = 10) -> float:
    """Mean nDCG@k with graded ``relevance`` ``(n, m)``, cosine scores."""
    scores = F.normalize(queries, dim=1) @ F.normalize(gallery, dim=1).T
    top = scores.topk(k, dim=1).indices
    discount = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    gains = 2.0 ** relevance.double() - 1
    dcg = (gains.gather(1, top) * discount).sum(1)
    ideal = (gains.sort(1, descending=True).values[:, :k] * discount).sum(1)
    return float((dcg / ideal.clamp_min(1e-12)).mean())


def grades(a: Tensor, b: Tensor) -> Tensor:
    """2 for the same digit, 1 for the same shape group, 0 otherwise."""
    same = a[:, None] == b[None, :]
    group = GROUP[a][:, None] == GROUP[b][None, :]
    return same.long() + group.long()


def graded(method: str, data: ImageDataset, seed: int) -> dict[str, float]:
    x, y = data.train_images, data.train_labels
    net, views = model(seed), ImageViews()
    paths = torch.stack([GROUP[y], y], 1)

    def step(idx: Tensor, g: torch.Generator) -> Tensor:
        z1, z2 = net(views(x[idx], g)), net(views(x[idx], g))
        if method == "supcon":
            return CF.supcon([z1, z2], y[idx], temperature=TAU)
        if method == "hierarchical_supcon":
            return CF.hierarchical_supcon([z1, z2], paths[idx], temperature=TAU)
        relevance = grades(y[idx], y[idx]).float()
        documents = z2.unsqueeze(0).expand(len(idx), -1, -1)
        if method == "listnet":
            return CF.listnet(z1, documents, relevance, temperature=TAU)
        return CF.listwise_wasserstein(z1, documents, relevance, temperature=TAU)

    fit({"net": net}, len(y), seed, step)
    train, test = (
        embed_in_chunks(net, net.features, x),
        embed_in_chunks(net, net.features, data.test_images),
    )
    yt = data.test_labels
    return {
        "knn": knn_accuracy(train, y, test, yt, k=20),
        "group_knn": knn_accuracy(train, GROUP[y], test, GROUP[yt], k=20),
        "ndcg@10": graded_ndcg(test, train, grades(yt, y)),
    }


def classify(method: str, data: ImageDataset, seed: int) -> dict[str, float]:
    x, y = data.train_images, data.train_labels
    net, views = model(seed), ImageViews()
    head = nn.Linear(net.encoder.feature_dim, 10)

    def step(idx: Tensor, g: torch.Generator) -> Tensor:
        logits = head(net.features(views(x[idx], g)))
        if method == "cross_entropy":
            return F.cross_entropy(logits, y[idx])
        return CF.z_loss(logits, y[idx])

    fit({"net": net, "head": head}, len(y), seed, step)
    logits = embed_in_chunks(net, lambda t: head(net.features(t)), data.test_images)
    return {"accuracy": float((logits.argmax(1) == data.test_labels).double().mean())}


def rotate(images: Tensor, degrees: Tensor) -> Tensor:
    angle = torch.deg2rad(degrees)
    cos, sin, zero = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)


def rotated(data: ImageDataset, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Training angles skewed towards -60 (Beta(1, 3)), test angles uniform."""
    g = torch.Generator().manual_seed(1000 + seed)
    skew = torch.distributions.Beta(1.0, 3.0).sample((len(data.train_labels),))
    train_angle = -MAX_ANGLE + 2 * MAX_ANGLE * skew
    test_angle = -MAX_ANGLE + 2 * MAX_ANGLE * torch.rand(len(data.test_labels), generator=g)
    return (
        rotate(data.train_images, train_angle),
        train_angle / MAX_ANGLE,
        rotate(data.test_images, test_angle),
        test_angle / MAX_ANGLE,
    )


def regress(method: str, data: ImageDataset, seed: int) -> dict[str, float]:
    torch.manual_seed(1000 + seed)
    x, t, xt, tt = rotated(data, seed)
    net = model(seed)
    # views that keep the angle: crops, shifts and photometric jitter, no rotation or shear
    views = ImageViews(rotation=0.0, shear=0.0, crop_scale=(0.7, 1.0))
    head = nn.Linear(net.encoder.feature_dim, 1)

    def step(idx: Tensor, g: torch.Generator) -> Tensor:
        if method == "supremix":
            z = torch.stack([net(views(x[idx], g)), net(views(x[idx], g))], 1)
            return CF.supremix(z, t[idx], temperature=TAU, generator=g)
        features = net.features(views(x[idx], g))
        prediction = head(features).squeeze(1)
        loss = F.l1_loss(prediction, t[idx])
        if method == "l1_conr":
            z = net.head(features)
            loss = loss + 0.2 * CF.conr(z, t[idx], prediction.detach(), threshold=0.05)
        return loss

    fit({"net": net, "head": head}, len(t), seed, step)
    if method == "supremix":
        f, ft = embed_in_chunks(net, net.features, x), embed_in_chunks(net, net.features, xt)
        design = torch.cat([f, torch.ones(len(f), 1)], 1).double()
        ridge = 1e-3 * torch.eye(design.shape[1], dtype=torch.float64)
        w = torch.linalg.solve(design.T @ design + ridge, design.T @ t.double())
        prediction = (torch.cat([ft, torch.ones(len(ft), 1)], 1).double() @ w).float()
    else:
        prediction = embed_in_chunks(net, lambda v: head(net.features(v)).squeeze(1), xt)
    error = (prediction - tt).abs() * MAX_ANGLE
    rare = tt * MAX_ANGLE > RARE_ANGLE
    return {"mae": float(error.mean()), "rare_mae": float(error[rare].mean())}


def halves(images: Tensor) -> tuple[Tensor, Tensor]:
    return images[:, :, :4], images[:, :, 4:]


def same_digit_partners(labels: Tensor, seed: int) -> Tensor:
    """For each sample, another sample of the same digit drawn at random (fixed per seed):
    pairs that agree on the class but not the instance, as a caption describes a kind of
    image rather than the one it came with."""
    g = torch.Generator().manual_seed(seed)
    partner = torch.empty_like(labels)
    for digit in labels.unique():
        cycle = (labels == digit).nonzero().flatten()
        cycle = cycle[torch.randperm(len(cycle), generator=g)]
        partner[cycle] = cycle.roll(-1)
    return partner


def transfer(
    method: str, data: ImageDataset, seed: int, loose: bool = False, temperature: float = TAU
) -> dict[str, float]:
    """``loose``: each top half is paired with the bottom half of another image of the same
    digit (:func:`same_digit_partners`) instead of its own; ``temperature``: of the
    alignment loss (the frozen modality is pre-trained at ``TAU``)."""
    top, bottom = halves(data.train_images)
    top_test, bottom_test = halves(data.test_images)
    if loose:
        bottom = bottom[same_digit_partners(data.train_labels, seed)]
        bottom_test = bottom_test[same_digit_partners(data.test_labels, seed)]
    views = ImageViews()
    frozen = model(seed + 100)

    def pretrain(idx: Tensor, g: torch.Generator) -> Tensor:
        return CF.nt_xent(
            [frozen(views(bottom[idx], g)), frozen(views(bottom[idx], g))], temperature=TAU
        )

    fit({"net": frozen}, len(top), seed, pretrain)
    frozen.requires_grad_(False)
    guide = embed_in_chunks(frozen, frozen, bottom)
    net = model(seed)

    # the frozen modality's similarities crowd around their mean (other digits' median
    # cosine 0.26: CWCL weights 0.6-0.9 for nearly every pair); centred, they spread
    weighting = guide - guide.mean(0) if method == "cwcl_centred" else guide
    same, other = target_weights(weighting, data.train_labels) if method != "clip" else (0, 0)

    def step(idx: Tensor, g: torch.Generator) -> Tensor:
        q = net(views(top[idx], g))
        if method == "clip":
            return CF.info_nce(q, guide[idx], temperature=temperature)
        return CF.cwcl(
            q, guide[idx], guide=weighting[idx], temperature=temperature, symmetric=False
        )

    fit({"net": net}, len(top), seed, step)
    q, r = embed_in_chunks(net, net, top_test), embed_in_chunks(frozen, frozen, bottom_test)
    train_features = embed_in_chunks(net, net.features, top)
    test_features = embed_in_chunks(net, net.features, top_test)
    return {
        "recall@1": retrieval_metrics(q, r, ks=(1,), map_at_r=False)["recall@1"],
        "zero_shot": zero_shot_accuracy(q, guide, data.train_labels, data.test_labels),
        "knn": knn_accuracy(train_features, data.train_labels, test_features, data.test_labels),
        "weight_same": same,
        "weight_other": other,
    }


def zero_shot_accuracy(
    queries: Tensor, guide: Tensor, guide_labels: Tensor, labels: Tensor
) -> float:
    """Zero-shot classification through the frozen modality, the protocol CWCL and LiT are
    measured by: each class is the mean unit embedding of its training samples in the frozen
    modality (the class "prompts"), and a query takes the class of the most similar one."""
    g = F.normalize(guide, dim=1)
    classes = int(guide_labels.max()) + 1
    prototypes = torch.zeros(classes, g.shape[1]).index_add_(0, guide_labels, g)
    scores = F.normalize(queries, dim=1) @ F.normalize(prototypes, dim=1).T
    return float((scores.argmax(1) == labels).float().mean())


def target_weights(guide: Tensor, labels: Tensor) -> tuple[float, float]:
    """Median CWCL weight ``(1 + cos) / 2`` of the training pairs of the same digit (each
    sample's own pair left out) and of different digits (CLIP's: 0 and 0)."""
    g = F.normalize(guide, dim=1)
    weights = (1 + g @ g.T) / 2
    same = labels[:, None] == labels[None]
    own = torch.eye(len(g), dtype=torch.bool)
    return float(weights[same & ~own].median()), float(weights[~same].median())


TASKS: dict[str, tuple[Callable[..., dict[str, float]], tuple[str, ...]]] = {
    "graded": (graded, ("supcon", "hierarchical_supcon", "listnet", "listwise_wasserstein")),
    "classify": (classify, ("cross_entropy", "zloss")),
    "regress": (regress, ("l1", "l1_conr", "supremix")),
    "transfer": (transfer, ("clip", "cwcl", "cwcl_centred")),
    "transfer_loose": (partial(transfer, loose=True), ("clip", "cwcl", "cwcl_centred")),
}
#: tasks whose alignment temperature is chosen per method on a validation split of the
#: training images (seed 0) by zero-shot accuracy, from these candidates
TEMPERATURES = {task: (0.1, 0.2, 0.5, 1.0, 2.0) for task in ("transfer", "transfer_loose")}
CHOICE_METRIC = "zero_shot"
METRICS = {
    "graded": (("knn", "digit kNN"), ("group_knn", "group kNN"), ("ndcg@10", "graded nDCG@10")),
    "classify": (("accuracy", "test accuracy"),),
    "regress": (("mae", "MAE (degrees)"), ("rare_mae", "MAE on rare angles > 20")),
    **{
        task: (
            ("recall@1", "cross-modal Recall@1"),
            ("zero_shot", "zero-shot accuracy"),
            ("knn", "top-half digit kNN"),
            ("weight_same", "median target weight, same digit"),
            ("weight_other", "median target weight, other digits"),
        )
        for task in ("transfer", "transfer_loose")
    },
}
TITLES = {
    "graded": "Graded relevance from a label hierarchy",
    "classify": "Classification head",
    "regress": "Imbalanced regression: rotation angle of rotated digits",
    "transfer": "Cross-modal transfer to a frozen modality",
    "transfer_loose": "Cross-modal transfer, pairs that share only the digit",
}


def _timed(run: Callable[..., dict[str, float]], *args, **kwargs) -> dict:
    started = time.perf_counter()
    metrics = run(*args, **kwargs)
    seconds = round(time.perf_counter() - started, 1)
    return {**metrics, "seconds": seconds, "machine": machine()}


def validation_scores(rows: list[dict], task: str, method: str) -> dict[float, float]:
    """Temperature -> validation ``CHOICE_METRIC`` of the runs made."""
    return {
        r["temperature"]: r[CHOICE_METRIC]
        for r in rows
        if (r["task"], r["method"], r.get("split")) == (task, method, "validation")
    }


def chosen_temperature(rows: list[dict], task: str, method: str) -> float | None:
    """The candidate of :data:`TEMPERATURES` with the best validation ``CHOICE_METRIC`` (the
    lower on a tie), once every candidate has run."""
    scores = validation_scores(rows, task, method)
    if set(scores) != set(TEMPERATURES.get(task, ())) or not scores:
        return None
    return max(TEMPERATURES[task], key=lambda t: (scores[t], -t))


def sweep(tasks: list[str]) -> None:
    """Every task's methods over :data:`SEEDS` (resumable); for the tasks of
    :data:`TEMPERATURES`, each method's temperature first chosen on validation (seed 0)."""
    results = Results(RESULTS, ("task", "method", "seed", "split", "temperature"))
    validation = validation_split(load_image_dataset("digits", 0.2, 0), 0.2, 0)
    chosen: dict[tuple[str, str], dict[str, float]] = {}
    for task in tasks:
        run, methods = TASKS[task]
        for method in methods if task in TEMPERATURES else ():
            for t in TEMPERATURES[task]:
                key = {"task": task, "method": method, "seed": 0, "split": "validation"}
                if not results.has(**key, temperature=t):
                    results.add(
                        {
                            **key,
                            "temperature": t,
                            **_timed(run, method, validation, 0, temperature=t),
                        }
                    )
            best = chosen_temperature(results.rows(), task, method)
            chosen[task, method] = {"temperature": best}
            print(f"{task} {method}: temperature {best} chosen on validation")
    for seed in SEEDS:
        data = load_image_dataset("digits", 0.2, seed)
        for task in tasks:
            run, methods = TASKS[task]
            for method in methods:
                options = chosen.get((task, method), {})
                key = {"task": task, "method": method, "seed": seed}
                if results.has(**key, split=None, temperature=options.get("temperature")):
                    continue
                row = _timed(run, method, data, seed, **options)
                results.add({**key, **options, **row})
                shown = ", ".join(f"{k} {row[k]:.4f}" for k, _ in METRICS[task])
                print(f"{task} {method} seed {seed}: {shown}")


def section() -> list[str]:
    """Markdown tables (mean ± spread over seeds) for ``docs/losses.md``."""
    rows = Results(RESULTS, ()).rows()
    if not rows:
        return []
    lines = [
        "",
        "## The other losses, each on a task shaped for it (digits)",
        "",
        "The seven losses `contrastor train` refuses on the plain image task, measured on",
        "tasks built from the bundled digits where each fits, beside its natural baseline;",
        f"budget: SmallCNN width {WIDTH}, {EPOCHS} epochs, batch {BATCH}, temperature {TAU}"
        " (the transfer tasks: chosen per method on validation),",
        f"seeds {', '.join(map(str, SEEDS))} (mean ± standard deviation). The task definitions",
        "are in the docstring of `benchmarks/structured_losses.py`; reproduce with",
        "`python benchmarks/structured_losses.py`, then"
        " `python benchmarks/loss_catalogue.py --report`.",
        f"Machine: {rows[0]['machine']}.",
    ]
    for task, (_, methods) in TASKS.items():
        chosen = {m: chosen_temperature(rows, task, m) for m in methods}
        mine = [
            r
            for r in rows
            if r["task"] == task
            and r.get("split") is None
            and r.get("temperature") == chosen[r["method"]]
        ]
        if not mine:
            continue
        metrics = METRICS[task]
        lines += [
            "",
            f"### {TITLES[task]}",
            "",
            "| method | " + " | ".join(label for _, label in metrics) + " |",
            "| --- |" + " --- |" * len(metrics),
        ]
        for method in methods:
            runs = [r for r in mine if r["method"] == method]
            cells = [mean_spread([r[key] for r in runs]) for key, _ in metrics]
            tag = f", τ {chosen[method]}" if chosen[method] is not None else ""
            lines.append(f"| `{method}`{tag} | " + " | ".join(cells) + " |")
        if task in TEMPERATURES:
            lines += _temperature_choice(rows, task, methods, chosen)
            validation = [r for r in rows if r["task"] == task and r.get("split") == "validation"]
            lines += _transfer_note(mine, validation)
    return lines


def _temperature_choice(
    rows: list[dict], task: str, methods: tuple[str, ...], chosen: dict[str, float | None]
) -> list[str]:
    """The validation scores each method's temperature was chosen by, the chosen in bold."""
    parts = []
    for method in methods:
        scores = validation_scores(rows, task, method)
        tried = ", ".join(
            f"**{t}: {v:.3f}**" if t == chosen[method] else f"{t}: {v:.3f}"
            for t, v in sorted(scores.items())
        )
        parts.append(f"`{method}` ({tried})")
    return [
        "",
        "The alignment temperature τ of each method was chosen on a validation split carved"
        " from the training images (seed 0; the held-out images unread) by zero-shot"
        " accuracy: " + "; ".join(parts) + ".",
    ]


def _transfer_note(rows: list[dict], validation: list[dict]) -> list[str]:
    """What the CWCL rows say against CLIP at each one's chosen temperature, from the
    recorded runs: the gap in each metric against the seed spread, and the score gap CWCL's
    targets ask for at a temperature."""

    def values(method: str, key: str) -> list[float]:
        return [r[key] for r in rows if r["method"] == method]

    def mean(method: str, key: str) -> float:
        return statistics.fmean(values(method, key))

    if not all(len(values(m, "knn")) > 1 for m in ("clip", "cwcl", "cwcl_centred")):
        return []
    best = max(("cwcl", "cwcl_centred"), key=lambda m: mean(m, "zero_shot"))
    parts = []
    for key, label in (("zero_shot", "zero-shot accuracy"), ("knn", "top-half kNN")):
        gap = mean(best, key) - mean("clip", key)
        spread = max(statistics.stdev(values(best, key)), statistics.stdev(values("clip", key)))
        verdict = "no difference" if abs(gap) <= spread else ("above" if gap > 0 else "below")
        parts.append(f"{label} {mean(best, key):.3f} against {mean('clip', key):.3f} ({verdict})")
    ratio = math.log(mean("cwcl", "weight_same") / mean("cwcl", "weight_other"))
    low = {r["temperature"]: r[CHOICE_METRIC] for r in validation if r["method"] == "cwcl"}
    tau = next(r["temperature"] for r in rows if r["method"] == best)
    # a row's target mass on other digits in a batch of ten balanced digits
    same = 1 + (BATCH / 10 - 1) * mean("cwcl", "weight_same")
    other = BATCH * 9 / 10 * mean("cwcl", "weight_other")
    other_share = other / (same + other)
    return [
        "",
        f"With each at its chosen τ, CWCL's best form (`{best}`, τ {tau}) against CLIP: "
        + "; ".join(parts)
        + ". CWCL's loss is lowest when a query's softmax over the references equals its"
        " targets, that is when its scores differ by τ ln(w_j / w_k); the frozen modality's"
        f" weights (1 + cos) / 2 only run from {mean('cwcl', 'weight_other'):.2f} (median,"
        f" other digits) to {mean('cwcl', 'weight_same'):.2f} (same digit), so at τ"
        f" {min(low)} the scores it asks for differ by {min(low) * ratio:.3f} in cosine and"
        " the queries stay nearly equidistant from every reference (validation zero-shot"
        f" accuracy {low[min(low)]:.3f}). A high τ lets the targets shape the scores, yet"
        f" {other_share:.0%} of a row's target still falls on other digits (a batch of"
        f" {BATCH} holds about nine of them for each image of the same digit), where CLIP's"
        " target is the one partner.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    args = parser.parse_args()
    sweep(args.tasks)


if __name__ == "__main__":
    main()
