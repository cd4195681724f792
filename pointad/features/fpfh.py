"""Fast Point Feature Histograms (Rusu et al. 2009) in torch, matching Open3D's
``compute_fpfh_feature`` (33 bins: 11 per angle feature).

For each point, SPFH = histogram of the pair features (alpha, phi, theta) with its neighbours,
each neighbour adding 100 / (number of neighbours); FPFH = the neighbours' SPFHs weighted by
1 / squared distance, each 11-bin block rescaled to sum to 100, plus the point's own SPFH.
Neighbourhoods are Open3D's hybrid search: the ``max_nn`` nearest points within ``radius``
(the point itself first, then skipped). Runs on the device of the inputs, in chunks.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from pointad.errors import InputError

N_BINS = 11
DIM = 3 * N_BINS
_CHUNK = 4096  # points per chunk: (chunk, max_nn, 33) float64 stays ~100 MB at max_nn = 100


def pair_features(p1, n1, p2, n2):
    """Open3D's pair features (alpha, phi, theta) of (…, 3) point/normal pairs.

    The frame is built on the point whose normal is more aligned with the line joining them, so
    the features do not depend on the order of the pair. Degenerate pairs (coincident points,
    normal parallel to the line) give zeros.
    """
    dp = p2 - p1
    dist = dp.norm(dim=-1)
    safe = torch.where(dist > 0, dist, torch.ones_like(dist))
    cos1 = (n1 * dp).sum(-1) / safe
    cos2 = (n2 * dp).sum(-1) / safe
    swap = torch.acos(cos1.abs().clamp(max=1.0)) > torch.acos(cos2.abs().clamp(max=1.0))
    s = swap.unsqueeze(-1)
    u = torch.where(s, n2, n1)
    other = torch.where(s, n1, n2)
    dp = torch.where(s, -dp, dp)
    theta = torch.where(swap, -cos2, cos1)
    v = torch.linalg.cross(dp, u, dim=-1)
    v_norm = v.norm(dim=-1)
    v = v / torch.where(v_norm > 0, v_norm, torch.ones_like(v_norm)).unsqueeze(-1)
    w = torch.linalg.cross(u, v, dim=-1)
    phi = (v * other).sum(-1)
    alpha = torch.atan2((w * other).sum(-1), (u * other).sum(-1))
    ok = (dist > 0) & (v_norm > 0)
    zero = torch.zeros_like(alpha)
    return torch.where(ok, alpha, zero), torch.where(ok, phi, zero), torch.where(ok, theta, zero)


def _bins(alpha, phi, theta):
    b1 = torch.floor(N_BINS * (alpha + math.pi) / (2 * math.pi)).long().clamp(0, N_BINS - 1)
    b2 = torch.floor(N_BINS * (phi + 1.0) * 0.5).long().clamp(0, N_BINS - 1) + N_BINS
    b3 = torch.floor(N_BINS * (theta + 1.0) * 0.5).long().clamp(0, N_BINS - 1) + 2 * N_BINS
    return b1, b2, b3


def _spfh(points, normals, nbr, valid):
    """(N, 33) SPFH from neighbour indices ``nbr`` (N, K) (self excluded) and their mask."""
    n = points.shape[0]
    out = torch.zeros(n, DIM, dtype=points.dtype, device=points.device)
    count = valid.sum(1)
    incr = torch.where(count > 0, 100.0 / count.clamp(min=1).to(points.dtype),
                       torch.zeros((), dtype=points.dtype, device=points.device))
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        j = nbr[sl]
        feats = pair_features(points[sl, None], normals[sl, None], points[j], normals[j])
        weight = valid[sl].to(points.dtype) * incr[sl, None]
        for b in _bins(*feats):
            out[sl].scatter_add_(1, b, weight)
    return out


def fpfh(points, normals, radius: float | None, max_nn: int = 100, *,
         neighbours=None) -> torch.Tensor:
    """(N, 33) FPFH descriptors of (N, 3) ``points`` with unit ``normals`` (tensors or arrays).

    Args:
        radius: neighbourhood radius (length unit of the points); None = plain kNN (what BTF and
            Simple3D get from Open3D with a radius larger than the object).
        max_nn: at most this many nearest neighbours within the radius (itself included).
        neighbours: optional precomputed ``(idx, dists)`` of shape (N, max_nn), nearest first,
            idx -1 for empty slots (the output of :func:`pointad.ops.ball_query` with distances).
    Returns float64 on the points' device (float64 because the 1/d^2 weights span many decades).
    """
    if radius is not None and not radius > 0:
        raise InputError(f"FPFH radius must be > 0, got {radius!r}")
    if int(max_nn) < 2:
        raise InputError(f"FPFH max_nn must be >= 2, got {max_nn!r}")
    pts = torch.as_tensor(np.asarray(points) if not torch.is_tensor(points) else points)
    device = pts.device
    pts = pts.to(torch.float64)
    nrm = torch.as_tensor(normals if torch.is_tensor(normals) else np.asarray(normals),
                          device=device).to(torch.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
        raise InputError(f"FPFH needs (N, 3) points and normals, got {tuple(pts.shape)} and "
                         f"{tuple(nrm.shape)}")
    if neighbours is None:
        from pointad.ops import ball_query, knn  # hybrid search: nearest max_nn within radius

        k = min(int(max_nn), pts.shape[0])
        idx = knn(pts, pts, k)[1] if radius is None else ball_query(pts, pts, radius, k)[0]
    else:
        idx = torch.as_tensor(neighbours[0], device=device)
    idx = idx.to(torch.int64)
    # Drop each point's first neighbour (itself); the rest are the pairs.
    nbr_raw = idx[:, 1:]
    valid = nbr_raw >= 0
    nbr = nbr_raw.clamp(min=0)
    spfh = _spfh(pts, nrm, nbr, valid)
    n = pts.shape[0]
    # FPFH_i = sum_j SPFH_j / |p_i - p_j|^2 over the neighbours: one sparse (N x N) product, so no
    # (N, K, 33) temporary is ever built.
    rows = torch.arange(n, device=device).unsqueeze(1).expand_as(nbr)
    d2 = ((pts[nbr] - pts.unsqueeze(1)) ** 2).sum(-1)
    keep = valid & (d2 > 0)
    weights = torch.sparse_coo_tensor(torch.stack([rows[keep], nbr[keep]]), 1.0 / d2[keep],
                                      (n, n), check_invariants=False).coalesce()
    feat = torch.sparse.mm(weights, spfh).view(n, 3, N_BINS)
    sums = feat.sum(-1, keepdim=True)
    feat = feat * torch.where(sums != 0,
                              100.0 / torch.where(sums != 0, sums, torch.ones_like(sums)),
                              torch.zeros_like(sums))
    feat = feat.view(n, DIM) + spfh
    return torch.where(valid.any(1, keepdim=True), feat, torch.zeros_like(feat))


def multiscale_fpfh(points, normals, ks=(40, 80, 120)) -> torch.Tensor:
    """(N, 33 * len(ks)) kNN-FPFH at several neighbourhood sizes, concatenated (Simple3D's
    multi-scale descriptor): small k sees local shape, large k the part's context. One kNN
    search serves every scale (the k nearest are a prefix of the max(ks) nearest)."""
    from pointad.ops import knn

    pts = torch.as_tensor(points)
    _, idx = knn(pts, pts, min(max(ks), pts.shape[0]))
    return torch.cat([fpfh(pts, normals, None, k, neighbours=(idx[:, :k], None)) for k in ks],
                     dim=1)
