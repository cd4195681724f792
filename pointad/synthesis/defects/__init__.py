"""Defect kinds with per-point ground truth: one module per kind, one registry, one entry point.

    from pointad.synthesis.defects import apply, available, DefectMix

    result = apply("ridge", points, normals, seed=0, height=(3, 6))   # a DefectResult
    points, labels, offsets = result.visible()                        # what a detector sees
    mix = DefectMix({"bulge": 2, "crack": 1, "hole": 1}, n_defects=(1, 2))
    result = mix(points, normals, seed=1)

Every kind is a function in ``pointad/synthesis/defects/<kind>.py`` with the signature and the
label rule of :mod:`pointad.synthesis.defects.base`, registered in :data:`DEFECTS` (the built-in
kinds are imported on first use, so ``available()`` imports nothing). The kinds:

* blisters and grooves: ``bulge``, ``dent``, ``ridge``, ``trench``, ``crack``, ``scratch``;
* surface damage: ``flat_spot``, ``skewed_crater``, ``pitting``, ``ripple``;
* tangential: ``shear``, ``drag``;
* missing data and shape: ``hole``, ``chipped_edge``, ``bend``;
* Perlin noise (3D-PNAS): ``pnas`` (local), ``pnas_paper`` (the paper's whole-part field).

The synthetic benchmark (:mod:`pointad.synthbench`) uses its own fixed list of eight kinds.
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.synthesis.defects.base import (
    BUILTIN,
    DEFECTS,
    FRACTION_RANGE,
    DefectKind,
    DefectResult,
    Height,
    check_height,
    get_kind,
    register,
)
from pointad.validation import as_normals, as_points, check_number, check_range, check_seed


def available() -> list[str]:
    """The defect kinds: the built-in ones (in their order), then the registered ones; imports
    no kind."""
    return list(DEFECTS.names())


def generator(seed: int | np.random.Generator) -> tuple[np.random.Generator, int | None]:
    """``(rng, seed or None)`` from a non-negative integer seed or a Generator (used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputError("seed must be a non-negative integer or a numpy.random.Generator, "
                         f"got {seed!r}")
    check_seed(seed)
    return np.random.default_rng(int(seed)), int(seed)


def _check_params(name: str, kind: DefectKind, params: Mapping[str, Any]) -> None:
    """Refuse a keyword the kind does not take, naming the ones it does."""
    accepted = [p.name for p in inspect.signature(kind).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = [key for key in params if key not in accepted]
    if unknown:
        raise InputError(f"defect kind {name!r} takes no parameter {unknown[0]!r}; "
                         f"it takes {', '.join(accepted)}")


def apply(kind: str, points: ArrayLike, normals: ArrayLike,
          seed: int | np.random.Generator = 0, **params: Any) -> DefectResult:
    """Put one defect of ``kind`` on a cloud.

    Args:
        kind: a name from :func:`available`.
        points: (N, 3) points, any length unit.
        normals: (N, 3) unit normals facing out of the material (or towards the sensor).
        seed: a non-negative integer (recorded in ``params["seed"]``) or a
            :class:`numpy.random.Generator`, drawn from (and advanced) as the kind needs.
        **params: ``fraction``, ``spacing``, ``height`` (peak in point spacings, a number or a
            ``(lo, hi)`` range) and the kind's own keywords; see the kind's module.

    Raises:
        InputError: unknown kind (the message lists the available ones), a keyword the kind does
            not take, bad points, normals or sizes, or a kind that cannot be placed on this
            cloud (no sharp edge to chip, a fraction larger than the seed's side holds).
    """
    if not isinstance(kind, str):
        raise DEFECTS.unknown(kind)
    fn = get_kind(kind)
    _check_params(kind, fn, params)
    rng, seed_value = generator(seed)
    result = fn(points, normals, rng, **params)
    if seed_value is not None:
        result.params["seed"] = seed_value
    return result


class DefectMix:
    """Draw defect kinds by weight: a callable ``(points, normals, seed) -> DefectResult``.

    Args:
        weights: ``{kind: weight}`` (weights >= 0, at least one positive; a kind of weight 0 is
            never drawn), a list of kinds (equal weights) or one kind's name.
        n_defects: defects per sample: a number >= 1 or a ``(lo, hi)`` range drawn uniformly
            (both ends included).
        **common: keywords given to every kind (``fraction``, ``spacing``, ``height``, or a
            keyword every drawn kind takes).

    Several defects on one sample are applied in sequence, each to the cloud the previous ones
    left (the kept points, moved; the input normals): labels are OR-ed, offsets summed, keep
    AND-ed; ``params`` lists each defect's params under ``"defects"`` and their kinds under
    ``"kinds"``; ``kind`` is the kinds joined by ``+``; ``peak`` the largest peak. A kind that
    cannot be placed on the cloud (an :class:`InputError`: no sharp edge to chip...) is left out
    for that defect and another kind is drawn; its name goes to that defect's ``"failed"`` list.
    The kind is drawn only among two or more: a mix of one kind and one defect puts the same
    defect on a cloud as :func:`apply` with the same seed.
    """

    def __init__(self, weights: Mapping[str, float] | Iterable[str] | str,
                 n_defects: int | tuple[int, int] = 1, **common: Any) -> None:
        if isinstance(weights, str):
            weights = [weights]
        if isinstance(weights, Mapping):
            table = {str(k): float(check_number(v, f"weight of {k!r}", low=0))
                     for k, v in weights.items()}
        else:
            table = {str(k): 1.0 for k in weights}
        if not table:
            raise InputError(f"DefectMix needs at least one kind; available: "
                             f"{', '.join(available())}")
        for name in table:
            if name not in DEFECTS:
                raise DEFECTS.unknown(name)
        if not any(w > 0 for w in table.values()):
            raise InputError("DefectMix needs a kind of positive weight")
        self.weights = table
        self.n_defects = _check_count(n_defects)
        for name in self.kinds:
            _check_params(name, get_kind(name), common)
        if "height" in common:
            check_height(common["height"])
        self.common = dict(common)

    @property
    def kinds(self) -> list[str]:
        """The kinds that can be drawn (positive weight)."""
        return [k for k, w in self.weights.items() if w > 0]

    def __repr__(self) -> str:
        return f"DefectMix({self.weights!r}, n_defects={self.n_defects!r})"

    def __call__(self, points: ArrayLike, normals: ArrayLike,
                 seed: int | np.random.Generator = 0) -> DefectResult:
        rng, seed_value = generator(seed)
        pts = as_points(points, min_points=20)
        nrm = as_normals(normals, len(pts))
        count = self.n_defects
        n = count if isinstance(count, int) else int(rng.integers(count[0], count[1] + 1))
        current, keep = pts.copy(), np.ones(len(pts), dtype=bool)
        labels, offsets = np.zeros(len(pts), dtype=bool), np.zeros_like(pts)
        kinds: list[str] = []
        each: list[dict[str, Any]] = []
        peak = 0.0
        for _ in range(n):
            sub = np.flatnonzero(keep)
            result, failed = self._one(current[sub], nrm[sub], rng)
            current[sub] = result.points
            offsets[sub] += result.offsets
            labels[sub] |= result.labels
            keep[sub] &= result.keep
            kinds.append(result.kind)
            each.append(dict(result.params, kind=result.kind,
                             **({"failed": failed} if failed else {})))
            peak = max(peak, result.peak)
        params: dict[str, Any] = {"kinds": kinds, "n_defects": n, "defects": each}
        if seed_value is not None:
            params["seed"] = seed_value
        return DefectResult(points=current, keep=keep, labels=labels, offsets=offsets,
                            kind="+".join(kinds), params=params, peak=peak)

    def _one(self, points: np.ndarray, normals: np.ndarray,
             rng: np.random.Generator) -> tuple[DefectResult, list[str]]:
        """One defect of a kind drawn by weight; kinds that cannot be placed are left out."""
        names = self.kinds
        weights = np.array([self.weights[k] for k in names])
        failed: list[str] = []
        errors: list[str] = []
        while names:
            # One kind left: no draw, so a one-kind mix gives what apply gives for the seed.
            pick = 0 if len(names) == 1 else int(rng.choice(len(names),
                                                            p=weights / weights.sum()))
            try:
                return get_kind(names[pick])(points, normals, rng, **self.common), failed
            except InputError as exc:
                failed.append(names[pick])
                errors.append(f"{names[pick]}: {exc}")
                names = names[:pick] + names[pick + 1:]
                weights = np.delete(weights, pick)
        raise InputError("no defect kind of the mix fits this cloud: " + "; ".join(errors))


def _check_count(n_defects: Any) -> int | tuple[int, int]:
    if isinstance(n_defects, (tuple, list)) and len(n_defects) == 2:
        lo, hi = check_range(n_defects, "n_defects", low=1, integer=True)
        return (int(lo), int(hi))
    if isinstance(n_defects, numbers.Integral) and not isinstance(n_defects, bool):
        return int(check_number(n_defects, "n_defects", low=1, integer=True))
    raise InputError(f"n_defects must be an integer >= 1 or a (lo, hi) range, got {n_defects!r}")


# The training mixes by name (the ``defects`` parameter of the detectors that learn from
# synthetic defects): "pnas" is the 3D-PNAS claim (Perlin defects only); "mix" is the
# deformation kinds the offset methods train on. A benchmark's test kinds are left out with
# ``exclude`` (leave-one-kind-out).
MIXES = {
    "pnas": ("pnas",),
    "mix": ("pnas", "ridge", "trench", "flat_spot", "skewed_crater", "shear", "drag", "ripple",
            "pitting", "bulge", "dent", "hole", "crack", "scratch"),
}


def training_kinds(defects: str, exclude: str) -> tuple[str, ...]:
    """Defect kinds of the training mix: a mix name or comma-separated kinds, minus ``exclude``."""
    if not isinstance(defects, str) or not isinstance(exclude, str):
        raise InputError("defects and exclude must be strings (a mix name or comma-separated "
                         "defect kinds)")
    names = MIXES.get(defects) or tuple(k.strip() for k in defects.split(",") if k.strip())
    left_out = {k.strip() for k in exclude.split(",") if k.strip()}
    known = set(available())
    unknown = sorted((set(names) | left_out) - known)
    if unknown:
        raise InputError(f"unknown defect kind {unknown[0]!r}; choose from "
                         f"{', '.join(sorted(known))} or a mix: {', '.join(MIXES)}")
    kinds = tuple(k for k in names if k not in left_out)
    if not kinds:
        raise InputError(f"no defect kind left to train on: defects={defects!r}, "
                         f"exclude={exclude!r}")
    return kinds


__all__ = ["BUILTIN", "DEFECTS", "FRACTION_RANGE", "MIXES", "DefectKind", "DefectMix",
           "DefectResult", "Height", "apply", "available", "generator", "register",
           "training_kinds"]
