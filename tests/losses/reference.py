"""Slow reference implementations of the losses, written from the papers' equations with loops."""

import math

import torch


def nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR eq. 1: views 2k and 2k+1 of image k; ℓ(i, j) = -log e^{s_ij/τ} / Σ_{k≠i} e^{s_ik/τ};
    L = 1/(2N) Σ_k [ℓ(2k, 2k+1) + ℓ(2k+1, 2k)], s the cosine similarity."""
    views = []
    for a, b in zip(z1, z2):
        views += [a, b]
    n2 = len(views)

    def s(i, j):
        return torch.dot(views[i], views[j]) / (views[i].norm() * views[j].norm())

    def ell(i, j):
        denominator = sum(torch.exp(s(i, k) / temperature) for k in range(n2) if k != i)
        return -torch.log(torch.exp(s(i, j) / temperature) / denominator)

    total = sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n2 // 2))
    return total / n2


def log_2n_minus_1(n: int) -> float:
    """NT-Xent of identical embeddings: every similarity is 1, so ℓ = log(2N - 1)."""
    return math.log(2 * n - 1)


def _dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of two vectors, summed coordinate by coordinate; 0 (with gradient 0)
    for equal vectors, where the square root's derivative is undefined."""
    squared = sum((a[c] - b[c]) ** 2 for c in range(len(a)))
    return torch.sqrt(squared) if squared > 0 else squared * 0


def margin_contrastive_reference(x1, x2, similar, margin: float) -> torch.Tensor:
    """Hadsell et al. 2006 (paper's Y = 1 - similar): L = (1 - Y)·½·D² + Y·½·max(0, m - D)², averaged."""
    total = 0
    for a, b, y in zip(x1, x2, similar):
        d = _dist(a, b)
        if y:
            total = total + 0.5 * d**2
        else:
            total = total + 0.5 * max(margin - d, d * 0) ** 2
    return total / len(x1)


def triplet_reference(anchor, positive, negative, margin: float, squared: bool) -> torch.Tensor:
    """FaceNet: L = Σ_i [‖a_i - p_i‖² - ‖a_i - n_i‖² + α]_+, here averaged over the triplets."""
    total = 0
    for a, p, n in zip(anchor, positive, negative):
        d_ap, d_an = _dist(a, p), _dist(a, n)
        if squared:
            d_ap, d_an = d_ap**2, d_an**2
        term = d_ap - d_an + margin
        total = total + (term if term > 0 else term * 0)
    return total / len(anchor)


def lifted_structured_reference(embeddings, labels, margin: float) -> torch.Tensor:
    """Oh Song et al. 2016 eq. 4: for each positive pair (i, j), ordered, i ≠ j,
    J_ij = log(Σ_{k: y_k≠y_i} e^{α - D_ik} + Σ_{l: y_l≠y_j} e^{α - D_jl}) + D_ij;
    J = 1/(2|P|) Σ_{(i,j)∈P} max(0, J_ij)²."""
    n = len(embeddings)
    labels = labels.tolist()
    total, pairs = 0, 0
    for i in range(n):
        for j in range(n):
            if i == j or labels[i] != labels[j]:
                continue
            s = 0
            for k in range(n):
                if labels[k] != labels[i]:
                    s = s + torch.exp(margin - _dist(embeddings[i], embeddings[k]))
            for l in range(n):  # the paper's index names
                if labels[l] != labels[j]:
                    s = s + torch.exp(margin - _dist(embeddings[j], embeddings[l]))
            j_ij = torch.log(s) + _dist(embeddings[i], embeddings[j])
            total = total + (j_ij**2 if j_ij > 0 else j_ij * 0)
            pairs += 1
    return total / (2 * pairs)


