"""Ready-made ``score`` functions for the softmax objective (see
:class:`~contrastor.engine.blocks.ScoreOperands`)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


class AngularMargin:
    """Cosine similarity with an additive angular margin on positives (ArcFace): a pair of
    equal labels scores ``cos(theta + m)`` instead of ``cos(theta)``, so an anchor must
    close the angle to its positives by ``m`` more than to any negative. Where
    ``theta + m`` would pass pi the score continues as ``cos(theta) - m sin(m)``
    (ArcFace's ``easy_margin=False`` rule), keeping it monotonic. Deng et al., "ArcFace:
    Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.

    Example:
        >>> score = AngularMargin(labels, class_ids, margin=0.3)
        >>> loss = info_nce(z, class_anchors, labels=labels, reference_labels=class_ids,
        ...                 score=score, temperature=1 / 30)
    """

    def __init__(self, query_labels: Tensor, reference_labels: Tensor, margin: float = 0.5):
        if not 0.0 <= margin < math.pi / 2:
            raise ValueError(f"margin must be in [0, pi/2), got {margin}")
        self.query_labels, self.reference_labels, self.margin = (
            query_labels,
            reference_labels,
            margin,
        )

    def __call__(self, q: Tensor, r: Tensor, rows: slice, cols: slice) -> Tensor:
        cos = (F.normalize(q, dim=1) @ F.normalize(r, dim=1).T).clamp(-1.0, 1.0)
        positive = self.query_labels[rows, None] == self.reference_labels[None, cols]
        m = self.margin
        # cos(theta + m) = cos cos(m) - sin sin(m); sin from cos, its gradient kept finite
        sin = (1.0 - cos.square()).clamp_min(1e-12).sqrt()
        shifted = cos * math.cos(m) - sin * math.sin(m)
        shifted = torch.where(cos > math.cos(math.pi - m), shifted, cos - m * math.sin(m))
        return torch.where(positive.to(cos.device), shifted, cos)
