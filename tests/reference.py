"""Independent float64 references: plain Python loops over floats, no contrastor code.

Each returns (per_anchor list, scalar) with the same anchor order as the library:
queries in order; for multi-view losses, sample-major ``[i][v]``.
"""

from __future__ import annotations

import math


def _norm(v):
    s = math.sqrt(sum(x * x for x in v))
    return [x / s for x in v]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def _rows(t, cosine=True):
    rows = [list(map(float, r)) for r in t.tolist()]
    return [_norm(r) for r in rows] if cosine else rows


def _lse(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def info_nce(q, r, tau, pos, cosine=True, decoupled=False):
    """pos[i][j] >= 0: target weight. Anchors with no positive get None."""
    Q, R = _rows(q, cosine), _rows(r, cosine)
    out = []
    for i, qi in enumerate(Q):
        logits = [_dot(qi, rj) / tau for rj in R]
        total = sum(pos[i])
        if total == 0:
            out.append(None)
            continue
        den = [l for j, l in enumerate(logits) if not (decoupled and pos[i][j] > 0)]
        positive = sum(pos[i][j] * logits[j] for j in range(len(R))) / total
        out.append(_lse(den) - positive)
    return out


def mean_defined(values, weights=None):
    pairs = [(v, 1.0 if weights is None else weights[k]) for k, v in enumerate(values)]
    pairs = [(v, w) for v, w in pairs if v is not None]
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)


def multiview(z, same, tau, cosine=True, decoupled=False, pos_weight=None):
    """z: (n, V, d). same(i, j) -> target weight between samples i and j (self pair included:
    the other views of sample i). Returns per-anchor [i][v] (None: no positive)."""
    n, V = z.shape[0], z.shape[1]
    vec = {(i, v): _rows(z[i, v : v + 1], cosine)[0] for i in range(n) for v in range(V)}
    out = [[None] * V for _ in range(n)]
    for i in range(n):
        for v in range(V):
            a = vec[(i, v)]
            others = [(j, w) for j in range(n) for w in range(V) if (j, w) != (i, v)]
            logits = {(j, w): _dot(a, vec[(j, w)]) / tau for j, w in others}
            weights = {(j, w): same(i, j) for j, w in others}
            total = sum(weights.values())
            if total == 0:
                continue
            den = [logits[k] for k in others if not (decoupled and weights[k] > 0)]
            positive = sum(weights[k] * logits[k] for k in others) / total
            pw = 1.0 if pos_weight is None else pos_weight[i]
            out[i][v] = _lse(den) - pw * positive
    return out


def dclw_weights(z, sigma):
    n = z.shape[0]
    s = [_dot(_rows(z[i, 0:1])[0], _rows(z[i, 1:2])[0]) / sigma for i in range(n)]
    denom = sum(math.exp(x) for x in s)
    return [2.0 - n * math.exp(x) / denom for x in s]


def siglip(q, r, tau, bias, pos):
    Q, R = _rows(q), _rows(r)

    def log_sigmoid(x):
        return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))

    out = []
    for i, qi in enumerate(Q):
        total = 0.0
        for j, rj in enumerate(R):
            logit = _dot(qi, rj) / tau + bias
            y = pos[i][j]
            total -= y * log_sigmoid(logit) + (1 - y) * log_sigmoid(-logit)
        out.append(total)
    return out


def alignment(x, y, alpha):
    X, Y = _rows(x), _rows(y)
    return [
        sum((a - b) ** 2 for a, b in zip(u, v, strict=True)) ** (alpha / 2)
        for u, v in zip(X, Y, strict=True)
    ]


def uniformity(x, t):
    X = _rows(x)
    n = len(X)
    terms = [
        math.exp(-t * sum((a - b) ** 2 for a, b in zip(X[i], X[j], strict=True)))
        for i in range(n)
        for j in range(n)
        if i != j
    ]
    return math.log(sum(terms) / len(terms))