def n_pair_reference(anchors, positives, l2_reg: float) -> torch.Tensor:
    """Sohn 2016: L = 1/N Σ_i log(1 + Σ_{j≠i} exp(f_iᵀf⁺_j - f_iᵀf⁺_i)), plus
    l2_reg · 1/N Σ_i (‖f_i‖² + ‖f⁺_i‖²)."""
    n = len(anchors)
    total = 0
    for i in range(n):
        s = torch.ones((), dtype=anchors.dtype)
        for j in range(n):
            if j != i:
                s = s + torch.exp(torch.dot(anchors[i], positives[j]) - torch.dot(anchors[i], positives[i]))
        total = total + torch.log(s)
        total = total + l2_reg * (torch.dot(anchors[i], anchors[i]) + torch.dot(positives[i], positives[i]))
    return total / n


def nce_reference(s_data, s_noise, log_q_data, log_q_noise) -> torch.Tensor:
    """Gutmann & Hyvärinen 2010, per data sample with k noise samples: G(u) = s(u) - log(k q(u)),
    h = σ(G); L = -1/B Σ_b [log h(x_b) + Σ_i log(1 - h(y_bi))]."""
    b, k = s_noise.shape

    def h(s, log_q):
        return 1 / (1 + torch.exp(-(s - math.log(k) - log_q)))

    total = 0
    for t in range(b):
        total = total + torch.log(h(s_data[t], log_q_data[t]))
        for i in range(k):
            total = total + torch.log(1 - h(s_noise[t, i], log_q_noise[t, i]))
    return -total / b


def soft_nearest_neighbours_reference(x, labels, temperature: float) -> torch.Tensor:
    """Frosst et al. 2019: L = -1/N Σ_i log(Σ_{j≠i, y_j=y_i} e^{-‖x_i-x_j‖²/T} / Σ_{k≠i} e^{-‖x_i-x_k‖²/T}),
    N and the sum over the samples i that have a same-label partner."""
    n = len(x)
    labels = labels.tolist()
    total, counted = 0, 0
    for i in range(n):
        if not any(labels[j] == labels[i] for j in range(n) if j != i):
            continue
        num = sum(torch.exp(-_dist(x[i], x[j]) ** 2 / temperature) for j in range(n) if j != i and labels[j] == labels[i])
        den = sum(torch.exp(-_dist(x[i], x[k]) ** 2 / temperature) for k in range(n) if k != i)
        total = total - torch.log(num / den)
        counted += 1
    return total / counted


def _column_mean(z, j):
    return sum(z[n, j] for n in range(len(z))) / len(z)


def barlow_twins_reference(z1, z2, lambda_offdiag: float, eps: float = 1e-5) -> torch.Tensor:
    """Zbontar et al. 2021 eq. 1–2: ẑ_nj = (z_nj − mean_j) / sqrt(var_j + ε) (biased var, as the
    official BatchNorm), C_ij = Σ_n ẑ1_ni ẑ2_nj / N, L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²."""
    n, d = z1.shape

    def standardize(z):
        out = [[None] * d for _ in range(n)]
        for j in range(d):
            mean = _column_mean(z, j)
            var = sum((z[k, j] - mean) ** 2 for k in range(n)) / n
            for k in range(n):
                out[k][j] = (z[k, j] - mean) / torch.sqrt(var + eps)
        return out

    a, b = standardize(z1), standardize(z2)
    total = 0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[k][i] * b[k][j] for k in range(n)) / n
            total = total + ((1 - c_ij) ** 2 if i == j else lambda_offdiag * c_ij**2)
    return total


