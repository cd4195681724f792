"""Parameter sweep grid: the same part, same seed and same defect centre, synthesized for every
pair of values of two PNAS parameters (e.g. scale x octaves), so their effect can be compared."""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.synthesis import PNAS
from viz.colors import SIGNED_CMAP, shade, signed_colors
from viz.views import draw_points, view_direction

SWEEPABLE = ("scale", "octaves", "persistence", "lacunarity", "strength", "fraction", "falloff",
             "threshold", "seed")


def parse_axis(text: str):
    """``"NAME=V1,V2,..."`` -> ``(name, [values])`` (ints for octaves and seed)."""
    name, sep, rest = str(text).partition("=")
    name = name.strip()
    if not sep or name not in SWEEPABLE:
        raise InputError(f"sweep axis must be NAME=V1,V2,... with NAME one of "
                         f"{', '.join(SWEEPABLE)}; got {text!r}")
    cast = int if name in ("octaves", "seed") else float
    try:
        values = [cast(v) for v in rest.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"sweep axis {name}: values must be {cast.__name__}s; got {rest!r}") \
            from None
    if not 1 <= len(values) <= 8:
        raise InputError(f"sweep axis {name}: give 1 to 8 values, got {len(values)}")
    return name, values


def sweep_samples(points, normals, synth: PNAS, rows, cols, *, seed: int = 0,
                  center: int | None = None, grid=None):
    """Samples for every (row value, column value): a list of lists of ``AnomalySample``.

    ``rows``/``cols`` are ``(name, values)``. Every cell uses ``seed`` (unless ``seed`` is swept)
    and one defect centre: ``center``, or the one ``seed`` draws with ``synth``'s parameters.
    """
    if rows[0] == cols[0]:
        raise InputError(f"sweep rows and columns must be different parameters; both are "
                         f"{rows[0]!r}")
    base = synth.get_params()
    if center is None and base["mode"] == "local":
        center = synth(points, normals, seed=seed, grid=grid).params["center"]
    out = []
    for rv in rows[1]:
        line = []
        for cv in cols[1]:
            config = dict(base)
            cell_seed = seed
            for name, value in ((rows[0], rv), (cols[0], cv)):
                if name == "seed":
                    cell_seed = value
                else:
                    config[name] = value
            line.append(PNAS(**config)(points, normals, seed=cell_seed, center=center, grid=grid))
        out.append(line)
    return out


def sweep_figure(points, normals, synth: PNAS, rows, cols, *, seed: int = 0,
                 center: int | None = None, grid=None, view="defect", zoom: bool = True,
                 panel_in: float = 2.3):
    """The sweep grid as a matplotlib figure: one panel per cell, points coloured by their signed
    displacement along the normal (one colour scale for the whole grid; blue = dent, red = bump)
    and shaded by their normals.

    ``view``: ``"defect"`` or ``(azimuth, elevation)``; ``zoom`` crops every panel to the defect's
    neighbourhood (local mode). Returns ``(figure, samples)``.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from viz.figure_output import new_figure

    samples = sweep_samples(points, normals, synth, rows, cols, seed=seed, center=center,
                            grid=grid)
    first = samples[0][0]
    direction = view_direction(view, points, normals, first.labels if first.is_anomalous else None)
    crop = None
    if zoom and first.params["config"]["mode"] == "local":
        radius = max(s.params["support_radius"] for line in samples for s in line)
        crop = (points[first.params["center"]], 1.3 * radius)
    signed = [[(s.displacement * s.normals).sum(axis=1) for s in line] for line in samples]
    peak = max(float(np.abs(v).max()) for line in signed for v in line) or 1.0
    n_rows, n_cols = len(rows[1]), len(cols[1])
    height = panel_in * n_rows + 1.4
    fig = new_figure(panel_in * n_cols + 0.9, height)
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    fig.subplots_adjust(left=0.9 / (panel_in * n_cols + 0.9), right=0.99, top=1 - 0.6 / height,
                        bottom=0.8 / height, wspace=0.03, hspace=0.08)
    for i, line in enumerate(samples):
        for j, sample in enumerate(line):
            ax = axes[i, j]
            # Colours on one symmetric scale for the whole grid: append +-peak, then drop them.
            colors = signed_colors(np.concatenate([signed[i][j], [peak, -peak]]))[:-2]
            draw_points(ax, sample.points, shade(colors, sample.normals, direction, 0.6),
                        direction, crop=crop)
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if i == 0:
                ax.set_title(f"{cols[0]} = {cols[1][j]:g}", fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{rows[0]} = {rows[1][i]:g}", fontsize=10)
    cax = fig.add_axes([0.3, 0.45 / height, 0.4, 0.1 / height])
    fig.colorbar(ScalarMappable(Normalize(-peak, peak), SIGNED_CMAP), cax=cax,
                 orientation="horizontal", label="displacement along the normal (length unit)")
    c = first.params["config"]
    fig.suptitle(f"{c['mode']} mode, {first.params['projection']} projection"
                 + ("" if "seed" in (rows[0], cols[0]) else f", seed {seed}")
                 + (f", centre {first.params['center']}" if "center" in first.params else ""),
                 fontsize=10, y=1 - 0.15 / height)
    return fig, samples
