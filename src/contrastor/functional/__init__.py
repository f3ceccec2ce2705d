"""Pure functional losses: tensors in, a loss (or a ``ContrastiveOutput``) out."""

from contrastor.functional.crossmodal import contrastive_gap, cwcl, symile
from contrastor.functional.geometry import align_uniform, alignment, uniformity
from contrastor.functional.hierarchy import hierarchical_supcon, sbcl, subclass_labels
from contrastor.functional.infonce import info_nce
from contrastor.functional.mixing import mix_hard_negatives
from contrastor.functional.multihead import amcl, pair_temperatures
from contrastor.functional.multiview import mv_dhel, mv_info_nce
from contrastor.functional.negatives import cacr, debiased_contrastive
from contrastor.functional.predictive import predictive_cosine, z_loss
from contrastor.functional.ranking import (
    decoupled_softmax,
    listnet,
    listwise_wasserstein,
    mann_whitney,
)
from contrastor.functional.redundancy import barlow_twins, vicreg
from contrastor.functional.regression import conr, regression_mixtures, supremix
from contrastor.functional.robust import (
    false_negative_cancellation,
    rince,
    soft_retargeted_info_nce,
)
from contrastor.functional.siglip import siglip
from contrastor.functional.supcon import dcl, dclw, nt_xent, supcon
from contrastor.functional.whitening import shuffled_group_whitening, whitened_contrastive

__all__ = [
    "align_uniform",
    "alignment",
    "amcl",
    "barlow_twins",
    "cacr",
    "conr",
    "contrastive_gap",
    "cwcl",
    "dcl",
    "dclw",
    "debiased_contrastive",
    "decoupled_softmax",
    "false_negative_cancellation",
    "hierarchical_supcon",
    "info_nce",
    "listnet",
    "listwise_wasserstein",
    "mann_whitney",
    "mix_hard_negatives",
    "mv_dhel",
    "mv_info_nce",
    "nt_xent",
    "pair_temperatures",
    "predictive_cosine",
    "regression_mixtures",
    "rince",
    "sbcl",
    "shuffled_group_whitening",
    "siglip",
    "soft_retargeted_info_nce",
    "subclass_labels",
    "supcon",
    "supremix",
    "symile",
    "uniformity",
    "vicreg",
    "whitened_contrastive",
    "z_loss",
]
