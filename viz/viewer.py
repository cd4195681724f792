"""The interactive defect viewer: tune 3D-PNAS by eye, see a detector's scores on the part.

:class:`ViewerState` holds the cloud, the synthesis parameters and the current sample, and has
plain-Python callbacks (``set_param``, ``set_projection``, ``pick``, ``toggle``, ``set_color_by``,
``set_kind`` / ``next_kind`` (a defect kind of :mod:`pointad.synthesis.defects` instead of
3D-PNAS), ``save``) that the window's sliders and keys call; they work, and are tested,
without a window.
:class:`Viewer` wires them into a PyVista window, or renders the same scene off-screen
(``pnas view --screenshot``).

Speed: normals are estimated once (they do not change with the sliders), so a slider move costs
one synthesis. On a 100k-point flange (the 2-core development machine, shared with other jobs)
a regeneration takes about 45 ms in local mode and 130 ms in paper mode (add
``s.set_param('mode', 'paper');`` before the timing), measured with::

    .venv/bin/python -c "import time; from pointad.samples import sample_cloud; \\
    from viz.viewer import ViewerState; s = ViewerState(sample_cloud('flange', 100_000)); \\
    t = time.perf_counter(); [s.set_param('seed', i) for i in range(10)]; \\
    print((time.perf_counter() - t) / 10)"

Updating the scene and rendering 100k flat points at 1280 x 860 with Mesa's software rasterizer
(no GPU) adds about 0.1 to 0.2 s; eye-dome lighting (the default shading, a per-pixel pass) makes
a frame there about 5x slower (0.9 s against 0.19 s at load average 7,
``.venv/bin/python tools/bench_viewer.py --points 100000``), so on a machine without a GPU the
``z`` key (flat shading) keeps slider moves quick.
"""
from __future__ import annotations

import inspect

import numpy as np

from pointad.errors import InputError
from pointad.geometry.normals import estimate_normals
from pointad.geometry.projection import PROJECTIONS
from pointad.io import Cloud
from pointad.synthesis import PNAS, AnomalySample, DefectMix, DefectResult, available
from pointad.synthesis.defects import DEFECTS
from pointad.synthesis.output import sample_paths, write_sample
from pointad.validation import check_choice, check_number
from viz.colors import (
    DISPLACEMENT_CMAP,
    LABEL_LEGEND,
    SCORE_CMAP,
    SIGNED_CMAP,
    Legend,
    label_colors,
    plain_colors,
    scalar_colors,
    signed_colors,
    signed_peak,
)

# Slider name -> (low, high, integer). Strength and scale are in PNAS's relative units.
SLIDERS = {
    "scale": (0.25, 10.0, False),
    "octaves": (1, 8, True),
    "persistence": (0.1, 1.0, False),
    "lacunarity": (1.2, 4.0, False),
    "strength": (0.0, 0.1, False),
    "fraction": (0.005, 0.2, False),
    "seed": (0, 999, True),
}
COLOR_MODES = ("signed", "label", "displacement", "score", "plain")
TOGGLES = ("synthesized", "normals")
PROJECTION_CHOICES = ("auto",) + PROJECTIONS


