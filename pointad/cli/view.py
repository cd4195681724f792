"""``pnas view``: the interactive defect viewer (PyVista), or its scene rendered off-screen."""
from __future__ import annotations

import argparse
import sys

from pointad.cli._viz_inputs import (
    add_cloud_arguments,
    add_score_arguments,
    load_cloud,
    load_detector,
    load_scores,
)
from pointad.cli.generate import (
    add_defect_arguments,
    add_synthesis_arguments,
    defect_common,
    synth_from_args,
)
from pointad.errors import InputError
from pointad.io import SUPPORTED_WRITE
from pointad.synthesis.defects import DEFECTS
from pointad.validation import check_seed

HELP = """Open a window on a cloud (or the built-in sample) with a synthesized defect.

Sliders: scale, octaves, persistence, lacunarity, strength, fraction (defect size) and seed; the
defect regenerates as a slider moves. The camera faces the defect from 50 degrees off its normal
(--view oblique) so its relief shows; points are shaded by eye-dome lighting (--shading) and
coloured by their signed displacement along the normal (blue dent, grey untouched, red bump),
with a legend giving the unit. Keys: o original/synthesized, x colour by signed displacement,
l by label, m by displacement magnitude, c by detector score (--detector or --scores), n normals
as arrows, z shading on/off, j next projection, d next defect kind, k save the sample and its
params sidecar to --out (as pnas generate does); right click puts the defect at the clicked
point.

--defect KIND starts on a defect kind of pointad.synthesis.defects (pnas generate --list-defects
lists them) instead of the 3D-PNAS synthesizer; the d key cycles through the kinds (pnas: the
3D-PNAS synthesizer and its sliders). A kind takes the fraction and seed sliders, --height (peak
in point spacings) and the --defect-param keywords it accepts; it places itself from the seed
(no right-click placement), and a hole's removed points are hidden on the synthesized cloud.

--screenshot FILE.png renders the same scene off-screen and exits: no display needed (Linux:
Mesa's EGL, Debian/Ubuntu packages libegl1 libegl-mesa0 libgl1-mesa-dri)."""


def add_parser(verbs) -> None:
    p = verbs.add_parser("view", help="interactive defect viewer (or an off-screen screenshot)",
                         description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cloud_arguments(p)
    add_synthesis_arguments(p)
    add_defect_arguments(p, mix=False)
    p.add_argument("--seed", type=int, default=0, help="starting seed (default: %(default)s)")
    p.add_argument("--center", type=int, default=None, metavar="INDEX",
                   help="index of the defect's seed point (default: drawn from the seed)")
    add_score_arguments(p)
    p.add_argument("--color-by", default="signed",
                   choices=("signed", "label", "displacement", "score", "plain"),
                   help="starting colouring: signed displacement along the normal (diverging "
                        "map), label, displacement magnitude, score or plain "
                        "(default: %(default)s)")
    p.add_argument("--shading", default="edl", choices=("edl", "flat"),
                   help="edl: eye-dome lighting, the relief shows; flat: unshaded points, "
                        "exact colours (default: %(default)s)")
    p.add_argument("--no-legend", action="store_true",
                   help="no scalar bar (the legend saying what the colour is)")
    p.add_argument("--original", action="store_true", help="start on the original cloud")
    p.add_argument("--normals", action="store_true", help="start with normal arrows shown")
    p.add_argument("--view", default="oblique", metavar="VIEW",
                   help="'oblique' (face the defect from 50 degrees off its normal), 'defect' "
                        "(straight on) or AZIMUTH,ELEVATION in degrees (default: %(default)s)")
    p.add_argument("--window", default="1280x860", metavar="WxH",
                   help="window or screenshot size in pixels (default: %(default)s)")
    p.add_argument("--screenshot", metavar="FILE.png",
                   help="render off-screen to this PNG and exit (works without a display)")
    p.add_argument("--out", "-o", default="pnas_out",
                   help="directory the save key writes to (default: %(default)s)")
    p.add_argument("--format", default="ply", choices=[e.lstrip(".") for e in SUPPORTED_WRITE],
                   help="format the save key writes (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="let --screenshot and the save key replace existing files")
    p.set_defaults(run=run)


def parse_window(text: str) -> tuple[int, int]:
    """``"WxH"`` -> (W, H), each 64..8192."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise InputError(f"--window must be WIDTHxHEIGHT in pixels, got {text!r}") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise InputError(f"--window sides must lie in 64..8192 pixels, got {text!r}")
    return w, h


def run(args) -> int:
    from viz.offscreen import has_display
    from viz.views import parse_view

    window = parse_window(args.window)
    check_seed(args.seed, "--seed")
    view = parse_view(args.view)
    synth = synth_from_args(args)
    screenshot = None
    if args.screenshot:
        from viz.figure_output import check_image_path

        screenshot = check_image_path(args.screenshot, overwrite=args.overwrite)
        if screenshot.suffix.lower() != ".png":
            raise InputError(f"{args.screenshot}: --screenshot writes PNG; name it .png")
    elif sys.platform.startswith("linux") and not has_display():
        raise InputError("no display (DISPLAY is not set): use --screenshot FILE.png to render "
                         "off-screen")
    if args.defect is not None and args.defect not in DEFECTS:
        raise DEFECTS.unknown(args.defect)
    defect_params = defect_common(args, [] if args.defect is None else [args.defect],
                                  fraction=False)
    name, cloud, source = load_cloud(args)
    scores = load_scores(args.scores, len(cloud.points)) if args.scores else None
    detector = load_detector(args.detector) if args.detector else None

    from viz.viewer import Viewer, ViewerState

    try:
        state = ViewerState(cloud, synth, seed=args.seed, center=args.center, scores=scores,
                            detector=detector, name=name, source=source, kind=args.defect,
                            defect_params=defect_params,
                            units="mm" if args.input is None else "cloud units")
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    state.set_color_by(args.color_by)
    state.show_synthesized = not args.original
    state.show_normals = args.normals
    viewer = Viewer(state, view=view, off_screen=screenshot is not None, window_size=window,
                    shading=args.shading, legend=not args.no_legend, out_dir=args.out,
                    fmt=args.format, overwrite=args.overwrite)
    if screenshot is None:
        viewer.show()
        return 0
    from viz.offscreen import write_png

    image = viewer.screenshot()
    viewer.close()
    write_png(screenshot, image, overwrite=args.overwrite)
    print(f"wrote {screenshot} ({image.shape[1]}x{image.shape[0]})")
    return 0
