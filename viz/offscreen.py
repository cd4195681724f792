"""Rendering without a display: EGL set-up, a check that it works, and PNG writing.

The VTK wheels (9.4 and later) can render off-screen through EGL. On Linux without a display
server VTK first tries X and fails noisily; naming the EGL window class in
``VTK_DEFAULT_OPENGL_WINDOW`` before VTK is imported skips that attempt. EGL needs Mesa's
libraries: on Debian/Ubuntu ``libegl1 libegl-mesa0 libgl1-mesa-dri`` (``tools/setup.sh``
installs them).
"""
from __future__ import annotations

import os
import subprocess
import sys
from functools import lru_cache

import numpy as np

from pointad.errors import InputError
from pointad.io import atomic_write

EGL_WINDOW = "vtkEGLRenderWindow"
HEADLESS_PACKAGES = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri")


def has_display() -> bool:
    """Whether a display server is reachable by name (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare_environment() -> None:
    """On Linux without a display, select VTK's EGL window (a user's explicit setting wins).

    Must run before VTK is imported: VTK reads the variable when it creates its first window.
    """
    if sys.platform.startswith("linux") and not has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", EGL_WINDOW)


def import_pyvista():
    """``pyvista``, imported after :func:`prepare_environment`."""
    prepare_environment()
    try:
        import pyvista
    except ImportError as exc:  # a broken install: name the fix
        raise InputError(f"pyvista cannot be imported ({exc}); run bash tools/setup.sh") from None
    return pyvista


_PROBE = """
import numpy as np
from viz.offscreen import import_pyvista
pv = import_pyvista()
pl = pv.Plotter(off_screen=True, window_size=(32, 32))
pl.set_background("white")
pl.add_points(np.zeros((1, 3)), color="red", point_size=20, lighting=False)
img = pl.screenshot(return_img=True)
pl.close()
assert (img[16, 16] == (255, 0, 0)).all() and (img[0, 0] == 255).all(), "blank render"
print("ok")
"""


@lru_cache(maxsize=1)
def offscreen_problem() -> str | None:
    """None when off-screen rendering works here, else one line saying why not.

    Renders one red point in a child process (a missing GL library can abort the process, which
    must not take the caller with it). Cached per process.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root,
                                                                    os.environ.get("PYTHONPATH")])))
    try:
        res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                             timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return "off-screen render probe timed out"
    if res.returncode == 0 and res.stdout.strip().endswith("ok"):
        return None
    tail = (res.stderr.strip().splitlines() or ["no message"])[-1]
    return (f"off-screen VTK rendering does not work here ({tail}); on Debian/Ubuntu install "
            f"{' '.join(HEADLESS_PACKAGES)} (bash tools/setup.sh does)")


def write_png(path, image: np.ndarray, *, overwrite: bool = False):
    """Write an (H, W, 3) uint8 image as PNG, atomically; never over an existing file unless
    asked."""
    from PIL import Image

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise InputError(f"image must be (H, W, 3|4) uint8, got {img.shape} {img.dtype}")
    with atomic_write(path, overwrite=overwrite) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return path
