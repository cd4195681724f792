"""3D-PNAS: Perlin-noise anomaly synthesis on point clouds.

Project the cloud to a 2D parameterization, sample a multi-octave Perlin field there and move the
points along their normals. Two modes:

``paper``
    The 3D-PNAS paper (arXiv 2504.12856): PCA plane (by default), an r x r grid over the projected
    bounding box, ``Perlin(g * s, o, p, l)`` min-max normalized to [0, 1], looked up at each point,
    displacement ``strength * f(noise)`` along the normal. The paper leaves ``f`` and the lookup
    open; both are options (``transfer``, ``lookup``). The field covers the whole part.
``local`` (default)
    What 3D-AD datasets look like: one localized defect. A seed point (random, or ``center``); a
    support of the ``2 * fraction * N`` nearest points facing the seed's side; a defect potential
    ``falloff(distance) * minmax(Perlin)`` on the chosen parameterization (``tangent`` by default),
    so the outline follows the noise; soft labels that are 0 at the border, 1 at the peak and reach
    0.5 at exactly ``fraction * N`` points. Bump, dent or either.

Label rule (both modes): a point is anomalous iff its displacement is at least half of the peak
displacement ``strength`` (``soft_labels >= 0.5``). With zero strength nothing moves and nothing is
labelled.

Units: with ``units="relative"`` (default) ``strength`` is a fraction of the object diameter
(:func:`pointad.geometry.object_diameter`) and ``scale`` counts noise cycles across the object
(paper) or across the defect (local), so one setting fits parts of any size. With
``units="absolute"`` strength is in the cloud's length unit and scale in cycles per length unit.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pointad import __version__
from pointad.errors import InputError
from pointad.geometry.normals import ORIENTATIONS, estimate_normals
from pointad.geometry.projection import PROJECTIONS, project
from pointad.geometry.units import object_diameter
from pointad.params import ParamsMixin
from pointad.reductions import column_max, column_min
from pointad.synthesis.displacement import displace, labels_from_soft
from pointad.synthesis.field import NoiseDomain, grid_lookup, min_max
from pointad.synthesis.region import SUPPORT_FACTOR, defect_support, falloff_weight, soft_mask
from pointad.synthesis.sample import AnomalySample
from pointad.validation import (
    as_grid,
    as_normals,
    as_points,
    check_choice,
    check_not_degenerate,
    check_number,
    check_seed,
)

MODES = ("local", "paper")
SIGNS = ("bump", "dent", "mixed")
TRANSFERS = ("identity", "signed", "threshold")
LOOKUPS = ("bilinear", "nearest")
UNITS = ("relative", "absolute")


class PNAS(ParamsMixin):
    """Perlin-noise anomaly synthesizer. Parameters are validated once, here, and kept under
    their names; ``get_params()`` returns them all (a dict ``PNAS(**params)`` accepts).

    Args:
        mode: ``"local"`` (one localized defect) or ``"paper"`` (the paper's whole-part field).
        scale: noise frequency s; cycles across the object (paper) or the defect (local) in
            relative units, cycles per length unit in absolute units. > 0.
        octaves: fBm octaves o (1..32).
        persistence: fBm amplitude ratio p between octaves (> 0).
        lacunarity: fBm frequency ratio l between octaves (> 0).
        strength: peak displacement; fraction of the object diameter (relative) or length
            (absolute).
        projection: one of :data:`pointad.geometry.PROJECTIONS`, or ``"auto"`` (``pca`` in paper
            mode, ``tangent`` in local mode).
        units: ``"relative"`` or ``"absolute"`` (see the module docstring).
        fraction: local mode: target fraction of anomalous points, in (0, 0.5].
        sign: ``"bump"`` (outward), ``"dent"`` (inward) or ``"mixed"`` (drawn per sample).
        falloff: local mode: part of the support radius over which the defect fades out, (0, 1].
        resolution: paper mode: grid resolution r (2..4096).
        lookup: paper mode: ``"bilinear"`` or ``"nearest"`` grid lookup.
        transfer: paper mode f: ``"identity"`` (f = P~), ``"signed"`` (2 P~ - 1) or ``"threshold"``
            ((P~ - threshold) / (1 - threshold), clipped at 0).
        threshold: paper mode level for ``transfer="threshold"``, in [0, 1).
        normal_k: neighbourhood size for normal estimation when no normals are given (>= 3).
        normal_radius: optional neighbourhood radius for normal estimation (length unit of the
            points; at most ``normal_k`` neighbours inside it count).
        orient: normal orientation when estimating (:func:`pointad.geometry.local_frames`):
            ``auto``, ``camera_location`` (the origin), ``consistent_tangent_plane``, ``none``.

    Call ``PNAS(...)(points, normals=None, seed=0)`` to get an :class:`AnomalySample`.
    """

    def __init__(self, mode: str = "local", scale: float = 2.0, octaves: int = 4,
                 persistence: float = 0.5, lacunarity: float = 2.0, strength: float = 0.02,
                 projection: str = "auto", units: str = "relative", fraction: float = 0.03,
                 sign: str = "mixed", falloff: float = 0.5, resolution: int = 256,
                 lookup: str = "bilinear", transfer: str = "identity", threshold: float = 0.5,
                 normal_k: int = 30, normal_radius: float | None = None,
                 orient: str = "auto") -> None:
        self.mode = check_choice(mode, "mode", MODES)
        self.scale: float = check_number(scale, "scale", low=0, low_open=True)
        self.octaves: int = check_number(octaves, "octaves", low=1, high=32, integer=True)
        self.persistence: float = check_number(persistence, "persistence", low=0, low_open=True)
        self.lacunarity: float = check_number(lacunarity, "lacunarity", low=0, low_open=True)
        self.strength: float = check_number(strength, "strength", low=0)
        self.projection = check_choice(projection, "projection", ("auto",) + PROJECTIONS)
        self.units = check_choice(units, "units", UNITS)
        self.fraction: float = check_number(fraction, "fraction", low=0, high=0.5, low_open=True)
        self.sign = check_choice(sign, "sign", SIGNS)
        self.falloff: float = check_number(falloff, "falloff", low=0, high=1, low_open=True)
        self.resolution: int = check_number(resolution, "resolution", low=2, high=4096,
                                            integer=True)
        self.lookup = check_choice(lookup, "lookup", LOOKUPS)
        self.transfer = check_choice(transfer, "transfer", TRANSFERS)
        self.threshold: float = check_number(threshold, "threshold", low=0, high=1,
                                             high_open=True)
        self.normal_k: int = check_number(normal_k, "normal_k", low=3, integer=True)
        self.normal_radius: float | None = (
            None if normal_radius is None else
            check_number(normal_radius, "normal_radius", low=0, low_open=True))
        self.orient = check_choice(orient, "orient", ORIENTATIONS)

    @property
    def resolved_projection(self) -> str:
        """The projection actually used (``auto`` resolved for the mode)."""
        if self.projection != "auto":
            return self.projection
        return "pca" if self.mode == "paper" else "tangent"

    def __call__(self, points: ArrayLike, normals: ArrayLike | None = None, seed: int = 0, *,
                 center: int | None = None,
                 grid: tuple[tuple[int, int], np.ndarray] | None = None) -> AnomalySample:
        """Synthesize one anomaly on ``points`` (N, 3).

        Args:
            points: (N, 3) array, any length unit.
            normals: (N, 3) outward/viewer-facing normals, or None to estimate them.
            seed: integer seed; the same seed gives the same sample.
            center: local mode: index of the seed point (default: drawn from ``seed``).
            grid: ``((H, W), grid_index)`` of an organized cloud (needed by ``projection="grid"``;
                also makes ``orient="auto"`` face the sensor at the origin).
        """
        check_seed(seed)
        projection = self.resolved_projection
        pts = as_points(points, min_points=4)  # normal estimation checks its own neighbourhood
        check_not_degenerate(pts)
        grid = as_grid(grid, len(pts))
        if normals is None:
            nrm = estimate_normals(pts, k=self.normal_k, orient=self.orient,
                                   organized=grid is not None, radius=self.normal_radius)
        else:
            nrm = as_normals(normals, len(pts))
        if projection == "grid" and grid is None:
            raise InputError("projection 'grid' needs an organized cloud (grid shape and index)")
        if center is not None:
            check_number(center, "center", low=0, high=len(pts) - 1, integer=True)

        rng = np.random.default_rng(seed)
        sign_value = {"bump": 1.0, "dent": -1.0}.get(self.sign)
        if sign_value is None:
            sign_value = float(rng.choice([-1.0, 1.0]))
        diameter = object_diameter(pts)
        peak = self.strength * (diameter if self.units == "relative" else 1.0)

        if self.mode == "paper":
            soft, signed, drawn = self._paper(pts, nrm, projection, grid, diameter, rng)
        else:
            soft, signed, drawn = self._local(pts, nrm, projection, grid, rng, center)
        if peak == 0:
            soft = np.zeros_like(soft)
        new_points, displacement = displace(pts, nrm, sign_value * peak * signed)
        params: dict[str, Any] = {
            "config": self.get_params(), "seed": int(seed), "sign": sign_value,
            "projection": projection, "peak_displacement": peak, "object_diameter": diameter,
            "n_points": len(pts), "pointad_version": __version__, **drawn,
        }
        labels = labels_from_soft(soft)
        params["anomalous_fraction"] = float(labels.mean())
        return AnomalySample(points=new_points, normals=nrm, labels=labels, soft_labels=soft,
                             displacement=displacement, params=params)

    def regenerate(self, points: ArrayLike, params: dict[str, Any],
                   normals: ArrayLike | None = None,
                   grid: tuple[tuple[int, int], np.ndarray] | None = None) -> AnomalySample:
        """Rebuild the sample described by ``params`` (from :attr:`AnomalySample.params`)."""
        if not isinstance(params, dict) or not isinstance(params.get("config"), dict) \
                or "seed" not in params:
            raise InputError("params must be an AnomalySample's params (a dict with 'config' "
                             f"and 'seed', as its JSON sidecar holds), got {type(params).__name__}"
                             + (f" with keys {', '.join(map(str, params)) or '(none)'}"
                                if isinstance(params, dict) else ""))
        try:
            synth = PNAS(**params["config"])
        except TypeError as exc:  # a key PNAS does not take
            raise InputError(f"params['config']: {exc}") from None
        return synth(points, normals, seed=params["seed"], center=params.get("center"),
                     grid=grid)

    def _domain(self, dim: int, frequency: float, rng: np.random.Generator) -> NoiseDomain:
        return NoiseDomain(dim, frequency, self.octaves, self.persistence, self.lacunarity, rng)

    def _paper(self, pts: np.ndarray, nrm: np.ndarray, projection: str,
               grid: tuple[tuple[int, int], np.ndarray] | None, diameter: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        center = int(rng.integers(len(pts))) if projection == "tangent" else None
        coords = project(projection, pts, normals=nrm, center=center, grid=grid)
        frequency = self.scale / diameter if self.units == "relative" else self.scale
        domain = self._domain(coords.shape[1], frequency, rng)
        if coords.shape[1] == 3:  # volume: no 2D grid; the field is normalized over the points
            field = min_max(domain(coords).astype(np.float64))
        else:
            lo, hi = column_min(coords), column_max(coords)
            grid_field = min_max(domain.on_grid(lo, hi, self.resolution).astype(np.float64))
            field = np.clip(grid_lookup(grid_field, lo, hi, coords, self.lookup), 0.0, 1.0)
        if self.transfer == "identity":
            signed = field
        elif self.transfer == "signed":
            signed = 2.0 * field - 1.0
        else:
            signed = np.clip((field - self.threshold) / (1.0 - self.threshold), 0.0, 1.0)
        drawn = {} if center is None else {"center": center}
        return np.abs(signed), signed, drawn

    def _local(self, pts: np.ndarray, nrm: np.ndarray, projection: str,
               grid: tuple[tuple[int, int], np.ndarray] | None, rng: np.random.Generator,
               center: int | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        n = len(pts)
        n_labelled = max(1, int(round(self.fraction * n)))
        n_support = min(n, int(np.ceil(SUPPORT_FACTOR * n_labelled)))
        drawn_center = int(rng.integers(n))
        center = drawn_center if center is None else int(center)
        support, dist, radius = defect_support(pts, nrm, center, n_support)
        coords = project(projection, pts, normals=nrm, center=center, grid=grid, subset=support)
        frequency = (self.scale / (2.0 * radius) if self.units == "relative" and radius > 0
                     else self.scale)
        noise = min_max(self._domain(coords.shape[1], frequency, rng)(coords).astype(np.float64))
        potential = falloff_weight(dist, radius, self.falloff) * noise
        soft = np.zeros(n)
        soft[support] = soft_mask(potential, n_labelled)
        return soft, soft, {"center": center, "support_radius": radius}
