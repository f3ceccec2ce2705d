"""Loss modules. Each takes embeddings (and labels or targets where needed) and returns a
scalar, or per-anchor values with ``reduction="none"``; ``return_output=True`` adds the named
per-anchor terms."""

from contrastor.losses.base import DeclaredLoss, TemperatureLoss
from contrastor.losses.crossmodal import CWCL, ContrastiveGap, Symile
from contrastor.losses.geometry import Alignment, AlignUniform, Uniformity
from contrastor.losses.global_contrastive import GlobalContrastive
from contrastor.losses.infonce import CLIPLoss, InfoNCE
from contrastor.losses.moco import MoCo
from contrastor.losses.multiview import MVDHEL, MVInfoNCE
from contrastor.losses.negatives import CACR, DebiasedContrastive
from contrastor.losses.predictive import DirectPredictor, PredictiveCosine, ZLoss
from contrastor.losses.ranking import DecoupledSoftmax, ListNet, ListwiseWasserstein, MannWhitney
from contrastor.losses.redundancy import BarlowTwins, VICReg
from contrastor.losses.robust import RINCE
from contrastor.losses.siglip import SigLIP
from contrastor.losses.structured import (
    AMCL,
    SBCL,
    ConR,
    HierarchicalSupCon,
    SupReMix,
    WhitenedContrastive,
)
from contrastor.losses.supcon import DCL, DCLW, NTXent, SupCon

__all__ = [
    "AMCL",
    "CACR",
    "CWCL",
    "DCL",
    "DCLW",
    "MVDHEL",
    "RINCE",
    "SBCL",
    "AlignUniform",
    "Alignment",
    "BarlowTwins",
    "CLIPLoss",
    "ConR",
    "ContrastiveGap",
    "DebiasedContrastive",
    "DeclaredLoss",
    "DecoupledSoftmax",
    "DirectPredictor",
    "GlobalContrastive",
    "HierarchicalSupCon",
    "InfoNCE",
    "ListNet",
    "ListwiseWasserstein",
    "MVInfoNCE",
    "MannWhitney",
    "MoCo",
    "NTXent",
    "PredictiveCosine",
    "SigLIP",
    "SupCon",
    "SupReMix",
    "Symile",
    "TemperatureLoss",
    "Uniformity",
    "VICReg",
    "WhitenedContrastive",
    "ZLoss",
]
