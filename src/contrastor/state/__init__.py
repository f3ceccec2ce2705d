"""State that contrastive objectives keep between steps: queues of past keys, momentum
(EMA) encoders and per-sample buffers indexed by dataset index. All of it is registered as
module buffers, so it is saved in ``state_dict`` and restored on resume."""

from contrastor.state.momentum import MomentumEncoder
from contrastor.state.per_sample import PerSampleState
from contrastor.state.queue import FeatureQueue

__all__ = ["FeatureQueue", "MomentumEncoder", "PerSampleState"]
