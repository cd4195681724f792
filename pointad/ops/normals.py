"""Surface normals by PCA of k-nearest-neighbour neighbourhoods, and their orientation."""
from __future__ import annotations

import torch

from pointad.errors import InputError
from pointad.ops._checks import as_cloud, positive_int
from pointad.ops.knn import gather_points, search


def local_pca_normals(points: torch.Tensor, k: int = 30) -> torch.Tensor:
    """Unit normals: the least-variance direction of each point's ``k`` nearest neighbours.

    The neighbourhood (the point itself included, as Open3D's ``estimate_normals`` with
    ``KDTreeSearchParamKNN(k)``) is centred on its mean; the eigenvector of the smallest
    eigenvalue of its 3x3 covariance (``torch.linalg.eigh``, batched) is the normal.

    Args:
        points: (N, 3) or (B, N, 3) float32 or float64 tensor.
        k: neighbourhood size, ``3 <= k <= N``.

    Returns:
        (..., N, 3) unit normals, unoriented (the sign is arbitrary; see :func:`orient_towards`).
        Differentiable w.r.t. ``points`` where the two smallest eigenvalues differ (eigh's
        gradient is undefined for a degenerate spectrum, e.g. a neighbourhood on a line).
    """
    p, batched = as_cloud(points, "points")
    k = positive_int(k, "k")
    if k < 3:
        raise InputError(f"k must be >= 3 to span a plane, got {k}")
    if k > p.shape[1]:
        raise InputError(f"k={k} exceeds the number of points ({p.shape[1]})")
    _, idx = search(p, p, k, ordered=False)                   # a neighbourhood is a set
    neighbours = gather_points(p, idx)                          # (B, N, k, 3)
    centred = neighbours - neighbours.mean(2, keepdim=True)
    # Covariance as a batched (3 x k) @ (k x 3) product; the 1/k scale does not move eigenvectors.
    cov = centred.transpose(-1, -2) @ centred
    _, vectors = torch.linalg.eigh(cov)                         # eigenvalues ascending
    normals = vectors[..., 0]
    return normals if batched else normals[0]


def orient_towards(normals: torch.Tensor, points: torch.Tensor, viewpoint) -> torch.Tensor:
    """Flip each normal that points away from ``viewpoint`` (the sensor of a single-view scan).

    A normal n at p is kept when ``n . (viewpoint - p) >= 0`` and negated otherwise.

    Args:
        normals: (N, 3) or (B, N, 3), as from :func:`local_pca_normals`.
        points: same shape, dtype and device.
        viewpoint: (3,) or, for batched input, (B, 3): a tensor or sequence of numbers, in the
            unit of the points.

    Returns:
        Normals of the input's shape; differentiable (a sign flip).
    """
    n, batched = as_cloud(normals, "normals")
    p, p_batched = as_cloud(points, "points")
    if n.shape != p.shape or batched != p_batched:
        raise InputError(f"normals {tuple(normals.shape)} and points {tuple(points.shape)} must "
                         "have the same shape")
    if n.dtype != p.dtype or n.device != p.device:
        raise InputError(f"normals ({n.dtype}, {n.device}) must match points "
                         f"({p.dtype}, {p.device})")
    try:
        v = torch.as_tensor(viewpoint, dtype=p.dtype, device=p.device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"viewpoint must be 3 numbers: {exc}") from None
    if v.shape == (3,):
        v = v.expand(p.shape[0], 3)
    elif not (batched and v.shape == (p.shape[0], 3)):
        raise InputError(f"viewpoint must have shape (3,){' or (B, 3)' if batched else ''}, got "
                         f"{tuple(v.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise InputError("viewpoint must be finite")
    facing = ((v.unsqueeze(1) - p) * n).sum(-1, keepdim=True) >= 0
    out = torch.where(facing, n, -n)
    return out if batched else out[0]