class ViewerState:
    """A cloud, a PNAS configuration or a defect kind, a seed and the sample they make, plus what
    is shown.

    Args:
        cloud: the input :class:`pointad.io.Cloud` (normals estimated once when it has none).
        synth: the starting :class:`PNAS` (default ``PNAS()``).
        seed: the starting seed.
        center: index of the defect's seed point (local mode), or None to draw it from the seed.
        scores: optional (N,) per-point anomaly scores of the input cloud (``--scores``).
        detector: optional fitted detector; its scores of the shown cloud are computed on demand.
        name: stem for saved files (``<name>_<kind>_<seed>.<format>``).
        source: what the sidecar records as ``input``.
        kind: a defect kind of :mod:`pointad.synthesis.defects` to show instead of the 3D-PNAS
            synthesizer (None, or ``"pnas"`` without ``defect_params``: the synthesizer and
            its sliders).
        defect_params: keywords for the kind (``height``, its own keywords); its ``fraction``
            is the fraction slider's.
        units: the cloud's length unit, as the legend names it (``mm`` for the built-in
            samples; a file does not say, hence the default).

    Attributes ``sample`` (the current :class:`AnomalySample`, or a kind's
    :class:`DefectResult`), ``kind`` (None for 3D-PNAS), ``show_synthesized``,
    ``show_normals``, ``color_by`` (one of :data:`COLOR_MODES`) drive the window.
    """

    def __init__(self, cloud: Cloud, synth: PNAS | None = None, *, seed: int = 0,
                 center: int | None = None, scores=None, detector=None, name: str = "cloud",
                 source: str | None = None, kind: str | None = None, defect_params=None,
                 units: str = "cloud units"):
        self.cloud = cloud
        synth = synth or PNAS()
        self.config = synth.get_params()
        self.grid: tuple[tuple[int, int], np.ndarray] | None = None
        if cloud.grid_shape is not None and cloud.grid_index is not None:
            self.grid = (cloud.grid_shape, cloud.grid_index)
        self.points = cloud.points
        if cloud.normals is not None:
            self.normals = cloud.normals
        else:  # the slow part of a synthesis; the sliders never change it
            self.normals = estimate_normals(cloud.points, k=synth.normal_k, orient=synth.orient,
                                            organized=self.grid is not None,
                                            radius=synth.normal_radius)
        n = len(self.points)
        self.seed = check_number(seed, "seed", low=0, integer=True)
        self.center = None if center is None else check_number(
            center, "center", low=0, high=n - 1, integer=True)
        if scores is not None:
            scores = np.asarray(scores, dtype=np.float64).ravel()
            if scores.shape != (n,):
                raise InputError(f"scores have {scores.size} values but the cloud has {n} points")
            if not np.all(np.isfinite(scores)):
                raise InputError("scores must be finite (found NaN or inf)")
        self.scores = scores
        self.detector = detector
        self.name = name
        self.source = source or name
        self.show_synthesized = True
        self.show_normals = False
        self.color_by = "signed"
        self.units = str(units)
        self.version = 0  # bumped at each regeneration; keys the detector-score cache
        self._score_cache: tuple[tuple[int, bool], np.ndarray] | None = None
        self.defect_params = dict(defect_params or {})
        self.kind = self._resolve_kind(kind)
        self.regenerate()

    # --- callbacks -------------------------------------------------------------------------
    def _resolve_kind(self, kind: str | None) -> str | None:
        """The kind to use: None for the 3D-PNAS synthesizer (also ``pnas`` without params)."""
        if kind is None:
            return None
        if kind not in DEFECTS:
            raise DEFECTS.unknown(kind)
        return None if kind == "pnas" and not self.defect_params else kind

    def defect_mix(self) -> DefectMix:
        """The one-kind :class:`DefectMix` of the current kind, the fraction slider and the
        ``defect_params`` the kind takes (for one defect it makes what ``apply(kind, ..., seed,
        fraction=..., **params)`` makes)."""
        assert self.kind is not None
        takes = inspect.signature(DEFECTS.get(self.kind)).parameters
        params = {k: v for k, v in self.defect_params.items() if k in takes}
        return DefectMix([self.kind], fraction=self.config["fraction"], **params)

    def regenerate(self) -> AnomalySample | DefectResult:
        """Synthesize the sample of the current parameters (or kind), seed and centre."""
        self.sample: AnomalySample | DefectResult
        if self.kind is None:
            self.sample = PNAS(**self.config)(self.points, self.normals, seed=self.seed,
                                              center=self.center, grid=self.grid)
        else:
            self.sample = self.defect_mix()(self.points, self.normals, seed=self.seed)
        self.version += 1
        return self.sample

    def set_kind(self, kind: str | None):
        """Show the defect kind ``kind`` (a name of :func:`available`; None or ``pnas`` without
        params: the 3D-PNAS synthesizer) and regenerate. A kind that cannot be placed on this
        cloud raises :class:`InputError` and leaves the state unchanged."""
        new = self._resolve_kind(kind)
        old, sample = self.kind, self.sample
        self.kind = new
        try:
            return self.regenerate()
        except InputError:
            self.kind, self.sample = old, sample
            raise

    def kind_name(self) -> str:
        """The shown defect kind's name (``pnas`` for the 3D-PNAS synthesizer)."""
        return "pnas" if self.kind is None else self.kind

    def next_kind(self):
        """Cycle to the next kind of :func:`available` (``pnas``: the 3D-PNAS synthesizer); a
        kind that cannot be placed on this cloud is skipped."""
        kinds = available()
        current = self.kind_name()
        start = kinds.index(current) if current in kinds else -1
        errors = []
        for step in range(1, len(kinds) + 1):
            candidate = kinds[(start + step) % len(kinds)]
            try:
                return self.set_kind(candidate)
            except InputError as exc:
                errors.append(f"{candidate}: {exc}")
        raise InputError("no defect kind fits this cloud: " + "; ".join(errors))

    def set_param(self, name: str, value):
        """Set one synthesis parameter (a slider, ``projection``, ``mode``, ``sign``...) or
        ``seed``, and regenerate. Integer sliders round their value. Invalid values raise
        :class:`InputError` and leave the state unchanged."""
        if name in SLIDERS and SLIDERS[name][2]:
            value = int(round(float(value)))
        seed, config = self.seed, self.config
        if name == "seed":
            seed = check_number(value, "seed", low=0, integer=True)
        elif name not in self.config:
            raise InputError(f"unknown parameter {name!r}; one of seed, {', '.join(self.config)}")
        else:
            config = dict(self.config, **{name: value})
            PNAS(**config)  # validates
        old = self.seed, self.config, self.sample
        self.seed, self.config = seed, config
        try:
            return self.regenerate()
        except InputError:  # a kind that cannot be placed with this seed or fraction
            self.seed, self.config, self.sample = old
            raise

    def set_projection(self, projection: str):
        """Choose the 2D parameterization (``auto`` or one of PROJECTIONS) and regenerate."""
        check_choice(projection, "projection", PROJECTION_CHOICES)
        if projection == "grid" and self.grid is None:
            raise InputError("projection 'grid' needs an organized cloud")
        return self.set_param("projection", projection)

    def next_projection(self):
        """Cycle to the next usable projection (skips ``grid`` on unorganized clouds)."""
        usable = [p for p in PROJECTION_CHOICES if p != "grid" or self.grid is not None]
        i = usable.index(self.config["projection"]) if self.config["projection"] in usable else -1
        return self.set_projection(usable[(i + 1) % len(usable)])

    def pick(self, point_index: int):
        """Put the defect's seed point at ``point_index`` (local mode) and regenerate."""
        if self.kind is not None:
            raise InputError(f"defect kind {self.kind!r} draws its own place from the seed; "
                             "picking places 3D-PNAS defects")
        self.center = check_number(point_index, "point index", low=0,
                                   high=len(self.points) - 1, integer=True)
        return self.regenerate()

    def pick_nearest(self, xyz):
        """:meth:`pick` the cloud point nearest to a clicked 3D position ``xyz`` (3,)."""
        shown = self.display_points()
        d = np.einsum("ij,ij->i", shown - np.asarray(xyz, dtype=np.float64),
                      shown - np.asarray(xyz, dtype=np.float64))
        return self.pick(int(np.flatnonzero(self.shown_mask())[np.argmin(d)]))

    def toggle(self, what: str) -> bool:
        """Flip ``synthesized`` (original / synthesized cloud) or ``normals`` (glyphs); returns
        the new value."""
        check_choice(what, "toggle", TOGGLES)
        attr = f"show_{what}"
        setattr(self, attr, not getattr(self, attr))
        return getattr(self, attr)

    def set_color_by(self, mode: str) -> None:
        """Colour by ``signed`` (displacement along the normal, diverging map: the default),
        ``label``, ``displacement`` (magnitude), ``score`` or ``plain``."""
        check_choice(mode, "color_by", COLOR_MODES)
        if mode == "score" and self.scores is None and self.detector is None:
            raise InputError("no scores to show: give a fitted detector or a scores file")
        self.color_by = mode

    def save(self, out_dir, fmt: str = "ply", *, overwrite: bool = False):
        """Write the current sample and its params sidecar with ``pnas generate``'s writer
        (:mod:`pointad.synthesis.output`): ``out_dir/<name>_<kind>_<seed>.<fmt>`` and ``.json``
        (kind ``pnas`` for 3D-PNAS). Returns both paths."""
        kind = self.sample.kind if isinstance(self.sample, DefectResult) else "pnas"
        cloud_path, json_path = sample_paths(out_dir, self.name, self.seed, fmt, kind)
        if not overwrite:
            for p in (cloud_path, json_path):
                if p.exists():
                    raise InputError(f"{p} exists; not overwritten")
        write_sample(self.cloud, self.sample, cloud_path, json_path, source=self.source,
                     overwrite=overwrite, normals=self.normals,
                     mix=None if self.kind is None else self.defect_mix())
        return cloud_path, json_path

    # --- what the window shows -----------------------------------------------------------
    def labels(self) -> np.ndarray:
        """(N,) bool labels of the current sample, on the input cloud's points."""
        return self.sample.labels

    def offsets(self) -> np.ndarray:
        """(N, 3) moves of the current sample (3D-PNAS displacement or a kind's offsets)."""
        if isinstance(self.sample, AnomalySample):
            return self.sample.displacement
        return self.sample.offsets

    def signed_displacement(self) -> np.ndarray:
        """(M,) move of each shown point along its normal (+ out of the part: bump; - dent), the
        ``displacement`` field ``pnas generate`` writes."""
        mask = self.shown_mask()
        return np.einsum("ij,ij->i", self.offsets()[mask], self.normals[mask])

    def shown_mask(self) -> np.ndarray:
        """(N,) bool: the input points shown; all but those a hole removed from the
        synthesized cloud (the original cloud shows them all, labelled where the hole is)."""
        if self.show_synthesized and isinstance(self.sample, DefectResult):
            return self.sample.keep
        return np.ones(len(self.points), dtype=bool)

    def display_points(self) -> np.ndarray:
        """(M, 3) points shown: the synthesized sample (less removed points) or the original
        cloud."""
        if not self.show_synthesized:
            return self.points
        return self.sample.points[self.shown_mask()]

    def display_normals(self) -> np.ndarray:
        """(M, 3) normals of the shown points."""
        return self.normals[self.shown_mask()]

    def point_scores(self) -> np.ndarray:
        """(M,) scores shown: the scores file, or the detector's scores of the shown cloud."""
        if self.scores is not None:
            return self.scores[self.shown_mask()]
        if self.detector is None:
            raise InputError("no scores to show: give a fitted detector or a scores file")
        key = (self.version, self.show_synthesized)
        if self._score_cache is None or self._score_cache[0] != key:
            mask = self.shown_mask()
            index = self.cloud.grid_index
            cloud = Cloud(points=self.display_points(), grid_shape=self.cloud.grid_shape,
                          grid_index=None if index is None else index[mask])
            self._score_cache = (key, self.detector.predict(cloud).point_scores)
        return self._score_cache[1]

    def colors(self) -> np.ndarray:
        """(M, 3) uint8 colours of the shown points for the current ``color_by``.

        ``label`` and ``displacement`` describe the current sample on either cloud (on the
        original they show where the defect will be)."""
        mask = self.shown_mask()
        if self.color_by == "signed":
            return signed_colors(self.signed_displacement())
        if self.color_by == "label":
            return label_colors(self.labels()[mask])
        if self.color_by == "displacement":
            return scalar_colors(np.linalg.norm(self.offsets()[mask], axis=1),
                                 DISPLACEMENT_CMAP, vmin=0.0)
        if self.color_by == "score":
            return scalar_colors(self.point_scores(), SCORE_CMAP)
        return plain_colors(int(mask.sum()))

    def legend(self) -> Legend | None:
        """What the current colours mean (None for ``plain``): the scalar bar's title with the
        unit, map and range, matching :meth:`colors` exactly."""
        if self.color_by == "signed":
            peak = signed_peak(self.signed_displacement())
            return Legend(f"displacement\nalong normal\n({self.units})\n+ bump, - dent",
                          SIGNED_CMAP, -peak, peak)
        if self.color_by == "label":
            return LABEL_LEGEND
        if self.color_by == "displacement":
            mag = np.linalg.norm(self.offsets()[self.shown_mask()], axis=1)
            return Legend(f"displacement\nmagnitude\n({self.units})", DISPLACEMENT_CMAP, 0.0,
                          float(mag.max()) if mag.size else 1.0)
        if self.color_by == "score":
            s = self.point_scores()
            return Legend("anomaly score\n(detector's\nscale)", SCORE_CMAP, float(s.min()),
                          float(s.max()))
        return None

    def describe(self) -> str:
        """The parameters and the sample as text for the window's corner."""
        if self.kind is not None:
            return self._describe_kind()
        c, p = self.config, self.sample.params
        center = p.get("center", "-")
        return (f"{self.name}: {len(self.points)} points, pnas (3D-PNAS), {c['mode']} mode, "
                f"projection {p['projection']}\n"
                f"scale {c['scale']:.3g}  octaves {c['octaves']}  persistence "
                f"{c['persistence']:.3g}  lacunarity {c['lacunarity']:.3g}\n"
                f"strength {c['strength']:.3g}  fraction {c['fraction']:.3g}  seed {self.seed}  "
                f"centre {center}  sign {'bump' if p['sign'] > 0 else 'dent'}\n"
                f"{int(self.sample.labels.sum())} anomalous "
                f"({100 * self.sample.anomalous_fraction:.1f}%)"
                f"  showing {'synthesized' if self.show_synthesized else 'original'}, "
                f"colour: {self.color_by}")

    def _describe_kind(self) -> str:
        sample = self.sample
        assert isinstance(sample, DefectResult)
        given = "  ".join(f"{k} {v}" for k, v in self.defect_params.items())
        drawn = sample.params["defects"][0] if sample.params.get("defects") else {}
        shown = [f"{k} {v}" if isinstance(v, int) else f"{k} {v:.3g}"
                 for k, v in drawn.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)][:6]
        removed = int((~sample.keep).sum())
        return (f"{self.name}: {len(self.points)} points, defect kind {sample.kind}\n"
                f"fraction {self.config['fraction']:.3g}  seed {self.seed}"
                + (f"  {given}" if given else "") + "\n"
                + (f"drawn: {'  '.join(shown)}\n" if shown else "")
                + f"{int(sample.labels[sample.keep].sum())} anomalous "
                f"({100 * sample.anomalous_fraction:.1f}%), peak {sample.peak:.3g}"
                + (f", {removed} removed" if removed else "")
                + f"  showing {'synthesized' if self.show_synthesized else 'original'}, "
                f"colour: {self.color_by}")


