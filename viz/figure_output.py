"""matplotlib figures drawn with the Agg canvas (no display, no pyplot state) and written
atomically, never over an existing file unless asked."""
from __future__ import annotations

import os
from pathlib import Path

from pointad.errors import InputError
from pointad.io import atomic_write

IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def new_figure(width_in: float, height_in: float, dpi: int = 100):
    """A matplotlib ``Figure`` of that size (inches) on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def check_image_path(path, *, overwrite: bool = False) -> Path:
    """Validate an output image path (suffix, existing file) before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{os.fspath(path)}: image must end in {', '.join(IMAGE_SUFFIXES)}")
    if path.is_dir():
        raise InputError(f"{os.fspath(path)}: is a directory, expected a file")
    if path.exists() and not overwrite:
        raise InputError(f"{os.fspath(path)} exists; use --overwrite or another name")
    return path


def save_figure(fig, path, *, overwrite: bool = False, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (.png, .pdf or .svg) atomically; return the path."""
    path = check_image_path(path, overwrite=overwrite)
    with atomic_write(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=dpi or fig.dpi, format=path.suffix.lower().lstrip("."),
                    facecolor="white")
    return path
