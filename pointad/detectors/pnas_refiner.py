"""``pnas-refiner``: the ``patchcore-ms`` memory bank, refined by a small network trained on
3D-PNAS defects synthesized on the (normal) training clouds.

Fit: build the memory bank of the training groups (as ``patchcore-ms``). For each training cloud,
a leave-one-out bank of the *other* clouds scores its groups, clean and with PNAS defects, so the
network learns what a defect looks like relative to unseen normal variation rather than to the
cloud's own memorized features. Half of the synthetic defects (``hole_rate``) remove the PNAS
region instead of displacing it (:func:`pointad.synthesis.hole.carve_hole`: missing data,
labelled on its rim): a hole leaves the surface's shape intact, so a shape-feature bank barely
sees it. Per group the network sees the bank distance, the mean, max and min distance of its
``context - 1`` nearest groups (defects are spatially coherent; normal variation is often a lone
high distance), the group's asymmetry (how far its points' centroid sits from its centre,
relative to its radius: large on the rim of missing data) and the residual vector to the nearest
bank feature, and predicts whether the group is anomalous. The final group
score is ``d / d_99 + weight * p`` (``d_99``: 99th percentile of clean leave-one-out distances);
``weight`` is chosen from a small grid on held-out synthetic defects, and 0 (the plain bank) is in
the grid, so the refiner is never worse than the bank on that held-out set.
"""
from __future__ import annotations

import numpy as np
import torch

from pointad.detectors.patchcore_ms import PatchCoreMS
from pointad.detectors.registry import register
from pointad.device import seeded
from pointad.metrics import auroc
from pointad.ops import knn
from pointad.synthesis import PNAS
from pointad.synthesis.hole import carve_hole
from pointad.validation import check_number

_WEIGHTS = (0.0, 0.1, 0.25)  # d / d_99 exceeds 1 on defects; p is in [0, 1]
_MARGIN = 0.005  # held-out AUROC a weight > 0 must gain over the plain bank


def _synthesizer(rng: np.random.Generator) -> PNAS:
    """A PNAS with drawn parameters: the network must not learn one defect shape."""
    return PNAS(fraction=float(rng.uniform(0.01, 0.07)), strength=float(rng.uniform(0.005, 0.03)),
                scale=float(rng.uniform(1.0, 4.0)), octaves=int(rng.integers(1, 7)), sign="mixed")


