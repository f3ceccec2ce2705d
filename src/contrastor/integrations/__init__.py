"""contrastor inside the trainers people already use: any loss as a sentence-transformers
loss (:mod:`.sentence_transformers`), a Hugging Face ``Trainer`` for dual encoders
(:mod:`.hf_trainer`) and a Lightning module (:mod:`.lightning`); :func:`columns_loss` is
what they share. Each module imports its trainer only when used (optional extras)."""

from contrastor.integrations.columns import columns_loss, spec_of

__all__ = ["columns_loss", "spec_of"]
