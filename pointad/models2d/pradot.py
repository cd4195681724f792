"""PRADOT's prototypes (Trombetta and Lartizien, 2025), reimplemented from the paper's description:
a set of prototypes on one feature grid, learned by entropic optimal transport and EMA, with no
gradient descent.

Every embedding (one grid cell of one image) and every prototype has a feature vector and a fixed
2D position (cell centres scaled to [0, 1]). The cost between embedding ``i`` and prototype ``p``
mixes appearance and structure::

    M[i, p] = (1 - alpha) * D_feat[i, p] / feat_scale + alpha * D_pos[i, p] / pos_scale

with ``D_feat = 1 - cos(f_i, proto_p)`` (the paper's) or the squared Euclidean distance, and
``D_pos`` the Euclidean distance of the positions. Training: per batch, the entropic OT plan
between the embeddings and the prototypes (uniform marginals, POT's log-domain Sinkhorn), each
prototype's barycentre of the embeddings the plan sends it (``(plan.T * K) @ F``, normalised by
the plan's column sums) and the EMA update ``proto <- m proto + (1 - m) bary``. Score of
an embedding: its cost to the nearest prototype, ``min_p M[i, p]``.

Local prototypes (``n_prototypes = P >= 1``): P per grid cell, at that cell's position. Global
ones (``0 < n_prototypes < 1``): one per cell of a coarser ``floor(h n) x floor(w n)`` grid.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

DISTANCES = ("cosine", "sqeuclidean")
CHUNK = 4096  # embeddings per chunk when scoring (bounds the (N, K) cost matrix)


def grid_positions(h: int, w: int, device=None) -> torch.Tensor:
    """(h w, 2) positions in [0, 1] of the cell centres of an h x w grid, row-major, as (x, y)."""
    ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
    xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def prototype_layout(grid: tuple[int, int], n_prototypes: float) -> tuple[tuple[int, int], int]:
    """``((gh, gw), per_cell)``: the prototype grid and the prototypes per cell of it (local:
    the feature grid with ``n`` per cell; global: a coarser grid with one per cell)."""
    h, w = grid
    if n_prototypes >= 1:
        return (h, w), int(n_prototypes)
    return (max(1, math.floor(h * n_prototypes)), max(1, math.floor(w * n_prototypes))), 1


def sinkhorn_plan(cost: torch.Tensor, reg: float, iterations: int) -> torch.Tensor:
    """The (N, K) entropic OT plan between uniform weights on the N rows and the K columns of
    ``cost`` (POT's log-domain Sinkhorn, ``iterations`` iterations, as many as asked: no early
    stop); its rows sum to 1/N and its columns to 1/K (the rows exactly, as POT's last update
    is on their side, the columns up to the convergence reached)."""
    import ot  # POT, imported on use: listing the detectors does not import it
    n, k = cost.shape
    a = torch.full((n,), 1.0 / n, dtype=cost.dtype, device=cost.device)
    b = torch.full((k,), 1.0 / k, dtype=cost.dtype, device=cost.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge": the iteration count is fixed
        return ot.bregman.sinkhorn(a, b, cost, reg, method="sinkhorn_log",
                                   numItermax=iterations, stopThr=0.0)


class Prototypes:
    """The prototypes of one (feature level, alpha) pair (see the module docstring).

    Args:
        channels: feature dimension C.
        grid: (h, w) of the feature maps.
        n_prototypes: P >= 1 (integer) per cell, or a fraction in (0, 1) (a coarser grid).
        alpha: weight of the position term in [0, 1] (0: position ignored).
        device: torch device of the tensors.
    """

    def __init__(self, channels: int, grid: tuple[int, int], n_prototypes: float,
                 alpha: float, distance: str = "sqeuclidean", device="cpu"):
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.grid = (int(grid[0]), int(grid[1]))
        self.alpha, self.device = float(alpha), torch.device(device)
        self.distance = distance
        (gh, gw), per_cell = prototype_layout(self.grid, n_prototypes)
        self.pos_embed = grid_positions(*self.grid, device=self.device)
        self.pos_proto = grid_positions(gh, gw, device=self.device).repeat_interleave(per_cell, 0)
        self.features = torch.zeros(len(self.pos_proto), channels, device=self.device)
        # D_pos / its largest value between any embedding and any prototype (a grid constant).
        d_pos = torch.cdist(self.pos_embed, self.pos_proto)
        self.d_pos = d_pos / d_pos.max().clamp(min=1e-12)
        self.feat_scale = 1.0  # set by fix_scale after training

    def __len__(self) -> int:
        return len(self.features)

    def init_from(self, emb: torch.Tensor, generator: torch.Generator) -> None:
        """Start each prototype at the feature of a random training embedding at its nearest
        grid cell (ours: the paper draws them at random; starting on the data converges in
        the few EMA steps a small training set gives). ``emb``: (M, h w, C)."""
        m = emb.shape[0]
        images = torch.randint(m, (len(self),), generator=generator).to(self.device)
        cells = torch.cdist(self.pos_proto, self.pos_embed).argmin(dim=1)
        self.features = emb[images, cells].clone()

    def feature_distance(self, emb: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """(..., K) ``D_feat`` of embeddings (..., C) to prototypes (K, C): ``1 - cos`` or
        the squared Euclidean distance (clamped at 0 against rounding)."""
        if self.distance == "cosine":
            return 1.0 - F.normalize(emb, dim=-1) @ F.normalize(protos, dim=-1).T
        sq = (emb * emb).sum(-1, keepdim=True) + (protos * protos).sum(-1) - 2.0 * emb @ protos.T
        return sq.clamp(min=0.0)

    def cost(self, emb: torch.Tensor, feat_scale: float | None = None,
             features: torch.Tensor | None = None) -> torch.Tensor:
        """(B, h w, K) cost of the embeddings ``emb`` (B, h w, C) to the prototypes; the
        feature term divided by ``feat_scale`` (None: its largest value here, as in training)."""
        d_feat = self.feature_distance(emb, self.features if features is None else features)
        if feat_scale is None:
            feat_scale = float(d_feat.max().clamp(min=1e-12))
        return (1.0 - self.alpha) * d_feat / feat_scale + self.alpha * self.d_pos

    def step(self, emb: torch.Tensor, reg: float, iterations: int, momentum: float) -> float:
        """One OT + EMA update on a batch ``emb`` (B, h w, C); returns the transport cost
        <plan, M> (the paper's logged loss)."""
        cost = self.cost(emb).reshape(-1, len(self))
        plan = sinkhorn_plan(cost, reg, iterations)
        # The paper's (plan.T K) @ F, divided by the plan's column sums rather than their value
        # at convergence 1/K (equal once Sinkhorn converged): convex combinations always.
        mass = plan.sum(0).clamp(min=torch.finfo(plan.dtype).tiny)
        bary = (plan.T @ emb.reshape(-1, emb.shape[-1])) / mass[:, None]
        self.features = momentum * self.features + (1.0 - momentum) * bary
        return float((plan * cost).sum())

    def fix_scale(self, emb_batches) -> None:
        """The scoring scale of the feature term: its largest value between the training
        embeddings and the fitted prototypes (the paper divides by the batch's largest value;
        a fixed one keeps one cloud's scores independent of the others)."""
        top = max(float(self.feature_distance(e, self.features).max()) for e in emb_batches)
        self.feat_scale = max(top, 1e-12)

    def score(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, h, w) cost of each embedding to its nearest prototype."""
        b = emb.shape[0]
        flat = emb.reshape(b, -1, emb.shape[-1])
        rows = max(1, CHUNK // flat.shape[1])
        out = [self.cost(flat[i:i + rows], self.feat_scale).min(dim=-1).values
               for i in range(0, b, rows)]
        return torch.cat(out).reshape(b, *self.grid)
