"""Pure functional losses: tensors in, a loss (or a ``ContrastiveOutput``) out."""

from contrastor._exports import family_exports
from contrastor.functional.clustering import *
from contrastor.functional.crossmodal import *
from contrastor.functional.distillation import *
from contrastor.functional.geometry import *
from contrastor.functional.hierarchy import *
from contrastor.functional.infonce import *
from contrastor.functional.mixing import *
from contrastor.functional.multihead import *
from contrastor.functional.multimodal import *
from contrastor.functional.multiview import *
from contrastor.functional.negatives import *
from contrastor.functional.predictive import *
from contrastor.functional.preference import *
from contrastor.functional.prototypes import *
from contrastor.functional.ranking import *
from contrastor.functional.redundancy import *
from contrastor.functional.regression import *
from contrastor.functional.robust import *
from contrastor.functional.siglip import *
from contrastor.functional.spectral import *
from contrastor.functional.supcon import *
from contrastor.functional.temporal import *
from contrastor.functional.tokens import *
from contrastor.functional.triplet import *
from contrastor.functional.whitening import *

__all__ = family_exports(globals())
