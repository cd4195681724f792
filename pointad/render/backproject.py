"""From per-pixel score maps of a render back to per-point scores."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pointad.errors import InputError

FILLS = ("nearest", None)


def resize_maps(maps, shape) -> np.ndarray:
    """(V, H, W) float64 numpy copy of ``maps`` (V, h, w) (numpy or torch, any device; a
    singleton channel axis (V, 1, h, w) is accepted), resized bilinearly when (h, w) != shape
    (``align_corners=False``, the convention of ``F.interpolate`` that 2D methods upsample with)."""
    if isinstance(maps, torch.Tensor):
        t = maps.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.from_numpy(np.array(maps, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise InputError(f"maps must be a numeric (V, H, W) array: {exc}") from None
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 3:
        raise InputError(f"maps must have shape (V, H, W), got {tuple(t.shape)}")
    if min(t.shape[1:]) < 1:
        raise InputError(f"maps must not be empty, got {tuple(t.shape)}")
    if tuple(t.shape[1:]) != tuple(shape):
        t = F.interpolate(t[:, None], size=tuple(shape), mode="bilinear",
                          align_corners=False)[:, 0]
    return t.numpy()


def to_points(maps, rendered, *, fill="nearest") -> np.ndarray:
    """Per-point scores (N,) float64 from per-pixel score maps of ``rendered``.

    Args:
        maps: (V, H, W) scores, one map per view of ``rendered`` (numpy or torch; any resolution,
            resized bilinearly to the render's first).
        rendered: the :class:`pointad.render.DepthRender` the maps were computed on.
        fill: ``"nearest"``: a point seen in no view gets the score of its nearest seen point (in
            3D; NaN when the render shows no point at all); ``None``: NaN.

    Returns:
        The max over views of the scores at the pixels that show each point (pixels with
        ``index >= 0``; hole-filled pixels show no point and are not used).
    """
    if fill not in FILLS:
        raise InputError(f"fill must be 'nearest' or None; got {fill!r}")
    index = rendered.index
    values = resize_maps(maps, index.shape[1:])
    if values.shape[0] != index.shape[0]:
        raise InputError(f"maps has {values.shape[0]} views, the render has {index.shape[0]}")
    shown = index >= 0
    scores = np.full(rendered.n_points, -np.inf)
    np.maximum.at(scores, index[shown], values[shown])
    unseen = ~rendered.seen
    if not unseen.any():
        return scores
    if fill is None:
        scores[unseen] = np.nan
    else:
        if rendered.nearest_seen is None:
            raise InputError("this render has no nearest_seen map: pass fill=None")
        source = rendered.nearest_seen[unseen]        # -1 only when no point is seen at all
        scores[unseen] = np.where(source >= 0, scores[np.maximum(source, 0)], np.nan)
    return scores


def features_to_points(maps, rendered) -> np.ndarray:
    """(N, C) float64 per-point features from per-pixel feature maps of ``rendered``.

    Args:
        maps: one (V, C, h, w) tensor or a list of them (backbone levels at any resolution),
            each resized bilinearly to the render (``align_corners=False``) and concatenated
            along C.
        rendered: the :class:`pointad.render.DepthRender` the maps were computed on.

    Returns:
        Each point's mean feature over every pixel that shows it (pixels with ``index >= 0``, in
        all views: CPMF's multi-view point feature); a point no pixel shows takes its nearest
        shown point's (``rendered.nearest_seen``; zeros when no point is shown at all).
    """
    maps = [maps] if isinstance(maps, torch.Tensor) else list(maps)
    index = rendered.index
    height, width = index.shape[1:]
    if not maps or any(m.ndim != 4 or m.shape[0] != index.shape[0] for m in maps):
        raise InputError(f"maps must be (V, C, h, w) tensors with V = {index.shape[0]} views")
    full = torch.cat([F.interpolate(m.detach().to("cpu", torch.float64), size=(height, width),
                                    mode="bilinear", align_corners=False) for m in maps], dim=1)
    values = full.permute(0, 2, 3, 1).numpy()  # (V, H, W, C)
    shown = index >= 0
    sums = np.zeros((rendered.n_points, values.shape[-1]))
    np.add.at(sums, index[shown], values[shown])
    counts = np.bincount(index[shown], minlength=rendered.n_points)
    seen = counts > 0
    sums[seen] /= counts[seen, None]
    if not seen.all() and seen.any():
        sums[~seen] = sums[rendered.nearest_seen[~seen]]
    return sums
