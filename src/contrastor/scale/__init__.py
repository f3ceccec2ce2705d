"""Large batches: cached encoder backward (memory of the encoder) and, with the tiled
engine path (memory of the loss), batches far beyond what fits at once."""

from contrastor.scale.cached import CachedEncoder

__all__ = ["CachedEncoder"]
