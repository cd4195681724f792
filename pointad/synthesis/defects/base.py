"""What every defect kind shares: the result type, the sizes, the registry of kinds.

A kind is a function with one signature::

    kind(points (N, 3), normals (N, 3), rng, *, fraction=None, spacing=None, height=None,
         **extra) -> DefectResult

* ``points``/``normals``: a cloud in any length unit (the benchmark's are millimetres) with unit
  normals facing out of the material (or towards the sensor for a single-view scan);
* ``rng``: a :class:`numpy.random.Generator`; every random choice is drawn from it, in a fixed
  order, so one generator state gives one defect;
* ``fraction``: target fraction of anomalous points, drawn in :data:`FRACTION_RANGE` when None;
* ``spacing``: point spacing s, measured with :func:`pointad.geometry.point_spacing` when None;
* ``height``: the peak displacement (the depth of an inward kind) in point spacings, a number or
  a ``(lo, hi)`` range drawn uniformly; None = the kind's default, a fraction of the object
  diameter D (:func:`pointad.geometry.object_diameter`) and never below a few spacings;
* ``extra``: keyword parameters of one kind (``aspect`` of a ridge...), None = drawn.

Sizes are fractions of D or multiples of s, never a fixed length, so one setting fits a part of
any size and sampling density.

Label rule, every kind (each kind's docstring says how it applies): a point is labelled iff the
defect moved it by at least half of the defect's peak, or removed it, or it lies on a hole's rim;
a point that would move less than that is put back, so unlabelled points have zero offset.
Exceptions are named in the kind's docstring (``bend``: the rigidly rotated tip). Defects stay on
the seed point's side of a thin wall (:data:`pointad.synthesis.region.FACING_COS`).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeAlias, cast

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.geometry.units import object_diameter, point_spacing
from pointad.reductions import row_sq_norms
from pointad.registry import Registry
from pointad.synthesis.region import FACING_COS, smoothstep
from pointad.validation import as_normals, as_points, check_number, check_range

FRACTION_RANGE = (0.01, 0.07)  # target fraction of anomalous points, drawn per defect
MAX_FRACTION = 0.3             # the largest target fraction a kind accepts
# Floor of a length or density that is divided by: it only avoids 0/0, whatever the unit of
# the cloud (a fixed 1e-12 would clip every length of a part measured in tiny units).
TINY = float(np.finfo(np.float64).tiny)

#: A peak height in point spacings: a number, or a ``(lo, hi)`` range drawn uniformly.
Height: TypeAlias = "float | tuple[float, float]"

# name -> the module that registers it, imported on first use (listing names imports nothing).
BUILTIN = {name: f"pointad.synthesis.defects.{name}" for name in (
    "bulge", "dent", "crack", "scratch", "hole", "chipped_edge", "bend", "pnas",
    "pnas_paper", "ridge", "trench", "flat_spot", "skewed_crater", "shear", "drag", "ripple",
    "pitting")}

DEFECTS = Registry("defect kind", BUILTIN, name_attr="__name__")


@dataclass
class DefectResult:
    """One defect on a cloud of N points.

    Attributes:
        points: (N, 3) float64, the points after the defect, in input order (removed ones too).
        keep: (N,) bool, False where the defect removed the point (a hole).
        labels: (N,) bool ground truth; removed points are labelled too (an image mask shows a
            hole), so a cloud's ground truth is ``labels[keep]``.
        offsets: (N, 3) float64, ``points - input points``; zero where a point did not move.
        kind: the kind's name (kinds joined by ``+`` for several defects of a
            :class:`~pointad.synthesis.defects.DefectMix`).
        params: every drawn parameter, JSON-native (numbers, strings, lists); ``seed`` when an
            integer seed was given to :func:`~pointad.synthesis.defects.apply`.
        peak: the peak displacement in the cloud's length unit (what the label rule halves;
            0 for a hole).
    """

    points: np.ndarray
    keep: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    peak: float = 0.0

    def visible(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cloud a detector sees: ``(points[keep], labels[keep], offsets[keep])``."""
        return self.points[self.keep], self.labels[self.keep], self.offsets[self.keep]

    @property
    def anomalous_fraction(self) -> float:
        """Fraction of the kept points that are labelled."""
        return float(self.labels[self.keep].mean()) if self.keep.any() else 0.0


class DefectKind(Protocol):
    """The signature every kind has (see the module docstring)."""

    __name__: str

    def __call__(self, points: ArrayLike, normals: ArrayLike, rng: np.random.Generator, *,
                 fraction: float | None = None, spacing: float | None = None,
                 height: Height | None = None) -> DefectResult: ...


def register(kind: DefectKind) -> DefectKind:
    """Decorator adding a kind under its function name (a name registered again is replaced)."""
    DEFECTS.register(kind)
    return kind


def get_kind(name: str) -> DefectKind:
    """The kind registered as ``name`` (its module imported when needed); :class:`InputError`
    naming the available kinds otherwise."""
    return cast(DefectKind, DEFECTS.get(name))


