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


def multiview(
    z, same, tau, cosine=True, decoupled=False, pos_weight=None, top_k=None, inside=False
):
    """z: (n, V, d). same(i, j) -> target weight between samples i and j (self pair included:
    the other views of sample i). Returns per-anchor [i][v] (None: no positive). top_k: the
    denominator keeps the positives and the k largest negative logits; inside: positives
    averaged inside the log."""
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
            negatives = sorted((logits[k] for k in others if weights[k] == 0), reverse=True)
            if top_k is not None:
                negatives = negatives[:top_k]
            den = negatives + [logits[k] for k in others if weights[k] > 0 and not decoupled]
            if inside:
                positive = _lse(
                    [math.log(weights[k] / total) + logits[k] for k in others if weights[k] > 0]
                )
            else:
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


def _view_vectors(z, cosine=True):
    n, V = z.shape[0], z.shape[1]
    return {(i, v): _rows(z[i, v : v + 1], cosine)[0] for i in range(n) for v in range(V)}


def debiased(z, tau, prior, beta, labels=None):
    """Chuang et al. / Robinson et al. with explicit loops; per-anchor [i][v]."""
    n, V = z.shape[0], z.shape[1]
    vec = _view_vectors(z)
    out = [[None] * V for _ in range(n)]
    for i in range(n):
        for v in range(V):
            a = vec[(i, v)]
            negs = [
                _dot(a, vec[(j, w)]) / tau
                for j in range(n)
                for w in range(V)
                if j != i and (labels is None or labels[j] != labels[i])
            ]
            N = len(negs)
            imp = [math.exp(beta * x) for x in negs]
            reweighted = N * sum(m * math.exp(x) for m, x in zip(imp, negs, strict=True)) / sum(imp)
            terms = []
            for w in range(V):
                if w == v:
                    continue
                p = _dot(a, vec[(i, w)]) / tau
                ng = (reweighted - N * prior * math.exp(p)) / (1 - prior)
                ng = max(ng, N * math.exp(-1 / tau))
                terms.append(-math.log(math.exp(p) / (math.exp(p) + ng)))
            out[i][v] = sum(terms) / len(terms)
    return out


def cacr(z, t_pos, t_neg, alpha=1.0, beta=1.0):
    n, V = z.shape[0], z.shape[1]
    vec = _view_vectors(z)

    def cost(a, b):
        return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))

    def softmax_mean(scores, values):
        m = max(scores)
        e = [math.exp(s - m) for s in scores]
        return sum(x * y for x, y in zip(e, values, strict=True)) / sum(e)

    out = [[None] * V for _ in range(n)]
    for i in range(n):
        for v in range(V):
            a = vec[(i, v)]
            pc = [cost(a, vec[(i, w)]) for w in range(V) if w != v]
            nc = [cost(a, vec[(j, w)]) for j in range(n) for w in range(V) if j != i]
            out[i][v] = alpha * softmax_mean([t_pos * c for c in pc], pc) - beta * softmax_mean(
                [-t_neg * c for c in nc], nc
            )
    return out


def mv_info_nce(z, tau):
    n, V = z.shape[0], z.shape[1]
    vec = _view_vectors(z)
    out = []
    for i in range(n):
        num = [_dot(vec[(i, v)], vec[(i, w)]) / tau for v in range(V) for w in range(V) if v != w]
        den = [
            _dot(vec[(i, v)], vec[(j, w)]) / tau
            for v in range(V)
            for j in range(n)
            for w in range(V)
            if (j, w) != (i, v)
        ]
        out.append(_lse(den) - _lse(num))
    return out


def mv_dhel(z, tau):
    n, V = z.shape[0], z.shape[1]
    vec = _view_vectors(z)
    out = []
    for i in range(n):
        num = [_dot(vec[(i, v)], vec[(i, w)]) / tau for v in range(V) for w in range(v + 1, V)]
        unif = sum(
            _lse([_dot(vec[(i, v)], vec[(j, v)]) / tau for j in range(n) if j != i])
            for v in range(V)
        )
        out.append(unif - _lse(num))
    return out


def _columns(t):
    rows = [list(map(float, r)) for r in t.tolist()]
    return [list(c) for c in zip(*rows, strict=True)]


def _mean(xs):
    return sum(xs) / len(xs)


def barlow_twins(a, b, lam, eps=1e-5):
    A, B = _columns(a), _columns(b)
    n = len(A[0])

    def standardise(col):
        m = _mean(col)
        var = sum((x - m) ** 2 for x in col) / n
        return [(x - m) / math.sqrt(var + eps) for x in col]

    A, B = [standardise(c) for c in A], [standardise(c) for c in B]
    total = 0.0
    for k, ck in enumerate(A):
        for m_, cm in enumerate(B):
            c = sum(x * y for x, y in zip(ck, cm, strict=True)) / n
            total += (1 - c) ** 2 if k == m_ else lam * c * c
    return total


