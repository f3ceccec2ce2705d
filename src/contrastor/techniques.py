"""Where the techniques of the papers behind contrastor live.

One :class:`Technique` per grade-A and grade-B entry of the project's paper catalogue
(grade A: a generic loss, module or metric; grade B: tied to an architecture or large model,
with a generic core): its status in contrastor and its entry points. An entry point is a
registered loss (``"loss:clip"``, shown with the registry's API) or an importable symbol
(``"contrastor.eval.effective_rank"``); :func:`resolve` checks every one, so the page
generated from this table (``docs/papers.md``) cannot name what does not exist.
:func:`find` looks a technique up by id, title or entry point.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

IMPLEMENTED, PARTIAL, MISSING = "implemented", "partial", "not implemented"
STATUSES = (IMPLEMENTED, PARTIAL, MISSING)


@dataclass(frozen=True)
class Technique:
    """A technique: ``id`` (``T01`` ...), ``title``, ``grade`` (``A`` or ``B``), ``status``
    (one of :data:`STATUSES`), ``entry`` (its entry points) and ``note`` (for a partial
    entry what is missing, for a missing one why)."""

    id: str
    title: str
    grade: str
    status: str
    entry: tuple[str, ...] = ()
    note: str = ""


#: why a grade-B technique without a note of its own is not implemented
TIED = "tied to a specific architecture, data recipe or large model"


def _t(id: str, title: str, status: str, *entry: str, note: str = "", grade: str = "A"):
    if status == MISSING and not note and grade == "B":
        note = TIED
    return Technique(id, title, grade, status, entry, note)


_B = {"grade": "B"}

TECHNIQUES: tuple[Technique, ...] = (
    _t("T01", "InfoNCE / NT-Xent", IMPLEMENTED, "loss:info_nce", "loss:nt_xent"),
    _t("T02", "CLIP symmetric InfoNCE with learnable logit scale", IMPLEMENTED, "loss:clip"),
    _t(
        "T03",
        "Temperature as hardness knob; hard contrastive loss (top-K negatives)",
        IMPLEMENTED,
        "loss:hard_contrastive",
        "contrastor.engine.Adjust",
    ),
    _t("T04", "Decoupled contrastive loss (DCL) and DCLW", IMPLEMENTED, "loss:dcl", "loss:dclw"),
    _t("T05", "Contrastive attraction and repulsion (CACR)", IMPLEMENTED, "loss:cacr"),
    _t("T06", "Adaptive multi-head contrastive learning (AMCL)", IMPLEMENTED, "loss:amcl"),
    _t(
        "T07",
        "Arbitrary-pair positives with class-pair gated subspaces (Hydra)",
        IMPLEMENTED,
        "loss:gated_pair_contrast",
        "contrastor.losses.ClassPairGates",
        note="one learned gate per class pair, a ``score`` of the engine",
    ),
    _t(
        "T08",
        "Group ordering constraints with differentiable sorting (GroCo)",
        MISSING,
        note="needs a differentiable sorting network",
    ),
    _t("T09", "Spectral contrastive loss", IMPLEMENTED, "loss:spectral_contrastive"),
    _t(
        "T12",
        "Hard negative mixing (MoCHi)",
        IMPLEMENTED,
        "loss:mochi",
        "contrastor.functional.mix_hard_negatives",
    ),
    _t(
        "T13",
        "Positive extrapolation and negative interpolation",
        IMPLEMENTED,
        "contrastor.functional.extrapolate_positives",
        "contrastor.functional.interpolate_negatives",
    ),
    _t(
        "T14",
        "Concentration-controlled, label-aware hard negative sampling",
        IMPLEMENTED,
        "loss:hcl",
        "contrastor.functional.debiased_contrastive",
    ),
    _t(
        "T15",
        "Explicit per-anchor hard negatives (counterfactual captions)",
        IMPLEMENTED,
        "contrastor.functional.info_nce",
        note="``anchor_negatives`` (n, k, d) per query",
    ),
    _t(
        "T16",
        "Cluster-restricted negatives across stages",
        IMPLEMENTED,
        "contrastor.functional.StagedClusters",
        "contrastor.engine.ClusterWeights",
        note="the stages' encoders are concatenated by your model",
    ),
    _t(
        "T17",
        "Cluster/community-aware negative weighting + prototypical term",
        IMPLEMENTED,
        "contrastor.engine.ClusterWeights",
        "contrastor.functional.kmeans",
        "loss:proto_nce",
        note="hard cluster weights; AdaMEOW's learned soft weights are grade B",
    ),
    _t(
        "T19",
        "Augmented samples as negatives (anomaly-style contrast)",
        IMPLEMENTED,
        "loss:supcon",
        "contrastor.eval.centroid_scores",
        note="SupCon with benign/augmented labels; scores against the benign centroid",
    ),
    _t(
        "T20",
        "Contrast-regularised fine-tuning with hard pair mining (Core-tuning)",
        MISSING,
        note="the mining rule needs checking against the paper",
    ),
    _t(
        "T22",
        "Feature-space positive hallucination (Hallucinator)",
        MISSING,
        note="the abstract gives no formula; the paper is still to be read",
    ),
    _t(
        "T23",
        "Noise-based embedding views (SimGCL / XSimGCL)",
        IMPLEMENTED,
        "contrastor.models.graph.perturb",
        "contrastor.models.graph.LightGCN",
    ),
    _t(
        "T24",
        "Norm-scaled personalised embedding perturbation",
        MISSING,
        note="the scaling rule is unconfirmed",
    ),
    _t(
        "T25",
        "Generated-data inflation with weaker augmentation (AdaInf)",
        MISSING,
        note="no generated data offline",
    ),
    _t(
        "T26",
        "Batch styles standardisation (Fourier amplitude swap)",
        IMPLEMENTED,
        "contrastor.data.views.standardize_styles",
    ),
    _t(
        "T27",
        "Ordered growing augmentations with asymmetric consistency (HiCLR)",
        IMPLEMENTED,
        "contrastor.functional.growing_consistency",
        note="the asymmetric consistency; the growing skeleton augmentations are grade B",
    ),
    _t(
        "T28",
        "Temporal-adjacency positives",
        IMPLEMENTED,
        "contrastor.engine.WindowTargets",
        "loss:hierarchical_contrastive",
        note="positives within k steps of one trajectory as targets of any softmax loss",
    ),
    _t(
        "T29",
        "Same-target subsequence positives and intent prototypes (ICSRec)",
        IMPLEMENTED,
        "loss:supcon",
        "loss:proto_nce",
        note="SupCon with target ids (coarse) and k-means intents with ProtoNCE (fine)",
    ),
    _t(
        "T32",
        "Triplet supervision (SIRL) and triplet losses",
        IMPLEMENTED,
        "loss:triplet",
        "contrastor.functional.mine_triplets",
        note="batch-hard, semi-hard or all triplets; mined negatives feed any softmax loss",
    ),
    _t("T34", "Supervised contrastive loss (SupCon)", IMPLEMENTED, "loss:supcon", "loss:supcon_in"),
    _t(
        "T35",
        "SupCon restricted to a subset of anchors",
        IMPLEMENTED,
        "contrastor.functional.supcon",
        note="``weights=`` 0/1 per sample is the anchor mask",
    ),
    _t("T36", "Subclass-balancing contrastive learning (SBCL)", IMPLEMENTED, "loss:sbcl"),
    _t(
        "T37",
        "Proxy-based contrastive replay (PCR / HPCR)",
        IMPLEMENTED,
        "loss:proxy_contrast",
        note="PCR; HPCR's extra terms are not included",
    ),
    _t(
        "T38",
        "Margin-enhanced contrast to semantic anchors",
        IMPLEMENTED,
        "loss:semantic_anchors",
        "contrastor.engine.AngularMargin",
        note="additive margin on the cosine; ArcFace's angular margin as a ``score``",
    ),
    _t(
        "T39",
        "Decoupled softmax for multi-label dual encoders",
        IMPLEMENTED,
        "loss:decoupled_softmax",
    ),
    _t(
        "T40",
        "Multi-label cluster discrimination (MLCD)",
        MISSING,
        note="its multi-label assignment and margin rules are not yet checked against the paper",
    ),
    _t(
        "T41",
        "Hierarchy-aware contrastive loss",
        IMPLEMENTED,
        "loss:hierarchical_supcon",
        "contrastor.engine.HierarchyTargets",
    ),
    _t(
        "T42",
        "Hierarchical-margin dynamic contrastive learning (DyCL)",
        PARTIAL,
        "contrastor.engine.Adjust",
        note="per-pair margins on positives exist; the level curriculum is missing",
    ),
    _t(
        "T43",
        "Proto-Triplet and ICNN losses",
        MISSING,
        note="the ICNN score is not yet checked against the paper; the triplet loss is T32",
    ),
    _t(
        "T44",
        "Mixup for metric learning (Metrix) and the utilization metric",
        MISSING,
        note="needs input mixing inside each metric loss; utilization is not yet defined here",
    ),
    _t("T45", "Z-loss", IMPLEMENTED, "loss:z_loss"),
    _t(
        "T46",
        "Multiple negatives ranking loss",
        IMPLEMENTED,
        "loss:info_nce",
        note="InfoNCE with temperature = 1 / scale and ``anchor_negatives``",
    ),
    _t(
        "T47",
        "Class-description text embeddings as classifier",
        IMPLEMENTED,
        "contrastor.functional.semantic_anchor_contrast",
        "contrastor.eval.zero_shot_accuracy",
        note="class-description embeddings as the anchors (margin 0: input-label contrast)",
    ),
    _t(
        "T48",
        "Score distillation from a cross-encoder (DSE)",
        IMPLEMENTED,
        "loss:margin_mse",
        "loss:distill_kl",
    ),
    _t(
        "T49",
        "Feature norm-and-direction distillation (ND loss)",
        MISSING,
        note="the abstract gives no formula; the paper is still to be read",
    ),
    _t(
        "T54",
        "Supervised contrastive regression with mixup (SupReMix)",
        IMPLEMENTED,
        "loss:supremix",
    ),
    _t("T55", "Contrastive regulariser for imbalanced regression (ConR)", IMPLEMENTED, "loss:conr"),
    _t("T56", "Mann-Whitney / AUC loss", IMPLEMENTED, "loss:mann_whitney"),
    _t(
        "T57",
        "List-wise graded-relevance loss (Wasserstein)",
        IMPLEMENTED,
        "loss:listwise_wasserstein",
        "loss:listnet",
    ),
    _t("T58", "Continuously weighted contrastive loss (CWCL)", IMPLEMENTED, "loss:cwcl"),
    _t("T59", "Higher-order multimodal contrast (Symile)", IMPLEMENTED, "loss:symile"),
    _t(
        "T60",
        "Multi-view InfoNCE and MV-DHEL",
        IMPLEMENTED,
        "loss:mv_info_nce",
        "loss:mv_dhel",
    ),
    _t(
        "T61",
        "1-to-K contrastive learning and Mean Rank Variance",
        IMPLEMENTED,
        "loss:one_to_k",
        "contrastor.eval.mean_rank_variance",
    ),
    _t(
        "T62",
        "Triple contrastive learning (TCL)",
        MISSING,
        note="its local-global term needs token features of both towers; CLIP and intra-modal "
        "NT-Xent exist",
    ),
    _t(
        "T63",
        "Closing the contrastive gap with uniformity and alignment",
        IMPLEMENTED,
        "loss:contrastive_gap",
    ),
    _t(
        "T64",
        "Multimodal mixup contrastive loss (M3CoL)",
        IMPLEMENTED,
        "loss:mixup_contrastive",
    ),
    _t("T65", "Anchor-view alignment", IMPLEMENTED, "loss:anchor_alignment"),
    _t("T66", "Pairwise CLIP over three or more modalities", IMPLEMENTED, "loss:pairwise_clip"),
    _t(
        "T68",
        "Pooled multimodal embeddings + SupCon for record linkage (CLIPPINGS)",
        IMPLEMENTED,
        "contrastor.eval.pool_modalities",
        "loss:supcon",
        "contrastor.eval.link_records",
    ),
    _t(
        "T69",
        "Orthogonal shared/unique decomposition across modalities",
        IMPLEMENTED,
        "loss:orthogonal_shared_unique",
        note="the generic form; the paper's meta-network and graphs are not included",
    ),
    _t("T70", "Pixel-level contrast (PixPro)", MISSING, note="needs dense feature maps"),
    _t(
        "T72",
        "Improved CLIP training recipe",
        IMPLEMENTED,
        "loss:clip",
        "contrastor.recipes.crossmodal.CrossModalOptions",
        note="``label_smoothing`` and ``augment`` (image views) in the cross-modal recipe; "
        "text augmentation of cached caption states is not offered",
    ),
    _t(
        "T73",
        "Early-learning regularisation (ELR)",
        IMPLEMENTED,
        "contrastor.noise.EarlyLearningRegularizer",
    ),
    _t(
        "T74",
        "Linear-separation detection alternated with small-loss selection (LSA)",
        IMPLEMENTED,
        "contrastor.noise.linear_separation",
        "contrastor.noise.small_loss_selection",
    ),
    _t(
        "T75",
        "Representation calibration for noisy long-tailed labels (RCAL)",
        MISSING,
        note="the calibration of tail classes is not yet checked against the paper",
    ),
    _t(
        "T76",
        "Dynamic bad positive-pair mining (DBPM)",
        IMPLEMENTED,
        "contrastor.noise.LossHistory",
        "contrastor.noise.bad_pair_weights",
        note="a constant down-weight instead of the paper's smooth transformation",
    ),
    _t(
        "T77",
        "Per-pair noise probability from the memorisation effect",
        IMPLEMENTED,
        "contrastor.noise.gmm_clean_probability",
        "contrastor.functional.soft_retargeted_info_nce",
    ),
    _t(
        "T80",
        "Quality-weighted positive pairs",
        IMPLEMENTED,
        "contrastor.functional.info_nce",
        "contrastor.noise.clean_weights",
        note="``weights=`` per pair",
    ),
    _t(
        "T81",
        "Adaptive supervised PatchNCE",
        MISSING,
        note="the weight schedule is not yet checked against the paper; per-pair weights exist",
    ),
    _t(
        "T82",
        "Flip-rate-debiased pairwise loss (robust DPO)",
        IMPLEMENTED,
        "contrastor.functional.robust_dpo",
    ),
    _t(
        "T83",
        "kNN noisy-label detection against a trusted subset",
        IMPLEMENTED,
        "contrastor.noise.knn_label_agreement",
        "contrastor.noise.detection_report",
        note="``trusted=(features, labels)``",
    ),
    _t(
        "T85",
        "CLIP-score filtering of noisy labels (MOFI)",
        IMPLEMENTED,
        "contrastor.noise.filter_labels_by_score",
    ),
    _t(
        "T86",
        "Label, pair and duplicate noise simulators",
        IMPLEMENTED,
        "contrastor.noise.flip_labels",
        "contrastor.noise.shuffle_pairs",
        "contrastor.noise.inject_near_duplicates",
    ),
    _t("T88", "Individualised temperatures via DRO (iSogCLR)", IMPLEMENTED, "loss:isogclr"),
    _t(
        "T89",
        "Global contrastive loss with moving-average denominators (SogCLR)",
        IMPLEMENTED,
        "loss:sogclr",
    ),
    _t(
        "T90",
        "Compositional-optimisation NLL for unnormalised models",
        MISSING,
        note="an estimator for unnormalised density models, not yet written",
    ),
    _t(
        "T91",
        "Momentum encoder + FIFO queue of negatives (MoCo)",
        IMPLEMENTED,
        "loss:moco",
        "contrastor.state.FeatureQueue",
        "contrastor.state.MomentumEncoder",
    ),
    _t(
        "T94",
        "Optimal-transport prototype alignment (BECLR OpTA)",
        IMPLEMENTED,
        "contrastor.functional.transport_prototypes",
        note="OpTA at inference; the clustered memory DyCE is grade B",
    ),
    _t("T95", "DirectPred", IMPLEMENTED, "loss:directpred"),
    _t(
        "T96",
        "BYOL / SimSiam predictor + stop-gradient + EMA",
        IMPLEMENTED,
        "loss:byol",
        "loss:simsiam",
    ),
    _t(
        "T97",
        "Barlow Twins redundancy reduction",
        IMPLEMENTED,
        "loss:barlow_twins",
        "loss:vicreg",
    ),
    _t(
        "T98",
        "SwAV swapped assignments (Sinkhorn-Knopp)",
        IMPLEMENTED,
        "loss:swav",
        "contrastor.functional.sinkhorn_knopp",
        note="without SwAV's feature queue and multi-crop",
    ),
    _t(
        "T99",
        "Shuffled group whitening (WhitenedCSE)",
        IMPLEMENTED,
        "loss:whitened_contrastive",
    ),
    _t(
        "T100",
        "Projection head (train with, evaluate without)",
        IMPLEMENTED,
        "contrastor.models.heads.ProjectionHead",
    ),
    _t(
        "T101",
        "Pretext-task regularisation (ScatSimCLR)",
        IMPLEMENTED,
        "contrastor.data.views.rotation_task",
        "contrastor.data.views.jigsaw_task",
        note="the pretext inputs and labels; their classification heads are your model's",
    ),
    _t(
        "T102",
        "Prototypical contrastive term (ProtoNCE)",
        IMPLEMENTED,
        "loss:proto_nce",
        "contrastor.functional.cluster_concentration",
    ),
    _t(
        "T104",
        "Alignment and uniformity (metrics and losses)",
        IMPLEMENTED,
        "loss:align_uniform",
        "contrastor.eval.alignment_score",
        "contrastor.eval.uniformity_score",
    ),
    _t(
        "T105",
        "Tolerance to semantically similar samples",
        IMPLEMENTED,
        "contrastor.eval.similarity_gap",
        note="with labels: the mean same-class similarity",
    ),
    _t("T106", "Modality / contrastive gap metrics", IMPLEMENTED, "contrastor.eval.modality_gap"),
    _t(
        "T107",
        "Dimensional collapse: singular spectrum and effective rank",
        IMPLEMENTED,
        "contrastor.eval.effective_rank",
    ),
    _t(
        "T108",
        "Isotropy of representations",
        IMPLEMENTED,
        "contrastor.eval.isotropy",
        "contrastor.eval.partition_isotropy",
        note="token level: ``(batch, T, d)`` with a mask",
    ),
    _t(
        "T109",
        "ROC / AUC as threshold-free retriever diagnostics",
        IMPLEMENTED,
        "contrastor.eval.per_query_auc",
        "contrastor.eval.roc_curve",
        "contrastor.eval.auc.auroc",
    ),
    _t(
        "T110",
        "Positive/negative similarity distributions per epoch",
        IMPLEMENTED,
        "contrastor.eval.similarity_distribution",
        "contrastor.train.report.write_report",
        note="the image job logs quantiles and the pair AUC each epoch and plots them",
    ),
    _t(
        "T111",
        "Utilization of the embedding space",
        MISSING,
        note="the measure's definition is not yet checked against the paper",
    ),
    _t(
        "T112",
        "Zero-shot evaluation with prompt ensembles",
        IMPLEMENTED,
        "contrastor.eval.prompt_ensemble",
        "contrastor.eval.zero_shot_accuracy",
        "contrastor.eval.retrieval_metrics",
    ),
    _t(
        "T113",
        "Retrieval and embedding-quality metrics",
        IMPLEMENTED,
        "contrastor.eval.retrieval_metrics",
        "contrastor.retrieval.qrels.qrels_metrics",
        "contrastor.eval.sts_correlation",
    ),
    _t(
        "T114",
        "Linear probe and k-NN on frozen representations",
        IMPLEMENTED,
        "contrastor.eval.linear_probe",
        "contrastor.eval.knn_accuracy",
    ),
    _t(
        "T115",
        "Loss gradient decomposition into weight and direction",
        IMPLEMENTED,
        "contrastor.eval.pair_gradients",
    ),
    _t(
        "T116",
        "Minimal-pair compositional evaluation",
        IMPLEMENTED,
        "contrastor.eval.minimal_pair_scores",
        note="the evaluator; the minimal-pair datasets are not offline",
    ),
    _t(
        "T117",
        "Dropout views (SimCSE) and word repetition (ESimCSE)",
        IMPLEMENTED,
        "contrastor.recipes.text",
        "contrastor.data.views.WordRepetition",
        note="SimCSE dropout views are the text recipe's ``simcse`` method",
    ),
    _t(
        "T118",
        "Supervised sentence contrast from NLI",
        IMPLEMENTED,
        "contrastor.functional.info_nce",
        "contrastor.data.pairs",
        note="entailments as pairs and contradictions as a pair file's negative columns "
        "(``anchor_negatives``); no NLI data is bundled",
    ),
    _t(
        "T119",
        "Independent random cropping of documents (Contriever)",
        IMPLEMENTED,
        "contrastor.data.views.IndependentCropping",
    ),
    _t(
        "T120",
        "Context-window sentence positives",
        IMPLEMENTED,
        "contrastor.engine.WindowTargets",
        note="document ids and sentence positions as the groups and positions",
    ),
    _t(
        "T122",
        "Token-level contrastive training (SimCTG) and contrastive search",
        IMPLEMENTED,
        "loss:simctg",
        "contrastor.models.decoding.contrastive_search",
    ),
    _t(
        "T123",
        "Contrastive decoding (expert minus amateur logits)",
        IMPLEMENTED,
        "contrastor.models.decoding.contrastive_decoding_scores",
        note="the logits-level rule; layer fusion and prompt construction (grade B) are not",
    ),
    _t(
        "T125",
        "Text augmentation (EDA) + contrastive loss",
        IMPLEMENTED,
        "contrastor.data.views.EasyDataAugmentation",
        "loss:supcon",
        note="synonym edits take your synonym table (WordNet is not bundled)",
    ),
    _t(
        "T128",
        "Multi-level (hierarchical) positives for medical time series (COMET)",
        IMPLEMENTED,
        "loss:multilevel_supcon",
        "loss:hierarchical_supcon",
    ),
    # grade B: tied to an architecture or a large model; the generic core is named
    _t("T10", "Contrastive analysis: common vs salient factors (SepCLR)", MISSING, **_B),
    _t("T11", "Contrastive Mutual Information Machine (cMIM)", MISSING, **_B),
    _t("T18", "Inverse-propensity-weighted pair selection", MISSING, **_B),
    _t("T21", "Adversarial-perturbation hard positives/negatives (CLAPS)", MISSING, **_B),
    _t(
        "T30",
        "Semantic-retrieval positives (LLM-derived neighbours)",
        PARTIAL,
        "contrastor.retrieval.mining.mine_hard_negatives",
        note="the neighbour search exists; LLM-derived positives need a model",
        **_B,
    ),
    _t("T31", "Masked-input positives with answer-option negatives", MISSING, **_B),
    _t("T33", "Generative-model views and frequency-space pairs", MISSING, **_B),
    _t("T50", "Representation anchoring to a frozen model", MISSING, **_B),
    _t("T51", "Teacher-guided dynamic hard-sample distillation (DCD)", MISSING, **_B),
    _t("T52", "Self-balanced co-advice contrastive learning (BaCon)", MISSING, **_B),
    _t("T53", "Soft pseudo-labels with contrast (open-world)", MISSING, **_B),
    _t("T67", "Cross-modal prototype discrimination (ProtoCLIP)", MISSING, **_B),
    _t("T71", "Task-bound cross-modal contrast modules", MISSING, note="architecture-bound", **_B),
    _t(
        "T78",
        "Prediction-oscillation noise score for noisy correspondence (PC^2)",
        MISSING,
        **_B,
    ),
    _t(
        "T79",
        "Prototype-based clean selection (CAPro)",
        MISSING,
        **_B,
    ),
    _t("T84", "Alignment-level conditioning for noisy web pairs", MISSING, **_B),
    _t("T87", "Noise-injection fine-tuning (NoiseFiT)", MISSING, **_B),
    _t(
        "T92",
        "Language-specific memory banks (CCP)",
        PARTIAL,
        "contrastor.state.FeatureQueue",
        note="one queue per language is a FeatureQueue each; not wired as one loss",
        **_B,
    ),
    _t("T93", "Cluster-level proxy negatives in linear time (PamC)", MISSING, **_B),
    _t("T103", "Masked-modelling hybrids and self-distillation", MISSING, **_B),
    _t("T121", "Refining LLM-generated pairs (MultiCSR)", MISSING, **_B),
    _t("T124", "Soft data augmentation for code + code-query contrast", MISSING, **_B),
    _t(
        "T126",
        "SVD-based global view for interaction graphs (LightGCL)",
        IMPLEMENTED,
        "contrastor.models.graph.low_rank_factors",
        "contrastor.recipes.recommendation.train_method",
        **_B,
    ),
    _t("T127", "Graph/recommendation contrastive pipelines", MISSING, **_B),
    _t("T129", "Learned time-series augmentation (AutoTCL)", MISSING, **_B),
    _t("T130", "Image-restoration contrastive modules", MISSING, note="architecture-bound", **_B),
)


def resolve(entry: str) -> Any:
    """The object an entry point names: a registered loss's spec (``loss:NAME``) or the
    symbol at a dotted path; ``ValueError`` when there is none."""
    if entry.startswith("loss:"):
        from contrastor.losses.registry import lookup

        return lookup(entry[5:])
    module, _, name = entry.rpartition(".")
    for path, attribute in ((entry, None), (module, name)):
        try:
            found = importlib.import_module(path)
        except ImportError:
            continue
        if attribute is None:
            return found
        if hasattr(found, attribute):
            return getattr(found, attribute)
    raise ValueError(f"no such entry point: {entry!r}")


def counts(grade: str | None = None) -> Counter:
    """How many techniques (of one grade, or all) have each status."""
    return Counter(t.status for t in TECHNIQUES if grade is None or t.grade == grade)


def find(text: str) -> list[Technique]:
    """Techniques whose id, title or entry points contain ``text`` (any case)."""
    key = text.lower()
    return [
        t
        for t in TECHNIQUES
        if key == t.id.lower() or key in t.title.lower() or any(key in e.lower() for e in t.entry)
    ]
