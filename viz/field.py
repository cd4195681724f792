"""The Perlin field of a sample on its 2D parameterization, with the projected points and the
defect mask overlaid.

:func:`replay_field` rebuilds, from a sample's ``params`` and the input cloud, the exact noise
domain :class:`pointad.synthesis.PNAS` drew (same generator, same draws in the same order), so
the picture shows the field the defect came from; the tests check that the replayed field
reproduces the sample's soft labels. :func:`field_figure` draws it.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from pointad.errors import InputError
from pointad.geometry.projection import project
from pointad.reductions import column_max, column_min
from pointad.synthesis.field import NoiseDomain, grid_lookup, min_max
from pointad.synthesis.region import SUPPORT_FACTOR, defect_support, falloff_weight


@dataclass
class ReplayedField:
    """The noise field of one sample, on its 2D parameterization.

    Attributes:
        indices: (M,) indices of the projected points (local mode: the defect support; paper
            mode: every point).
        coords: (M, 2) their parameterization coordinates (length unit of the cloud).
        potential: (M,) what PNAS turned into soft labels: local mode ``falloff * minmax(noise)``,
            paper mode the min-max normalized field looked up at the points.
        image: (R, R) the field on a regular grid over the coordinates' bounding box, on the same
            [0, 1] scale as the points' noise (row = v, column = u).
        extent: (u_min, u_max, v_min, v_max) of the image.
        frequency: noise cycles per length unit on the coordinates.
    """

    indices: np.ndarray
    coords: np.ndarray
    potential: np.ndarray
    image: np.ndarray
    extent: tuple
    frequency: float


def replay_field(points: np.ndarray, normals: np.ndarray, params: dict, *, grid=None,
                 resolution: int = 256) -> ReplayedField:
    """Rebuild the noise field of the sample described by ``params`` (its ``AnomalySample.params``)
    on ``points`` (N, 3) with the ``normals`` (N, 3) it was made with.

    ``grid`` is ``(grid_shape, grid_index)`` for organized clouds. Paper mode returns PNAS's own
    ``resolution`` grid; local mode samples the field on a ``resolution``-square grid.
    """
    config = params["config"]
    projection = params["projection"]
    if projection == "volume":
        raise InputError("the field figure needs a 2D parameterization; 'volume' samples 3D noise")
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    if params.get("n_points", n) != n:
        raise InputError(f"the sample was made on {params['n_points']} points, the cloud has {n}")
    # The draws of PNAS.__call__, in its order: sign (when mixed), the centre, the noise domain.
    rng = np.random.default_rng(params["seed"])
    if config["sign"] == "mixed":
        rng.choice([-1.0, 1.0])
    fbm = (config["octaves"], config["persistence"], config["lacunarity"])
    relative = config["units"] == "relative"
    if config["mode"] == "paper":
        center = int(rng.integers(n)) if projection == "tangent" else None
        coords = project(projection, pts, normals=normals, center=center, grid=grid)
        frequency = config["scale"] / params["object_diameter"] if relative else config["scale"]
        domain = NoiseDomain(2, frequency, *fbm, rng)
        lo, hi = column_min(coords), column_max(coords)
        image = min_max(domain.on_grid(lo, hi, config["resolution"]).astype(np.float64))
        potential = np.clip(grid_lookup(image, lo, hi, coords, config["lookup"]), 0.0, 1.0)
        return ReplayedField(np.arange(n), coords, potential, image.T.copy(),
                             (lo[0], hi[0], lo[1], hi[1]), frequency)
    rng.integers(n)  # the drawn centre; params["center"] holds the one used
    center = int(params["center"])
    n_labelled = max(1, int(round(config["fraction"] * n)))
    n_support = min(n, int(np.ceil(SUPPORT_FACTOR * n_labelled)))
    support, dist, radius = defect_support(pts, normals, center, n_support)
    coords = project(projection, pts, normals=normals, center=center, grid=grid, subset=support)
    frequency = config["scale"] / (2.0 * radius) if relative and radius > 0 else config["scale"]
    domain = NoiseDomain(2, frequency, *fbm, rng)
    raw = domain(coords).astype(np.float64)
    potential = falloff_weight(dist, radius, config["falloff"]) * min_max(raw)
    lo, hi = column_min(coords), column_max(coords)
    raw_image = domain.on_grid(lo, hi, resolution).astype(np.float64)
    span = raw.max() - raw.min()
    image = np.clip((raw_image - raw.min()) / span, 0.0, 1.0) if span > 0 else 0.0 * raw_image
    return ReplayedField(support, coords, potential, image.T.copy(),
                         (lo[0], hi[0], lo[1], hi[1]), frequency)


def field_figure(points: np.ndarray, normals: np.ndarray, sample, *, grid=None,
                 title: str | None = None):
    """A two-panel figure of ``sample`` (an :class:`AnomalySample` made on ``points``/``normals``).

    Left: the Perlin field (grey scale, min-max normalized) on the parameterization, the
    projected points as dots and the defect mask (anomalous points red, the 0.5 soft-label
    outline). Right: the same points coloured by soft label. Returns the matplotlib figure.
    """
    from viz.colors import ANOMALY_COLOR
    from viz.figure_output import new_figure

    field = replay_field(points, normals, sample.params, grid=grid)
    soft = sample.soft_labels[field.indices]
    labels = sample.labels[field.indices]
    uv = field.coords
    fig = new_figure(11, 5.2)
    left, right = fig.subplots(1, 2)
    im = left.imshow(field.image, origin="lower", extent=field.extent, cmap="gray",
                     vmin=0, vmax=1, interpolation="bilinear")
    step = max(1, len(uv) // 6000)  # thin the dots so the field stays visible
    left.scatter(uv[::step, 0], uv[::step, 1], s=1.0, c="#1f77b4", linewidths=0,
                 label="projected points")
    red = np.asarray(ANOMALY_COLOR) / 255.0
    left.scatter(uv[labels, 0], uv[labels, 1], s=2.0, color=red, linewidths=0,
                 label="anomalous (label 1)")
    if labels.any() and (~labels).any() and len(uv) >= 3:
        # A degenerate triangulation draws no contour; the dots still show the mask.
        with contextlib.suppress(ValueError, RuntimeError):
            left.tricontour(_surface_triangulation(uv), soft, levels=[0.5], colors=[red],
                            linewidths=1.2)
    left.set_xlabel(f"u ({sample.params['projection']})")
    left.set_ylabel("v")
    left.set_aspect("equal")
    left.legend(loc="upper right", fontsize=7, markerscale=4, framealpha=0.8)
    fig.colorbar(im, ax=left, fraction=0.046, pad=0.02, label="Perlin field (min-max)")
    sc = right.scatter(uv[:, 0], uv[:, 1], c=soft, s=2.0, cmap="viridis", vmin=0, vmax=1,
                       linewidths=0)
    right.set_aspect("equal")
    right.set_xlim(field.extent[:2])
    right.set_ylim(field.extent[2:])
    right.set_xlabel("u")
    right.set_title("soft label (>= 0.5 is anomalous)", fontsize=9)
    fig.colorbar(sc, ax=right, fraction=0.046, pad=0.02)
    c = sample.params["config"]
    fig.suptitle(title or (f"{c['mode']} mode, {sample.params['projection']} projection: scale "
                           f"{c['scale']:g}, octaves {c['octaves']}, persistence "
                           f"{c['persistence']:g}, lacunarity {c['lacunarity']:g}, seed "
                           f"{sample.params['seed']}"), fontsize=10)
    fig.tight_layout()
    return fig


def _surface_triangulation(uv: np.ndarray):
    """Delaunay triangulation of (M, 2) points without the long triangles that bridge holes
    and concave gaps (longest edge > 4 x the median edge), so the mask outline stays on the part."""
    from matplotlib.tri import Triangulation

    tri = Triangulation(uv[:, 0], uv[:, 1])
    corners = uv[tri.triangles]  # (T, 3, 2)
    edges = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2).max(axis=1)
    tri.set_mask(edges > 4.0 * np.median(edges))
    return tri
