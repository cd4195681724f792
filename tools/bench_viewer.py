"""Time the viewer's shading choices on a large cloud, against flat points in the same run.

Each variant renders the same synthesized flange (signed-displacement colours, the viewer's
default oblique camera) at the same window size; the camera turns a little before each frame so
that every frame is really drawn, and the frame is read back (as a screenshot does), which also
waits for the renderer. Printed: seconds per frame and the ratio to the reference (``flat``:
unlit square points, the viewer's old drawing), so numbers from machines of different speed or
load compare. Variants:

  flat         unlit points (reference)
  flat-big     unlit points at the shaded splat size (what the bigger splats alone cost)
  edl          eye-dome lighting on the same points, splats sized to close the surface (default)
  spheres-lit  points drawn as lit spheres (render_points_as_spheres + lighting), same size
  spheres-edl  spheres, unlit, with eye-dome lighting

Usage: .venv/bin/python tools/bench_viewer.py [--points 1000000] [--frames 5]
       [--window 1280x860]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = ("flat", "flat-big", "edl", "spheres-lit", "spheres-edl")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--frames", type=int, default=5)
    p.add_argument("--window", default="1280x860")
    args = p.parse_args(argv)

    from pointad.cli.view import parse_window
    from pointad.samples import sample_cloud
    from pointad.synthesis import PNAS
    from viz.scene import SPLAT_FACTOR
    from viz.viewer import Viewer, ViewerState

    window = parse_window(args.window)
    t0 = time.perf_counter()
    state = ViewerState(sample_cloud("flange", args.points), PNAS(sign="bump"), seed=0,
                        units="mm")
    print(f"cloud and sample: {args.points} points, {time.perf_counter() - t0:.1f} s")
    results = {}
    for variant in VARIANTS:
        shading = "flat" if variant in ("flat", "flat-big", "spheres-lit") else "edl"
        viewer = Viewer(state, off_screen=True, window_size=window, shading=shading)
        scene = viewer.scene
        prop = scene.actor.GetProperty()
        if variant.startswith("spheres") or variant == "flat-big":
            size = scene._spacing_px * SPLAT_FACTOR["edl"]
            prop.SetPointSize(float(min(max(size, 2.0), 16.0)))
            prop.SetRenderPointsAsSpheres(variant != "flat-big")
            if variant == "spheres-lit":
                prop.LightingOn()
        t = time.perf_counter()
        viewer.screenshot()  # first frame: shader compilation, buffer upload
        first = time.perf_counter() - t
        times = []
        for _ in range(args.frames):
            scene.plotter.camera.Azimuth(1.0)
            t = time.perf_counter()
            viewer.screenshot()
            times.append(time.perf_counter() - t)
        # A slider move: new colours for every point, then a frame.
        t = time.perf_counter()
        scene.set_cloud(state.display_points(), state.colors())
        viewer.screenshot()
        update = time.perf_counter() - t
        viewer.close()
        results[variant] = (sorted(times)[len(times) // 2], first, update)
    ref = results["flat"][0]
    print(f"{'variant':<12} {'s/frame':>8} {'ratio':>6} {'first s':>8} {'update s':>9}")
    for variant, (median, first, update) in results.items():
        print(f"{variant:<12} {median:8.3f} {median / ref:6.2f} {first:8.2f} {update:9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