def vicreg_terms_reference(z1, z2, gamma: float, eps: float) -> tuple:
    """Bardes et al. 2022 eq. 1–5: s = 1/(N·d) Σ_n Σ_j (z_nj − z'_nj)²;
    v(Z) = 1/d Σ_j max(0, γ − sqrt(Var(z^j) + ε)), Var with 1/(N − 1);
    c(Z) = 1/d Σ_{i≠j} C_ij², C_ij = 1/(N − 1) Σ_n (z_ni − z̄_i)(z_nj − z̄_j).
    Returns (s, v(Z) + v(Z'), c(Z) + c(Z'))."""
    n, d = z1.shape
    inv = sum((z1[k, j] - z2[k, j]) ** 2 for k in range(n) for j in range(d)) / (n * d)

    def v(z):
        total = 0
        for j in range(d):
            mean = _column_mean(z, j)
            var = sum((z[k, j] - mean) ** 2 for k in range(n)) / (n - 1)
            hinge = gamma - torch.sqrt(var + eps)
            total = total + (hinge if hinge > 0 else hinge * 0)
        return total / d

    def c(z):
        means = [_column_mean(z, j) for j in range(d)]
        total = 0
        for i in range(d):
            for j in range(d):
                if i != j:
                    cov = sum((z[k, i] - means[i]) * (z[k, j] - means[j]) for k in range(n)) / (n - 1)
                    total = total + cov**2
        return total / d

    return inv, v(z1) + v(z2), c(z1) + c(z2)


def vicreg_reference(z1, z2, sim_weight, var_weight, cov_weight, gamma, eps) -> torch.Tensor:
    """VICReg eq. 6: λ s(Z, Z') + μ [v(Z) + v(Z')] + ν [c(Z) + c(Z')]."""
    inv, var, cov = vicreg_terms_reference(z1, z2, gamma, eps)
    return sim_weight * inv + var_weight * var + cov_weight * cov


def local_nce_reference(source: torch.Tensor, target: torch.Tensor, clip: float, penalty: float) -> torch.Tensor:
    """AMDIM (Bachman et al. 2019, section 3) from its equation, one term at a time:
    φ(i; j, l) = s_i · t_{j,l} / √D; the loss of positive (i, l) is
    −log e^{c·tanh(φ(i;i,l)/c)} / (e^{c·tanh(φ(i;i,l)/c)} + Σ_{j≠i, l'} e^{c·tanh(φ(i;j,l')/c)}),
    averaged over i and l; plus λ times the mean of φ² over every (i, j, l)."""
    b, d, n_loc = target.shape

    def phi(i, j, loc):
        return sum(source[i, k] * target[j, k, loc] for k in range(d)) / math.sqrt(d)

    def clipped(i, j, loc):
        return clip * torch.tanh(phi(i, j, loc) / clip)

    nce, squares = 0.0, 0.0
    for i in range(b):
        negatives = sum(torch.exp(clipped(i, j, m)) for j in range(b) if j != i for m in range(n_loc))
        for loc in range(n_loc):
            positive = torch.exp(clipped(i, i, loc))
            nce = nce - torch.log(positive / (positive + negatives))
        squares = squares + sum(phi(i, j, m) ** 2 for j in range(b) for m in range(n_loc))
    return nce / (b * n_loc) + penalty * squares / (b * b * n_loc)


def random_walk_reference(nodes: torch.Tensor, temperature: float) -> torch.Tensor:
    """Jabri et al. 2020, eq. 1-3, entry by entry: A_t[i, j] = e^{q_t,i·q_t+1,j/τ} / Σ_l e^{q_t,i·q_t+1,l/τ},
    Ā_t the same from t+1 to t; for each walk length k the return probability of node i along
    0 → k → 0 is the sum over every path of the product of its steps; the loss is
    Σ_k mean over videos and nodes of −log that probability."""
    b, k_frames, n, _ = nodes.shape

    def step(a, c, i, j):
        scores = [torch.dot(a[i], c[m]) / temperature for m in range(n)]
        return torch.exp(scores[j]) / sum(torch.exp(s) for s in scores)

    total = 0.0
    for v in range(b):
        q = nodes[v]
        for k in range(1, k_frames):
            for i in range(n):
                # distribution over nodes after each step: forward to frame k, then back to frame 0
                p = [1.0 if j == i else 0.0 for j in range(n)]
                path = [(t, t + 1) for t in range(k)] + [(t + 1, t) for t in reversed(range(k))]
                for src, dst in path:
                    p = [sum(p[m] * step(q[src], q[dst], m, j) for m in range(n)) for j in range(n)]
                total = total - torch.log(p[i]) / (b * n)
    return total