KEYS = {
    "o": "original / synthesized",
    "x": "colour by signed displacement (default)",
    "l": "colour by label",
    "m": "colour by displacement magnitude",
    "c": "colour by detector score",
    "n": "normals as arrows",
    "z": "shading on / off (eye-dome lighting)",
    "j": "next projection",
    "d": "next defect kind (pnas: 3D-PNAS)",
    "k": "save the sample and its params sidecar",
    "right click": "put the defect at the clicked point",
}


class Viewer:
    """A PyVista window (or off-screen scene) on a :class:`ViewerState`.

    Args:
        state: the state the controls change.
        view: ``"oblique"`` (default: faces the defect from 50 degrees off its normal, so its
            relief shows), ``"defect"`` (straight on) or ``(azimuth, elevation)`` degrees (see
            :mod:`viz.views`).
        off_screen: render without a window (no sliders: widgets need an interactor).
        window_size: (width, height) pixels.
        shading: ``"edl"`` (eye-dome lighting, default) or ``"flat"`` (see :mod:`viz.scene`).
        legend: show a scalar bar saying what the colour is, with its unit and range.
        out_dir, fmt, overwrite: where and how the save key writes.
    """

    def __init__(self, state: ViewerState, *, view="oblique", off_screen: bool = False,
                 window_size=(1280, 860), shading: str = "edl", legend: bool = True,
                 out_dir="pnas_out", fmt: str = "ply", overwrite: bool = False):
        from viz.scene import LEGEND_WIDTH, CloudScene
        from viz.views import view_direction

        self.state = state
        self.show_legend = bool(legend)
        self.out_dir, self.fmt, self.overwrite = out_dir, fmt, overwrite
        self.message = ""
        self.scene = CloudScene(off_screen=off_screen, window_size=window_size, shading=shading)
        if not off_screen:  # the legend between the key help (top right) and the sliders
            self.scene.legend_box = (0.25, 0.5)
        self.scene.set_cloud(state.display_points(), state.colors())
        focus = state.sample.labels if state.sample.labels.any() else None
        self.direction = view_direction(view, state.points, state.normals, focus)
        reserve = LEGEND_WIDTH if self.show_legend else 0.0
        # Off-screen: a tight frame; in a window, room for the text above and the sliders below.
        self.scene.look_along(state.points, self.direction, margin=1.15 if off_screen else 1.6,
                              reserve_right=reserve)
        self.refresh()
        if not off_screen:
            self._add_controls()

    def refresh(self) -> None:
        """Redraw points, colours, arrows and text from the state."""
        s = self.state
        shown = s.display_points()
        self.scene.set_cloud(shown, s.colors())
        self.scene.set_normals(shown if s.show_normals else None, s.display_normals())
        self.scene.set_text(s.describe() + (f"\n{self.message}" if self.message else ""))
        legend = s.legend() if self.show_legend else None
        if legend != self.scene.legend:
            self.scene.set_legend(legend)

    def toggle_shading(self) -> str:
        """Switch eye-dome lighting on or off; returns the new shading."""
        self.scene.set_shading("flat" if self.scene.shading == "edl" else "edl")
        return self.scene.shading

    def _do(self, action) -> None:
        # A bad value from a control shows in the window instead of killing it.
        try:
            action()
            self.message = ""
        except InputError as exc:
            self.message = f"error: {exc}"
        self.refresh()
        self.scene.plotter.render()

    def _add_controls(self) -> None:
        pl, s = self.scene.plotter, self.state
        for i, (name, (lo, hi, integer)) in enumerate(SLIDERS.items()):
            value = s.seed if name == "seed" else s.config[name]
            # A strip along the bottom: two rows under the part (the camera leaves room).
            row, column = divmod(i, 4)
            x0, y = 0.03 + 0.245 * column, 0.17 - 0.1 * row
            pl.add_slider_widget(
                lambda v, n=name: self._do(lambda: s.set_param(n, v)),
                rng=[lo, hi], value=float(np.clip(value, lo, hi)), title=name,
                pointa=(x0, y), pointb=(x0 + 0.17, y), style="modern",
                fmt="%.0f" if integer else "%.3g", interaction_event="always",
                title_height=0.015, slider_width=0.015, tube_width=0.004)
        keys = {
            "o": lambda: s.toggle("synthesized"),
            "x": lambda: s.set_color_by("signed"),
            "l": lambda: s.set_color_by("label"),
            "m": lambda: s.set_color_by("displacement"),
            "c": lambda: s.set_color_by("score"),
            "n": lambda: s.toggle("normals"),
            "z": self.toggle_shading,
            "j": s.next_projection,
            "d": s.next_kind,
            "k": self._save,
        }
        for key, action in keys.items():
            pl.add_key_event(key, lambda a=action: self._do(a))
        pl.enable_point_picking(callback=lambda xyz: self._do(lambda: s.pick_nearest(xyz)),
                                show_message=False, show_point=False, left_clicking=False)
        help_text = "\n".join(f"[{k}] {v}" for k, v in KEYS.items())
        pl.add_text(help_text, position="upper_right", font_size=7, color="black")

    def _save(self) -> None:
        paths = self.state.save(self.out_dir, self.fmt, overwrite=self.overwrite)
        print(f"wrote {paths[0]} and {paths[1].name}")

    def show(self) -> None:
        """Open the window (blocks until it is closed)."""
        self.scene.plotter.show(title="pnas view")

    def screenshot(self) -> np.ndarray:
        """(H, W, 3) uint8 image of the scene."""
        return self.scene.screenshot()

    def close(self) -> None:
        self.scene.close()