def vicreg(a, b, lam=25.0, mu=25.0, nu=1.0, gamma=1.0, eps=1e-4):
    ra = [list(map(float, r)) for r in a.tolist()]
    rb = [list(map(float, r)) for r in b.tolist()]
    n, d = len(ra), len(ra[0])
    inv = sum((x - y) ** 2 for u, v in zip(ra, rb, strict=True) for x, y in zip(u, v, strict=True))
    inv /= n * d
    var = cov = 0.0
    for cols in (_columns(a), _columns(b)):
        centred = [[x - _mean(c) for x in c] for c in cols]
        for k in range(d):
            std = math.sqrt(sum(x * x for x in centred[k]) / (n - 1) + eps)
            var += max(0.0, gamma - std) / d / 2
            for m_ in range(d):
                if m_ != k:
                    c = sum(x * y for x, y in zip(centred[k], centred[m_], strict=True)) / (n - 1)
                    cov += c * c / d
    return lam * inv + mu * var + nu * cov


def predictive_cosine(p, t):
    P, T = _rows(p), _rows(t)
    return [2 - 2 * _dot(x, y) for x, y in zip(P, T, strict=True)]


def z_loss(logits, target, a, b):
    out = []
    for row, y in zip(logits.tolist(), target.tolist(), strict=True):
        m = _mean(row)
        sd = math.sqrt(sum((x - m) ** 2 for x in row) / len(row))
        zy = (row[y] - m) / sd
        x = a * (b - zy)
        out.append((max(x, 0.0) + math.log1p(math.exp(-abs(x)))) / a)
    return out


def cwcl_targets(g):
    G = _rows(g)
    return [[0.5 * (1 + _dot(a, b)) for b in G] for a in G]


def decoupled_softmax(q, r, tau, pos):
    Q, R = _rows(q), _rows(r)
    out = []
    for i, qi in enumerate(Q):
        logits = [_dot(qi, rj) / tau for rj in R]
        negs = [logits[j] for j in range(len(R)) if pos[i][j] <= 0]
        if not negs or sum(pos[i]) == 0:
            out.append(None)
            continue
        terms = [
            (pos[i][j], _lse([logits[j], *negs]) - logits[j])
            for j in range(len(R))
            if pos[i][j] > 0
        ]
        out.append(sum(w * t for w, t in terms) / sum(w for w, _ in terms))
    return out


def mann_whitney(q, r, tau, pos):
    Q, R = _rows(q), _rows(r)
    out = []
    for i, qi in enumerate(Q):
        s = [_dot(qi, rj) / tau for rj in R]
        gaps = [
            s[k] - s[p] for p in range(len(R)) for k in range(len(R)) if pos[i][p] > 0 >= pos[i][k]
        ]
        out.append(sum(math.log1p(math.exp(x)) for x in gaps) / len(gaps) if gaps else None)
    return out


def symile(xs, tau):
    M = len(xs)
    rows = [_rows(x) for x in xs]
    n = len(rows[0])
    out = [[None] * M for _ in range(n)]
    for m in range(M):
        for i in range(n):
            scores = []
            for j in range(n):
                total = 0.0
                for d in range(len(rows[0][0])):
                    prod = rows[m][j][d]
                    for k in range(M):
                        if k != m:
                            prod *= rows[k][i][d]
                    total += prod
                scores.append(total / tau)
            out[i][m] = _lse(scores) - scores[i]
    return out


def _softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def listwise(q, docs, rel, tau, order):
    """Wasserstein distance on the relevance axis via the monotone (north-west) coupling."""
    Q = _rows(q)
    out = []
    for i, qi in enumerate(Q):
        D = _rows(docs[i])
        p = _softmax([_dot(qi, dj) / tau for dj in D])
        r = [float(x) for x in rel[i].tolist()]
        t = [x / sum(r) for x in r]
        order_idx = sorted(range(len(r)), key=lambda j: r[j])
        a = [[r[j], p[j]] for j in order_idx]
        b = [[r[j], t[j]] for j in order_idx]
        ia = ib = 0
        cost = 0.0
        while ia < len(a) and ib < len(b):
            flow = min(a[ia][1], b[ib][1])
            cost += flow * abs(a[ia][0] - b[ib][0]) ** order
            a[ia][1] -= flow
            b[ib][1] -= flow
            if a[ia][1] <= 1e-15:
                ia += 1
            if ib < len(b) and b[ib][1] <= 1e-15:
                ib += 1
        out.append(cost)
    return out


def listnet(q, docs, rel, tau):
    Q = _rows(q)
    out = []
    for i, qi in enumerate(Q):
        D = _rows(docs[i])
        logits = [_dot(qi, dj) / tau for dj in D]
        r = [float(x) for x in rel[i].tolist()]
        out.append(-sum(x / sum(r) * (l - _lse(logits)) for x, l in zip(r, logits, strict=True)))
    return out