# ---------------------------------------------------------------- sizes


class Setup(NamedTuple):
    """The validated input of a kind and the sizes it needs."""

    points: np.ndarray      # (N, 3) float64 copy-safe view of the input
    normals: np.ndarray     # (N, 3) unit normals
    fraction: float         # target fraction of anomalous points
    diameter: float         # object diameter D
    spacing: float          # point spacing s
    n_labelled: int         # target number of anomalous points, round(fraction * N), >= 1
    height: Height | None   # the validated height argument (spacings), or None


def setup(points: ArrayLike, normals: ArrayLike, rng: np.random.Generator,
          fraction: float | None, spacing: float | None,
          height: Height | None = None) -> Setup:
    """Validate a kind's input and draw its fraction: the first thing every kind does.

    Draws from ``rng`` only when ``fraction`` is None (one uniform in :data:`FRACTION_RANGE`).
    Raises :class:`InputError` on bad points, normals, fraction, spacing or height.
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    pts = as_points(points, min_points=20)
    nrm = as_normals(normals, len(pts))
    if fraction is None:
        fraction = float(rng.uniform(*FRACTION_RANGE))
    check_number(fraction, "fraction", low=0, high=MAX_FRACTION, low_open=True)
    diameter = object_diameter(pts)
    if spacing is None:
        spacing = point_spacing(pts)
    check_number(spacing, "spacing", low=0, low_open=True)
    return Setup(pts, nrm, float(fraction), diameter, float(spacing),
                 max(1, int(round(fraction * len(pts)))), check_height(height))


def check_height(height: Any) -> Height | None:
    """``height`` if it is None, a positive number or a ``(lo, hi)`` pair with 0 < lo <= hi."""
    if height is None:
        return None
    if isinstance(height, numbers.Real) and not isinstance(height, bool):
        return float(check_number(height, "height", low=0, low_open=True))
    if isinstance(height, (tuple, list)) and len(height) == 2:
        lo, hi = check_range(height, "height", low=0, low_open=True)
        return (float(lo), float(hi))
    raise InputError("height must be a positive number of point spacings or a (lo, hi) range, "
                     f"got {height!r}")


def draw_height(rng: np.random.Generator, height: Height) -> float:
    """A height in spacings: the number itself, or uniform in the ``(lo, hi)`` range."""
    if isinstance(height, tuple):
        return float(rng.uniform(*height))
    return float(height)


def relative_peak(rng: np.random.Generator, diameter: float, spacing: float,
                  rel_range: tuple[float, float], min_spacings: float, max_rel: float) -> float:
    """A default defect size: ``U(rel_range) * D``, at least ``min_spacings * s``, at most
    ``max_rel * D`` (one uniform draw)."""
    size = max(rng.uniform(*rel_range) * diameter, min_spacings * spacing)
    return float(min(size, max_rel * diameter))


def peak_size(rng: np.random.Generator, s: Setup, rel_range: tuple[float, float],
              min_spacings: float, max_rel: float) -> float:
    """The peak of a kind: ``height * s`` when a height was given, else :func:`relative_peak`
    (one uniform draw in both cases, none for a fixed height)."""
    if s.height is not None:
        return draw_height(rng, s.height) * s.spacing
    return relative_peak(rng, s.diameter, s.spacing, rel_range, min_spacings, max_rel)


def density(points: np.ndarray, spacing: float) -> float:
    """Points per unit area of surface: median count within 4 spacings of a strided subset.

    The median over the cloud, not the count at the defect's seed, so a seed on a border (where
    half the disc is empty) does not halve it.
    """
    from pointad.ops import NeighbourIndex  # torch on first use: importing the kinds stays light

    r = 4.0 * spacing
    probe = points[::max(1, len(points) // 200)]
    counts = NeighbourIndex(points).count(probe, r)
    return float(np.median(counts)) / (np.pi * r * r)


def plain(value: Any) -> Any:
    """``value`` as JSON-native Python: numpy scalars to numbers, arrays and tuples to lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def finish(kind: str, s: Setup, new: np.ndarray, labels: np.ndarray, params: dict[str, Any],
           peak: float, keep: np.ndarray | None = None) -> DefectResult:
    """The :class:`DefectResult` of a kind: offsets from ``new - input``, params made plain."""
    keep = np.ones(len(s.points), dtype=bool) if keep is None else keep
    return DefectResult(points=new, keep=keep, labels=labels, offsets=new - s.points,
                        kind=kind, params=plain(params), peak=float(peak))


# ---------------------------------------------------------------- local frames of a seed point


class Frame(NamedTuple):
    """A seed point's neighbourhood: the facing points and their coordinates in its frame."""

    center: int
    normal: np.ndarray      # (3,) seed normal n
    along: np.ndarray       # (3,) unit tangent t (random direction in the tangent plane)
    across: np.ndarray      # (3,) n x t
    members: np.ndarray     # (M,) the points facing the seed's side (normal within 120 degrees)
    rel: np.ndarray         # (M, 3) their offsets from the seed point
    dist: np.ndarray        # (M,) their distances to the seed point


