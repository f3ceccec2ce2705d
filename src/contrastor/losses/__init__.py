"""Loss modules. Each takes embeddings (and labels or targets where needed) and returns a
scalar, or per-anchor values with ``reduction="none"``; ``return_output=True`` adds the named
per-anchor terms."""

from contrastor.losses.base import TemperatureLoss
from contrastor.losses.geometry import Alignment, AlignUniform, Uniformity
from contrastor.losses.infonce import CLIPLoss, InfoNCE
from contrastor.losses.siglip import SigLIP
from contrastor.losses.supcon import DCL, DCLW, NTXent, SupCon

__all__ = [
    "DCL",
    "DCLW",
    "AlignUniform",
    "Alignment",
    "CLIPLoss",
    "InfoNCE",
    "NTXent",
    "SigLIP",
    "SupCon",
    "TemperatureLoss",
    "Uniformity",
]