def sbcl(z, labels, subs, t1, t2, beta):
    n, V = z.shape[0], z.shape[1]
    vec = _view_vectors(z)
    out = [[None] * V for _ in range(n)]
    for i in range(n):
        for v in range(V):
            a = vec[(i, v)]
            others = [(j, w) for j in range(n) for w in range(V) if (j, w) != (i, v)]
            l1 = {k: _dot(a, vec[k]) / t1 for k in others}
            pos = [k for k in others if subs[k[0]] == subs[i]]
            first = _lse(list(l1.values())) - sum(l1[k] for k in pos) / len(pos)
            l2 = {k: _dot(a, vec[k]) / t2 for k in others}
            cls = [k for k in others if labels[k[0]] == labels[i] and subs[k[0]] != subs[i]]
            second = 0.0
            if cls:
                den = [l2[k] for k in others if subs[k[0]] != subs[i]]
                second = beta * (_lse(den) - sum(l2[k] for k in cls) / len(cls))
            out[i][v] = first + second
    return out


def supremix(z, targets, tau, mix_emb, mix_targets, weighting=True):
    """z: (n, V, d) tensor; mixtures for the view-major anchor rows."""
    n, V = z.shape[0], z.shape[1]
    rows = [(i, v) for v in range(V) for i in range(n)]
    vec = _view_vectors(z)
    y = [float(x) for x in targets.tolist()]
    out = [[None] * V for _ in range(n)]
    for r, (i, v) in enumerate(rows):
        a = vec[(i, v)]
        cands = [(vec[k], y[k[0]]) for k in rows if k != (i, v)]
        cands += [
            (list(map(float, e)), float(t))
            for e, t in zip(mix_emb[r].tolist(), mix_targets[r].tolist(), strict=True)
            if math.isfinite(t)
        ]
        logits = [(_dot(a, e) / tau, t) for e, t in cands]
        pos = [lg for lg, t in logits if t == y[i]]
        if not pos:
            continue
        den = [
            lg + (0.0 if t == y[i] or not weighting else -math.log1p(abs(t - y[i])))
            for lg, t in logits
        ]
        out[i][v] = _lse(den) - sum(pos) / len(pos)
    return out


def conr(f, y, p, omega, eta, tau):
    Z = _rows(f)
    y = [float(v) for v in y.tolist()]
    p = [float(v) for v in p.tolist()]
    out = []
    for j in range(len(Z)):
        pos = [i for i in range(len(Z)) if i != j and abs(y[i] - y[j]) <= omega]
        neg = [i for i in range(len(Z)) if abs(y[i] - y[j]) > omega and abs(p[i] - p[j]) <= omega]
        if not pos or not neg:
            out.append(None)
            continue
        lg = {i: _dot(Z[j], Z[i]) / tau for i in range(len(Z))}
        den = [lg[i] for i in pos] + [lg[q] + eta * abs(y[j] - y[q]) for q in neg]
        out.append(_lse(den) - sum(lg[i] for i in pos) / len(pos))
    return out


