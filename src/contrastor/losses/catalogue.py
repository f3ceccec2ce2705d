"""The loss catalogue: for every loss, what it takes, what counts as a positive, whether it
has a tiled path, what it does under DDP, the state it keeps and its paper. ``contrastor
train --loss NAME`` and ``docs/losses.md`` both read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossEntry:
    """One row of the catalogue. ``unfit``: why the bundled image task (views of MNIST or
    digits images, class labels) cannot train with this loss; ``None`` when it can.
    ``supervised``: it uses the class labels on that task."""

    name: str
    title: str
    api: str
    inputs: str
    positives: str
    tiled: bool
    ddp: str
    state: str
    paper: str
    unfit: str | None = None
    supervised: bool = False


_LOCAL_GATHERED = "local anchors vs gathered references"
_GLOBAL_BATCH = "loss of the gathered global batch"

CATALOGUE: tuple[LossEntry, ...] = (
    LossEntry(
        "ntxent",
        "NT-Xent (SimCLR)",
        "NTXent / nt_xent",
        "V >= 2 views",
        "other views of the sample",
        True,
        _LOCAL_GATHERED,
        "-",
        "Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations",
    ),
    LossEntry(
        "supcon",
        "Supervised contrastive",
        "SupCon / supcon",
        "views + class ids or multi-hot",
        "same class (any shared label)",
        True,
        _LOCAL_GATHERED,
        "-",
        "Khosla et al. 2020, Supervised Contrastive Learning",
        supervised=True,
    ),
    LossEntry(
        "dcl",
        "Decoupled contrastive",
        "DCL / dcl",
        "V >= 2 views",
        "other views; positives left out of the denominator",
        True,
        _LOCAL_GATHERED,
        "-",
        "Yeh et al. 2022, Decoupled Contrastive Learning",
    ),
    LossEntry(
        "dclw",
        "Weighted decoupled contrastive",
        "DCLW / dclw",
        "2 views",
        "other view, vMF-weighted",
        True,
        _LOCAL_GATHERED,
        "-",
        "Yeh et al. 2022, Decoupled Contrastive Learning",
    ),
    LossEntry(
        "infonce",
        "InfoNCE",
        "InfoNCE / info_nce",
        "queries, references (+ queue, labels, soft targets)",
        "index-aligned, equal labels or soft",
        True,
        _LOCAL_GATHERED,
        "-",
        "Oord et al. 2018, Representation Learning with Contrastive Predictive Coding",
    ),
    LossEntry(
        "clip",
        "CLIP (symmetric InfoNCE)",
        "CLIPLoss / info_nce(symmetric=True)",
        "paired embeddings of two modalities",
        "index-aligned pair",
        True,
        _LOCAL_GATHERED,
        "learnable temperature",
        "Radford et al. 2021, Learning Transferable Visual Models From Natural Language"
        " Supervision",
    ),
    LossEntry(
        "siglip",
        "SigLIP",
        "SigLIP / siglip",
        "paired embeddings",
        "index-aligned pair (binary per pair)",
        True,
        _LOCAL_GATHERED,
        "learnable temperature and bias",
        "Zhai et al. 2023, Sigmoid Loss for Language Image Pre-Training",
    ),
    LossEntry(
        "align_uniform",
        "Alignment + uniformity",
        "AlignUniform / alignment, uniformity",
        "2 views",
        "index-aligned pair",
        False,
        "global pairs; uniformity over the gathered batch",
        "-",
        "Wang & Isola 2020, Understanding Contrastive Representation Learning through Alignment"
        " and Uniformity on the Hypersphere",
    ),
    LossEntry(
        "debiased",
        "Debiased contrastive",
        "DebiasedContrastive / debiased_contrastive",
        "V >= 2 views (+ class ids)",
        "other views; class prior tau+ corrects false negatives",
        True,
        _LOCAL_GATHERED,
        "-",
        "Chuang et al. 2020, Debiased Contrastive Learning",
    ),
    LossEntry(
        "hcl",
        "Hard negative sampling (HCL)",
        "DebiasedContrastive(concentration=beta)",
        "V >= 2 views (+ class ids)",
        "other views; negatives weighted by exp(beta s)",
        True,
        _LOCAL_GATHERED,
        "-",
        "Robinson et al. 2021, Contrastive Learning with Hard Negative Samples",
    ),
    LossEntry(
        "cacr",
        "Contrastive attraction and repulsion",
        "CACR / cacr",
        "V >= 2 views",
        "other views, far ones weighted up; close negatives weighted up",
        False,
        _LOCAL_GATHERED,
        "-",
        "Zheng et al. 2023, Contrastive Attraction and Contrastive Repulsion for Representation"
        " Learning",
    ),
    LossEntry(
        "mv_infonce",
        "MV-InfoNCE",
        "MVInfoNCE / mv_info_nce",
        "V >= 2 views",
        "all view pairs of the sample, one term per sample",
        True,
        _LOCAL_GATHERED,
        "-",
        "Koromilas et al. 2025, A Principled Framework for Multi-View Contrastive Learning",
    ),
    LossEntry(
        "mv_dhel",
        "MV-DHEL",
        "MVDHEL / mv_dhel",
        "V >= 2 views",
        "all view pairs; uniformity within each view",
        True,
        _LOCAL_GATHERED,
        "-",
        "Koromilas et al. 2025, A Principled Framework for Multi-View Contrastive Learning",
    ),
    LossEntry(
        "sogclr",
        "SogCLR (global contrastive, moving averages)",
        "GlobalContrastive",
        "V >= 2 views + dataset indices",
        "other views; negatives of the whole dataset via u_i",
        True,
        _LOCAL_GATHERED + "; state written on every rank",
        "u per sample and view",
        "Yuan et al. 2022, Provable Stochastic Optimization for Global Contrastive Learning;"
        " Jiang et al. 2023, Learning Unnormalized Statistical Models via Compositional"
        " Optimization",
    ),
    LossEntry(
        "isogclr",
        "iSogCLR (individual temperatures)",
        "GlobalContrastive(individual_temperature=True)",
        "V >= 2 views + dataset indices",
        "as SogCLR, DRO temperature per sample",
        True,
        _LOCAL_GATHERED + "; state written on every rank",
        "u, tau and its momentum per sample",
        "Qiu et al. 2023, Not All Semantics are Created Equal: Contrastive Self-supervised"
        " Learning with Automatic Temperature Individualization",
    ),
    LossEntry(
        "moco",
        "MoCo (momentum keys + queue)",
        "MoCo + MomentumEncoder",
        "queries, momentum keys",
        "the key of the same sample",
        True,
        "gathered keys; same queue on every rank",
        "momentum encoder, queue",
        "He et al. 2020, Momentum Contrast for Unsupervised Visual Representation Learning;"
        " Izacard et al. 2022, Unsupervised Dense Information Retrieval with Contrastive Learning",
    ),
    LossEntry(
        "mochi",
        "MoCHi (hard negative mixing)",
        "MoCo(mixing=...) / mix_hard_negatives",
        "queries, momentum keys",
        "the key; synthetic negatives mixed from the hardest queue entries",
        True,
        "gathered keys; same queue on every rank",
        "momentum encoder, queue",
        "Kalantidis et al. 2020, Hard Negative Mixing for Contrastive Learning",
    ),
    LossEntry(
        "byol",
        "BYOL",
        "PredictiveCosine + MomentumEncoder",
        "online predictions, target projections",
        "the other view (no negatives)",
        False,
        "local pairs",
        "momentum target, predictor",
        "Grill et al. 2020, Bootstrap Your Own Latent",
    ),
    LossEntry(
        "simsiam",
        "SimSiam",
        "PredictiveCosine",
        "online predictions, stop-gradient projections",
        "the other view (no negatives)",
        False,
        "local pairs",
        "predictor",
        "Chen & He 2021, Exploring Simple Siamese Representation Learning",
    ),
    LossEntry(
        "directpred",
        "DirectPred",
        "PredictiveCosine + DirectPredictor",
        "online projections, target projections",
        "the other view (no negatives)",
        False,
        "local pairs; correlation averaged over ranks",
        "momentum target, input correlation",
        "Tian et al. 2021, Understanding self-supervised Learning Dynamics without Contrastive"
        " Pairs",
    ),
    LossEntry(
        "barlow_twins",
        "Barlow Twins",
        "BarlowTwins / barlow_twins",
        "2 views",
        "same feature across views (cross-correlation)",
        False,
        _GLOBAL_BATCH,
        "-",
        "Zbontar et al. 2021, Barlow Twins: Self-Supervised Learning via Redundancy Reduction",
    ),
    LossEntry(
        "vicreg",
        "VICReg",
        "VICReg / vicreg",
        "2 views",
        "the other view (invariance term)",
        False,
        _GLOBAL_BATCH,
        "-",
        "Bardes et al. 2022, VICReg: Variance-Invariance-Covariance Regularization",
    ),
    LossEntry(
        "zloss",
        "Z-loss",
        "ZLoss / z_loss",
        "class logits + class ids",
        "the true class",
        False,
        "local samples",
        "-",
        "de Brebisson & Vincent 2016, The Z-loss: a shift and scale invariant classification"
        " loss belonging to the Spherical Family",
        unfit="a loss for classification heads (logits), not for embeddings",
    ),
)

CATALOGUE += (
    LossEntry(
        "clip_gap",
        "CLIP + contrastive-gap terms",
        "ContrastiveGap / contrastive_gap",
        "paired embeddings of two modalities",
        "index-aligned pair; plus alignment and joint uniformity",
        True,
        "CLIP and uniformity over the gathered batch",
        "learnable temperature",
        "Fahim et al. 2024, It's Not a Modality Gap: Characterizing and Addressing the "
        "Contrastive Gap",
    ),
    LossEntry(
        "cwcl",
        "Continuously weighted contrastive",
        "CWCL / cwcl",
        "trainable and frozen-modality embeddings of pairs",
        "every pair, weighted (1 + cos) / 2 in the frozen modality",
        True,
        "one direction: local queries vs gathered references and guides",
        "-",
        "Srinivasa et al. 2023, CWCL: Cross-Modal Transfer with Continuously Weighted "
        "Contrastive Loss",
        unfit="needs a frozen, pretrained second modality to weight the targets",
    ),
    LossEntry(
        "symile",
        "Symile",
        "Symile / symile",
        "3 or more modalities (+ presence mask)",
        "the sample's own target-modality embedding under the multilinear product",
        True,
        _LOCAL_GATHERED,
        "learned missing-modality embeddings",
        "Saporta et al. 2024, Contrasting with Symile: Simple Model-Agnostic Representation "
        "Learning for Unlimited Modalities",
    ),
    LossEntry(
        "decoupled_softmax",
        "Decoupled softmax (multi-label)",
        "DecoupledSoftmax / decoupled_softmax",
        "queries, references + labels, multi-hot or soft targets",
        "every labelled match; other positives left out of each term",
        True,
        _LOCAL_GATHERED,
        "-",
        "Gupta et al. 2024, Dual-Encoders for Extreme Multi-Label Classification",
        supervised=True,
    ),
    LossEntry(
        "auc",
        "Mann-Whitney (AUC) loss",
        "MannWhitney / mann_whitney",
        "queries, references (+ labels or targets)",
        "index-aligned or labelled; BCE on every positive-negative gap",
        False,
        _LOCAL_GATHERED,
        "-",
        "Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval, 2025",
    ),
    LossEntry(
        "listwise_wasserstein",
        "List-wise Wasserstein",
        "ListwiseWasserstein / listwise_wasserstein",
        "query, its document list, graded relevance",
        "graded: distance between score and relevance distributions",
        False,
        "local lists",
        "-",
        "Esfandiarpoor et al. 2025, Beyond Contrastive Learning: Synthetic Data Enables "
        "List-wise Training with Multiple Levels of Relevance",
        unfit="needs document lists with graded relevance",
    ),
    LossEntry(
        "listnet",
        "ListNet",
        "ListNet / listnet",
        "query, its document list, graded relevance",
        "graded: cross-entropy to the relevance distribution",
        False,
        "local lists",
        "-",
        "Cao et al. 2007, Learning to Rank: From Pairwise Approach to Listwise Approach",
        unfit="needs document lists with graded relevance",
    ),
)

CATALOGUE += (
    LossEntry(
        "hierarchical_supcon",
        "Hierarchy-aware SupCon",
        "HierarchicalSupCon / hierarchical_supcon",
        "views + ancestor path per sample",
        "graded by the depth of the deepest shared ancestor",
        True,
        "single process (sample-level targets)",
        "-",
        "Cai et al. 2022, Hierarchical Pretraining for Biomedical Term Embeddings",
        unfit="needs a label hierarchy (an ancestor path per sample)",
    ),
    LossEntry(
        "sbcl",
        "Subclass-balancing contrastive (SBCL)",
        "SBCL / sbcl, subclass_labels",
        "views + class ids + dataset indices",
        "own subclass; then same class, other subclass",
        True,
        _LOCAL_GATHERED,
        "subclass id per sample (re-clustered each epoch)",
        "Hou et al. 2023, Subclass-balancing Contrastive Learning for Long-tailed Recognition",
        supervised=True,
    ),
    LossEntry(
        "whitened",
        "WhitenedCSE (shuffled group whitening)",
        "WhitenedContrastive / whitened_contrastive",
        "V >= 2 views",
        "all whitened views of the sample",
        True,
        _LOCAL_GATHERED + " (whitening statistics per rank)",
        "-",
        "Zhuo et al. 2023, WhitenedCSE: Whitening-based Contrastive Learning of Sentence "
        "Embeddings",
    ),
    LossEntry(
        "supremix",
        "SupReMix (regression, mixup pairs)",
        "SupReMix / supremix, regression_mixtures",
        "views + continuous targets",
        "equal target; anchor-exclusive mixtures; distance-weighted negatives",
        False,
        "single process",
        "-",
        "Wu et al. 2023, Mixup Your Own Pairs",
        unfit="needs continuous (regression) targets",
    ),
    LossEntry(
        "conr",
        "ConR (imbalanced regression regularizer)",
        "ConR / conr",
        "features + continuous targets + predictions",
        "label-close samples; negatives are label-far but prediction-close",
        False,
        "single process",
        "-",
        "Keramati et al. 2024, ConR: Contrastive Regularizer for Deep Imbalanced Regression",
        unfit="a regularizer for regression models (needs targets and predictions)",
    ),
)

CATALOGUE += (
    LossEntry(
        "amcl",
        "Adaptive multi-head contrastive (AMCL)",
        "AMCL / amcl",
        "2 views, H projection heads",
        "the other view; every pair with its own learned temperature",
        False,
        "single process",
        "temperature network phi",
        "Wang et al. 2024, Adaptive Multi-head Contrastive Learning",
    ),
)

CATALOGUE += (
    LossEntry(
        "rince",
        "RINCE (robust InfoNCE)",
        "RINCE / rince",
        "queries, references (+ labels or targets)",
        "index-aligned or labelled; hard positives down-weighted (noise-robust)",
        True,
        _LOCAL_GATHERED,
        "-",
        "Chuang et al. 2022, Robust Contrastive Learning against Noisy Views",
    ),
)

BY_NAME = {entry.name: entry for entry in CATALOGUE}


def trainable() -> tuple[str, ...]:
    """Names ``contrastor train`` accepts on the bundled image task."""
    return tuple(e.name for e in CATALOGUE if e.unfit is None)


#: losses that compare exactly two views (or two modalities)
PAIRWISE = frozenset(
    {
        "dclw",
        "infonce",
        "clip",
        "siglip",
        "align_uniform",
        "moco",
        "mochi",
        "byol",
        "simsiam",
        "directpred",
        "barlow_twins",
        "vicreg",
        "clip_gap",
        "decoupled_softmax",
        "auc",
        "amcl",
        "rince",
    }
)

#: losses that need more than two views (modalities)
MIN_VIEWS = {"symile": 3}
