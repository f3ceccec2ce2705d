"""What every training run shares, the image job and the recipes alike: atomic checkpoints
(:mod:`.checkpoint`), the learning-rate schedule (:mod:`.schedule`), the per-epoch metrics
log (:mod:`.metrics_log`) and the report page (:mod:`.page`)."""
