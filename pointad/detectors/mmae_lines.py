"""``mmae-lines``: every row of a depth scan is a height profile, scored by MMAE
(:mod:`pointad.signals.mmae`): a 1D multi-scale masked autoencoder fitted on the rows of the
normal training scans; each point gets the score of its pixel in its row.

**Organized scans** (MVTec 3D-AD layout, a laser line profiler's stack of profiles: clouds that
carry their (H, W) pixel grid): the rows of the scan's own grid, the ``channels`` of each pixel
(``"z"``: the height along the sensor axis; ``"xyz"``), missing pixels filled along the row by
linear interpolation (:func:`pointad.signals.profiles.scan_rows`). Signals are standardised with
the training rows' mean and standard deviation.

**Unorganized clouds**: the rows of one orthographic depth render of the part
(:func:`pointad.render.render`, one view along its least-variance axis, ``size`` pixels,
``depth="box"``: one fixed scale), each point scored at the pixel that shows it, points no
pixel shows get the score of the nearest shown point (:func:`pointad.render.to_points`). A
360-degree part seen from one side is scored on that side's shape only: use the organized path
(a real line scan) where there is one.

The object score is the mean of the top ``top_fraction`` point scores.
"""
from __future__ import annotations

import numpy as np

from pointad.detectors.base import Detector
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.reductions import top_mean
from pointad.signals.mmae import MMAE
from pointad.signals.profiles import CHANNELS, scan_rows
from pointad.validation import check_choice, check_number, check_seed


@register
class MMAELines(Detector):
    name = "mmae-lines"

    def __init__(self, channels: str = "z", segment_length: int = 8, n_segments: int = 8,
                 mask_ratio: float = 0.5, local_window: int = 3, dim: int = 32, depth: int = 2,
                 heads: int = 4, steps: int = 600, batch_size: int = 64, lr: float = 2e-3,
                 n_maskings: int = 4, size: int = 64, top_fraction: float = 0.01,
                 seed: int = 0, device: str = "auto"):
        self.channels = check_choice(channels, "channels", tuple(CHANNELS))
        self.size = check_number(size, "size", low=8, integer=True)
        self.top_fraction = check_number(top_fraction, "top_fraction", low=0, high=1,
                                         low_open=True)
        self.seed = check_seed(seed)
        self.segment_length, self.n_segments = segment_length, n_segments
        self.mask_ratio, self.local_window, self.dim, self.depth = (mask_ratio, local_window,
                                                                     dim, depth)
        self.heads, self.steps, self.batch_size, self.lr = heads, steps, batch_size, lr
        self.n_maskings, self.device = n_maskings, device
        self._model()  # validates the MMAE parameters

    def _model(self) -> MMAE:
        return MMAE(segment_length=self.segment_length, n_segments=self.n_segments,
                    mask_ratio=self.mask_ratio, local_window=self.local_window, dim=self.dim,
                    depth=self.depth, heads=self.heads, steps=self.steps,
                    batch_size=self.batch_size, lr=self.lr, n_maskings=self.n_maskings,
                    seed=self.seed, device=self.device)

    def _rows(self, cloud):
        """``(signals, rows, valid, back)``: the row signals of ``cloud`` and ``back(maps)`` that
        turns an (H, W) score map into per-point scores."""
        if cloud.organized:
            h, w = cloud.grid_shape
            image = np.zeros((h * w, 3))
            image[cloud.grid_index] = cloud.points
            valid = np.zeros(h * w, bool)
            valid[cloud.grid_index] = True
            signals, rows, valid = scan_rows(image.reshape(h, w, 3), valid.reshape(h, w),
                                             channels=self.channels)

            def back(score_map):
                return score_map.ravel()[cloud.grid_index]
        else:
            from pointad.render import render, to_points
            if self.channels != "z":
                raise InputError(f"channels={self.channels!r} needs an organized scan; an "
                                 "unorganized cloud is scored on the heights of its depth render")
            rendered = render(cloud, views=1, size=self.size, depth="box")
            image = np.zeros(rendered.images.shape[2:] + (3,))
            image[..., 2] = rendered.images[0, 0]
            signals, rows, valid = scan_rows(image, rendered.valid[0], channels="z")

            def back(score_map):
                return to_points(score_map[None], rendered)
        if not signals:
            raise InputError("no row of the scan has a valid pixel")
        return signals, rows, valid, back

    def _fit(self, clouds: list) -> None:
        signals = [s for c in clouds for s in self._rows(c)[0]]
        if len(signals[0]) < self.segment_length:
            raise InputError(f"scan rows of {len(signals[0])} pixels are shorter than one "
                             f"segment ({self.segment_length})")
        model = self._model()
        try:
            model.fit(signals)
        except InputError as exc:
            raise InputError(f"training scan rows: {exc}") from None
        self.model_ = model

    def _predict(self, cloud):
        signals, rows, valid, back = self._rows(cloud)
        width = valid.shape[1]
        if width < self.segment_length:
            raise InputError(f"scan rows of {width} pixels are shorter than one segment "
                             f"({self.segment_length})")
        if signals[0].shape[1] != self.model_.n_channels_:
            raise InputError(f"rows with {signals[0].shape[1]} channels, fitted on "
                             f"{self.model_.n_channels_}")
        scores = self.model_.score_signals(signals)
        score_map = np.zeros(valid.shape)
        for r, s in zip(rows, scores):
            score_map[r] = s
        point_scores = np.asarray(back(score_map), dtype=np.float64)
        return point_scores, top_mean(point_scores, self.top_fraction)

    def _get_state(self) -> dict:
        return self.model_.get_state()

    def _set_state(self, arrays: dict) -> None:
        self.model_ = MMAE.from_state(self._model().get_params(), dict(arrays))