def seed_frame(s: Setup, rng: np.random.Generator, center: int | None = None) -> Frame:
    """A random seed point (unless ``center``) and a random tangent direction at it (one integer
    draw for the seed, one normal triple for the direction), with the points on its side."""
    if center is None:
        center = int(rng.integers(len(s.points)))
    normal = s.normals[center]
    along = np.cross(normal, rng.normal(size=3))
    along /= max(float(np.linalg.norm(along)), 1e-12)
    members = np.flatnonzero(s.normals @ normal > FACING_COS)
    rel = s.points[members] - s.points[center]
    return Frame(center, normal, along, np.cross(normal, along), members, rel,
                 np.sqrt(row_sq_norms(rel)))


def check_room(s: Setup, n_facing: int, what: str) -> None:
    """Refuse a defect whose target holds more points than face the seed's side."""
    if n_facing < s.n_labelled:
        raise InputError(f"fraction too large for this cloud: {what} needs {s.n_labelled} "
                         f"points on the seed's side, only {n_facing} face that way")


def nearest(values: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest ``values`` (all of them when there are fewer), ordered
    by value (ties by position)."""
    n = min(n, len(values))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(values, n - 1)[:n] if n < len(values) else np.arange(len(values))
    return part[np.argsort(values[part], kind="stable")]


def elongated_distance(frame: Frame, aspect: float) -> np.ndarray:
    """(M,) distance of the facing points in a metric stretched ``aspect`` times along the
    frame's tangent: ``sqrt((u / aspect)^2 + r_perp^2)`` with ``u`` the offset along the tangent
    and ``r_perp`` the 3D distance to the tangent line through the seed. Its level sets are
    elongated ellipsoids, so the footprint on the surface is an ellipse of that aspect."""
    u = frame.rel @ frame.along
    perp_sq = np.maximum(frame.dist ** 2 - u * u, 0.0)
    return np.sqrt((u / aspect) ** 2 + perp_sq)


def half_peak_rule(new_offsets: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale raw offsets (M, 3) so the largest has length ``peak`` and apply the label rule.

    Returns ``(offsets (M, 3), labelled (M,) bool)``: rows shorter than half the peak are zeroed
    and unlabelled; the others keep their (scaled) offset and are labelled.
    """
    length = np.sqrt(row_sq_norms(new_offsets))
    top = float(length.max()) if len(length) else 0.0
    if top <= 0:
        return np.zeros_like(new_offsets), np.zeros(len(new_offsets), dtype=bool)
    scale = peak / top
    labelled = length * scale >= 0.5 * peak
    out = np.where(labelled[:, None], new_offsets * scale, 0.0)
    return out, labelled


Build: TypeAlias = "Callable[[float], tuple[np.ndarray, np.ndarray]]"


def fit_radius(build: Build, radius: float, n_target: int,
               iterations: int = 4) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """Scale a footprint radius until the label rule marks about ``n_target`` points.

    ``build(radius)`` returns ``(index (M,), raw offsets (M, 3))``; the points labelled are the
    rows of at least half the largest length (:func:`half_peak_rule`). A profile that is a
    function of ``offset / radius`` labels a number of points ~ radius^2, so the radius is
    multiplied by ``sqrt(n_target / count)`` (limited to [0.5, 2] per step). Returns the
    ``build`` output whose count was nearest the target and its radius: ``(out, radius)``.
    Deterministic: no random draw.
    """
    best: tuple[float, tuple[np.ndarray, np.ndarray], float] | None = None
    for _ in range(iterations):
        out = build(radius)
        raw = out[1]
        length = np.sqrt(row_sq_norms(raw)) if len(raw) else np.zeros(0)
        count = int((length >= 0.5 * length.max()).sum()) if len(length) and length.max() > 0 \
            else 0
        miss = abs(np.log(max(count, 1) / n_target))
        if best is None or miss < best[0]:
            best = (miss, out, radius)
        if count == 0:
            radius *= 2.0
            continue
        if abs(count - n_target) <= max(1, 0.05 * n_target):
            break
        radius *= float(np.clip(np.sqrt(n_target / count), 0.5, 2.0))
    assert best is not None
    return best[1], best[2]


def smooth_rim(dist: np.ndarray, radius: float) -> np.ndarray:
    """The project's blister profile on [0, radius]: ``(1 + smoothstep(1 - d / R)) / 2``, 1 at
    the centre and 1/2 at the rim, so every point of the footprint moves >= half the peak."""
    return 0.5 * (1.0 + smoothstep(1.0 - dist / max(radius, TINY)))


__all__ = ["BUILTIN", "DEFECTS", "DefectKind", "DefectResult", "FRACTION_RANGE", "Frame",
           "Height", "MAX_FRACTION", "Setup", "check_height", "density", "draw_height",
           "elongated_distance", "finish", "fit_radius", "get_kind", "half_peak_rule", "nearest",
           "peak_size", "plain", "register", "relative_peak", "seed_frame", "setup",
           "smooth_rim"]