def amcl(a, b, phi, beta, temperature_range, topk):
    """a, b: (n, H, d); phi: a function on one vector (list) returning a list."""
    n, H, d = a.shape
    low, high = temperature_range
    out = [[0.0, 0.0] for _ in range(n)]
    for h in range(H):
        Z = _rows(a[:, h]) + _rows(b[:, h])
        P = [phi(z) for z in Z]
        tau = [[low + (high - low) / (1 + math.exp(_dot(x, y))) for y in P] for x in P]
        for r in range(2 * n):
            p = (r + n) % (2 * n)
            negs = sorted(
                ((_dot(Z[r], Z[k]), k) for k in range(2 * n) if k not in (r, p)), reverse=True
            )[:topk]
            t_p = tau[r][p]
            value = -_dot(Z[r], Z[p]) / t_p + sum(s / tau[r][k] for s, k in negs) / len(negs)
            value += beta * (0.5 * d * math.log(t_p) + 1 / t_p)
            value -= beta * sum(math.log(tau[r][k]) + 1 / tau[r][k] for _, k in negs)
            out[r % n][r // n] += value
    return out


def rince(q, r, tau, qq, lam, pos):
    Q, R = _rows(q), _rows(r)
    out = []
    for i, qi in enumerate(Q):
        logits = [_dot(qi, rj) / tau for rj in R]
        total = sum(pos[i])
        p = sum(w * l for w, l in zip(pos[i], logits, strict=True)) / total
        out.append(-math.exp(qq * p) / qq + (lam * sum(math.exp(l) for l in logits)) ** qq / qq)
    return out


def eliminate(q, r, tau, suspects):
    Q, R = _rows(q), _rows(r)
    out = []
    for i, qi in enumerate(Q):
        logits = [_dot(qi, rj) / tau for rj in R]
        kept = [l for j, l in enumerate(logits) if j == i or not suspects[i][j]]
        out.append(_lse(kept) - logits[i])
    return out


def _twin(u, w, k, tau):
    """Mean over both directions of -log p(twin): anchor ``u[k]`` against every vector of
    ``u`` and ``w`` but itself, its positive ``w[k]``; then anchor ``w[k]`` the same way."""
    out = 0.0
    for anchor, twin in ((u[k], w[k]), (w[k], u[k])):
        logits = [_dot(anchor, v) / tau for v in u + w if v is not anchor]
        out += _lse(logits) - _dot(anchor, twin) / tau
    return out / 2


def _halved(series):
    """Max over each pair of consecutive timestamps (an odd last one dropped)."""
    pairs = [(series[2 * t], series[2 * t + 1]) for t in range(len(series) // 2)]
    return [[max(x, y) for x, y in zip(u, v, strict=True)] for u, v in pairs]


def hierarchical_contrastive(r1, r2, tau, alpha, unit, cosine=False):
    """TS2Vec's loss per series, every term written out: at each level the instance term
    (series i's twin among all series at timestamp t) and the temporal term (timestamp t's
    twin among series i's timestamps), then a pairwise max-pool of the timestamps."""
    a = [[list(map(float, t)) for t in s] for s in r1.tolist()]
    b = [[list(map(float, t)) for t in s] for s in r2.tolist()]
    n = len(a)
    inst, temp, levels = [0.0] * n, [0.0] * n, 0
    while True:
        T = len(a[0])
        ua = [[_norm(v) if cosine else v for v in s] for s in a]
        ub = [[_norm(v) if cosine else v for v in s] for s in b]
        for i in range(n):
            inst[i] += (
                sum(_twin([s[t] for s in ua], [s[t] for s in ub], i, tau) for t in range(T)) / T
            )
            if levels >= unit:
                temp[i] += sum(_twin(ua[i], ub[i], t, tau) for t in range(T)) / T
        levels += 1
        if T == 1:
            break
        a, b = ([_halved(series) for series in views] for views in (a, b))
    return [(alpha * x + (1 - alpha) * y) / levels for x, y in zip(inst, temp, strict=True)]


def adjusted_info_nce(
    q,
    r,
    tau,
    pos,
    *,
    decoupled=False,
    weights=None,
    margin=None,
    top_k=None,
    inside=False,
    smoothing=0.0,
):
    """InfoNCE with the engine's adjustments, written out per anchor (cosine similarity).

    tau: a float or one per query; weights[i][j]: a negative's weight (0: left out);
    margin: a float or margin[i][j], subtracted from positives' similarities; top_k: the
    denominator keeps the k largest negative terms; inside: -log sum_j Pn_ij exp(l_ij);
    smoothing: eps of a uniform target over the denominator."""
    Q, R = _rows(q), _rows(r)
    out = []
    for i, qi in enumerate(Q):
        t = tau[i] if isinstance(tau, list) else tau
        total = sum(pos[i])
        if total == 0:
            out.append(None)
            continue
        positives, negatives = {}, {}
        for j, rj in enumerate(R):
            s = _dot(qi, rj)
            if pos[i][j] > 0:
                m = (
                    0.0
                    if margin is None
                    else (margin if isinstance(margin, float) else margin[i][j])
                )
                positives[j] = (s - m) / t
            else:
                w = 1.0 if weights is None else weights[i][j]
                if w > 0:
                    negatives[j] = s / t + math.log(w)
        kept = sorted(negatives.values(), reverse=True)
        if top_k is not None:
            kept = kept[:top_k]
        den = kept + ([] if decoupled else list(positives.values()))
        if inside:
            positive = _lse([math.log(pos[i][j] / total) + v for j, v in positives.items()])
        else:
            positive = sum(pos[i][j] * v for j, v in positives.items()) / total
        if smoothing:
            positive = (1 - smoothing) * positive + smoothing * sum(den) / len(den)
        out.append(_lse(den) - positive)
    return out


def spectral(a, b, mu):
    """Spectral contrastive loss per anchor, rows capped at length sqrt(mu)."""

    def cap(row):
        norm = math.sqrt(sum(x * x for x in row))
        return row if norm < math.sqrt(mu) else [x / norm * math.sqrt(mu) for x in row]

    A, B = [cap(r) for r in _rows(a, False)], [cap(r) for r in _rows(b, False)]
    n = len(A)
    return [
        (-2 * _dot(A[i], B[i]) + sum(_dot(A[i], B[j]) ** 2 for j in range(n) if j != i) / (n - 1))
        / mu
        for i in range(n)
    ]
