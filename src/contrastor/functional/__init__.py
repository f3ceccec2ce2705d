"""Pure functional losses: tensors in, a loss (or a ``ContrastiveOutput``) out."""

from contrastor.functional.geometry import alignment, uniformity
from contrastor.functional.infonce import info_nce
from contrastor.functional.siglip import siglip
from contrastor.functional.supcon import dcl, dclw, nt_xent, supcon

__all__ = ["alignment", "dcl", "dclw", "info_nce", "nt_xent", "siglip", "supcon", "uniformity"]