@register
class PNASRefiner(PatchCoreMS):
    """patchcore-ms + a network trained on PNAS defects (see the module docstring).

    Args (besides patchcore-ms's):
        n_synthetic: PNAS defects per training cloud for training (one more is held out).
        hidden: width of the network's two hidden layers.
        epochs: full-batch training epochs (Adam, learning rate ``lr``).
        context: the group and its nearest groups whose distances the network sees.
        hole_rate: fraction of the synthetic defects that remove their region (holes) instead
            of displacing it.
    """

    name = "pnas-refiner"

    def __init__(self, normal_k: int = 10, fpfh_ks=(40, 80, 120), radius_scale: float = 0.0,
                 n_groups: int = 1024, group_size: int = 64, coreset_ratio: float = 0.05,
                 max_bank: int = 50_000, top_k: int = 80, residual_weight: float = 0.0,
                 outlier_spacings: float = 0.0, outlier_k: int = 3,
                 max_template_points: int = 100_000, align_points: int = 4000,
                 partial_views: int = 0, holes: bool = False, seed: int = 0,
                 device: str = "auto", n_synthetic: int = 4, hidden: int = 64,
                 epochs: int = 200, lr: float = 3e-3, context: int = 9, hole_rate: float = 0.5):
        super().__init__(normal_k=normal_k, fpfh_ks=fpfh_ks, radius_scale=radius_scale,
                         n_groups=n_groups, group_size=group_size, coreset_ratio=coreset_ratio,
                         max_bank=max_bank, top_k=top_k, residual_weight=residual_weight,
                         outlier_spacings=outlier_spacings, outlier_k=outlier_k,
                         max_template_points=max_template_points, align_points=align_points,
                         partial_views=partial_views, holes=holes,
                         consensus=False,  # its bank as measured; not one of its parameters
                         seed=seed, device=device)
        self.n_synthetic = check_number(n_synthetic, "n_synthetic", low=1, integer=True)
        self.hidden = check_number(hidden, "hidden", low=1, integer=True)
        self.epochs = check_number(epochs, "epochs", low=1, integer=True)
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.context = check_number(context, "context", low=1, integer=True)
        self.hole_rate = check_number(hole_rate, "hole_rate", low=0, high=1)

    # Inputs of the network ---------------------------------------------------------------
    def _inputs(self, groups, bank: torch.Tensor):
        """``(bank distance (G,), network input (G, 5 + D))`` of a cloud's :class:`Groups`."""
        centres, feats = groups.centres, groups.features
        dist, idx = knn(feats, bank, 1)
        residual = feats - bank[idx[:, 0]]
        offsets = groups.points[groups.members] - centres[:, None]
        asymmetry = (offsets.mean(1).norm(dim=1)
                     / offsets.norm(dim=2).mean(1).clamp(min=1e-12)).float()[:, None]
        # Context: the distances of the neighbouring groups (defects are spatially coherent).
        k = min(self.context, centres.shape[0])
        _, near = knn(centres.double(), centres.double(), k)
        around = dist[near[:, 1:], 0] if k > 1 else dist
        ctx = torch.stack([around.mean(1), around.max(1).values, around.min(1).values], dim=1)
        return dist[:, 0], torch.cat([dist, ctx, asymmetry, residual], dim=1)

    @staticmethod
    def _group_labels(members: torch.Tensor, labels) -> torch.Tensor:
        """1 for groups whose points are mostly anomalous, else 0."""
        lab = torch.as_tensor(labels, device=members.device).float()
        return (lab[members].mean(dim=1) >= 0.5).float()

    def _network(self, dim: int) -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Linear(dim, self.hidden), torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, self.hidden), torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, 1)).to(self._device)

    def _fit(self, clouds):
        grouped, _, aligned = self._fit_common(clouds)
        rng = np.random.default_rng(self.seed)
        # (network input, group labels, bank group score)
        rows: dict[str, list] = {"train": [], "held": []}
        clean_d = []
        for i, cloud in enumerate(clouds):
            others = [g.features for j, g in enumerate(grouped) if j != i] or [grouped[i].features]
            loo = self._memory_bank().fit(torch.cat(others))
            d, x = self._inputs(grouped[i], loo.fitted_bank())
            clean_d.append(d)
            r = self._loo_residual(grouped[i], aligned[i])
            rows["train" if i else "held"].append((x, torch.zeros(len(x), device=self._device), r))
            if i == 0 and len(clouds) == 1:
                rows["train"].append(rows["held"][0])
            # n_synthetic defects to train on, then two held out: a displacement and a hole
            # (kinds a shape-feature bank sees in different ways), never trained on.
            for s in range(self.n_synthetic + 2):
                held = s >= self.n_synthetic
                defective, labels = self._synthetic(
                    cloud, rng, hole=None if not held else s == self.n_synthetic + 1)
                points = np.asarray(defective.points, dtype=np.float64)
                keep = self._inliers(points)
                g = self._groups(defective, None if keep.all() else points[keep])
                _, x = self._inputs(g, loo.fitted_bank())
                y = self._group_labels(g.members, labels[keep])
                rows["held" if held else "train"].append((x, y, self._loo_residual(g, aligned[i])))
        self.scale_ = torch.quantile(torch.cat(clean_d), 0.99).clamp(min=1e-12)
        x = torch.cat([r[0] for r in rows["train"]])
        y = torch.cat([r[1] for r in rows["train"]])
        self.mean_, self.std_ = x.mean(0), x.std(0).clamp(min=1e-6)
        pos_weight = ((1 - y).sum() / y.sum().clamp(min=1)).reshape(1)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        xn = (x - self.mean_) / self.std_
        with seeded(self.seed, self._device):  # the network's initialisation
            self.net_ = self._network(x.shape[1])
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = loss_fn(self.net_(xn)[:, 0], y)
            loss.backward()
            opt.step()
        # The weight of the network's vote, on held-out defects and the held-out clean cloud
        # (0 = the plain bank): a weight > 0 must beat the bank by _MARGIN there, so a network
        # that learned nothing useful is switched off rather than kept on a coin flip.
        hx = torch.cat([r[0] for r in rows["held"]])
        hy = torch.cat([r[1] for r in rows["held"]])
        hr = torch.cat([r[2] for r in rows["held"]])
        self.weight_ = 0.0
        self.held_out_ = {}
        if 0 < float(hy.sum()) < len(hy):
            scores = {w: auroc(hy.cpu().numpy(), self._combine(hx, hr, w).cpu().numpy())
                      for w in _WEIGHTS}
            self.held_out_ = scores
            best = max(_WEIGHTS, key=lambda w: (scores[w], -w))
            if scores[best] >= scores[0.0] + _MARGIN:
                self.weight_ = best

    def fit_notes(self) -> list[str]:
        """The network's weight the held-out check kept (0: the plain bank)."""
        return [f"pnas-refiner: network weight {self.weight_:g} (0 = the plain bank)"]

    def _loo_residual(self, g, aligned):
        """Normalised residual (G,) of a training cloud's groups against the other templates
        (its alignments ``aligned`` from the fit), or zeros without a residual."""
        if aligned is None or self.residual_weight == 0:
            return torch.zeros(g.centres.shape[0], dtype=torch.float64, device=self._device)
        res = self._residual(g.points.cpu().numpy(), *aligned)[1]
        return self._residual_groups(g, res) / self.residual_scale_

    def _synthetic(self, cloud, rng: np.random.Generator, hole: bool | None = None):
        """One synthetic defect on ``cloud``: ``(defective cloud, its point labels)``; a PNAS
        displacement, or its region removed: with probability ``hole_rate``, or as ``hole``
        says when it is not None."""
        is_hole = rng.random() < self.hole_rate
        if hole is not None:
            is_hole = hole
        sample = _synthesizer(rng)(cloud.points, seed=int(rng.integers(2**31 - 1)),
                                   grid=(cloud.grid_shape, cloud.grid_index)
                                   if cloud.organized else None)
        if not is_hole:
            return type(cloud)(sample.points, cloud.grid_shape, cloud.grid_index), sample.labels
        keep, labels = carve_hole(cloud.points, sample.normals, sample.labels,
                                  sample.params["center"])
        grid_index = cloud.grid_index[keep] if cloud.organized else None
        return type(cloud)(cloud.points[keep], cloud.grid_shape, grid_index), labels[keep]

    def _combine(self, x: torch.Tensor, residual: torch.Tensor, weight: float) -> torch.Tensor:
        """Group scores: the bank's (distance / d_99, plus the weighted normalised residual)
        plus ``weight`` times the network's probability."""
        base = x[:, 0].double() / self.scale_ + self.residual_weight * residual
        if weight == 0:
            return base
        with torch.no_grad():
            p = torch.sigmoid(self.net_((x - self.mean_) / self.std_)[:, 0])
        return base + weight * p

    def _predict(self, cloud):
        g, residuals, points = self._test_groups(cloud)
        _, x = self._inputs(g, self.memory_.fitted_bank())
        if residuals is None:
            residuals = (torch.zeros(len(x), dtype=torch.float64, device=self._device),) * 2
        base, full = (self._combine(x, r, self.weight_) for r in residuals)
        return self._finish(g, full, points, base if self.holes else None)

    def _get_state(self):
        state = {**super()._get_state(), "scale": self.scale_.cpu().numpy(),
                 "mean": self.mean_.cpu().numpy(), "std": self.std_.cpu().numpy(),
                 "weight": np.array(self.weight_)}
        state.update({f"net_{k}": v.cpu().numpy() for k, v in self.net_.state_dict().items()})
        return state

    def _set_state(self, arrays):
        super()._set_state(arrays)
        self.scale_ = torch.as_tensor(arrays["scale"], device=self._device)
        self.mean_ = torch.as_tensor(arrays["mean"], device=self._device)
        self.std_ = torch.as_tensor(arrays["std"], device=self._device)
        self.weight_ = float(arrays["weight"])
        with seeded(self.seed, self._device):  # initialisation draws, overwritten below
            self.net_ = self._network(self.mean_.shape[0])
        self.net_.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in arrays.items()
                                   if k.startswith("net_")})
