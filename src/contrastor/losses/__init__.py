"""Loss modules. Each takes embeddings (and labels or targets where needed) and returns a
scalar, or per-anchor values with ``reduction="none"``; ``return_output=True`` adds the named
per-anchor terms."""

from contrastor._exports import family_exports
from contrastor.losses.base import *
from contrastor.losses.clustering import *
from contrastor.losses.crossmodal import *
from contrastor.losses.distillation import *
from contrastor.losses.gated import *
from contrastor.losses.geometry import *
from contrastor.losses.global_contrastive import *
from contrastor.losses.infonce import *
from contrastor.losses.matryoshka import *
from contrastor.losses.moco import *
from contrastor.losses.multimodal import *
from contrastor.losses.multiview import *
from contrastor.losses.negatives import *
from contrastor.losses.predictive import *
from contrastor.losses.prototypes import *
from contrastor.losses.ranking import *
from contrastor.losses.redundancy import *
from contrastor.losses.robust import *
from contrastor.losses.siglip import *
from contrastor.losses.spectral import *
from contrastor.losses.structured import *
from contrastor.losses.supcon import *
from contrastor.losses.temporal import *
from contrastor.losses.tokens import *
from contrastor.losses.triplet import *

__all__ = family_exports(globals())
