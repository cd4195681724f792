"""Time the depth renderer against a plain NumPy z-buffer timed in the same run.

    .venv/bin/python tools/bench_render.py            # 20k points (the flange), 6 views, 128 px
    .venv/bin/python tools/bench_render.py --points 100000 --size 256 --repeats 7

Rows (each the best of ``--repeats`` runs, the median in brackets):

- ``zbuffer``: :func:`pointad.render.orthographic.zbuffer` (scatter-min of depth ranks over the
  splat footprint) against a painter's-algorithm z-buffer: the points sorted far to near and
  written over each other with NumPy assignment, footprint by footprint (the same splat disks;
  the pixels it shows are checked to be the same depths).
- ``render``: the whole :func:`pointad.render.render` (normals, z-buffer, tangent-plane depths,
  channels, hole filling) against the same painter's z-buffer, so its ratio says how many bare
  z-buffers a full render costs on this machine.
- ``zbuffer~`` and ``render~``: the same with the depth-tolerant z-test (``--tolerance``, in
  point spacings, default 2: the depth methods' ``splat_tolerance``), whose second pass picks,
  among the splats near the front surface, the point nearest to the pixel centre; the last
  column then says what the tolerance costs against the plain row above it.

This used to be a wall-clock assertion in tests/test_render.py (render of 20k points, 6 views
at 128 px under 1.5 s on the shared 2-core development machine, about 0.6 s when it was
written); absolute times depend on the machine, so only the ratios are comparable. The load
average is printed first: compare ratios from a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pointad.render import render  # noqa: E402
from pointad.render.orthographic import MAX_SPLAT_PX, pixel_coordinates, zbuffer  # noqa: E402
from pointad.render.views import camera_coordinates, fit_frame, view_rotations  # noqa: E402
from pointad.samples import sample_cloud  # noqa: E402


def painter_zbuffer(rows, cols, heights, shape, radius):
    """(V, H, W) shown point ids: sort far to near, later (nearer) writes win."""
    n_views, n = heights.shape
    h, w = shape
    reach = int(np.ceil(radius))
    out = np.full((n_views, h * w), -1, dtype=np.int64)
    for v in range(n_views):
        order = np.argsort(heights[v], kind="stable")          # far first
        r, c = rows[v][order], cols[v][order]
        r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
        fr, fc = r - r0, c - c0
        # One flat list of (pixel, point) writes in far-to-near order, footprints included.
        pix, who, rank = [], [], []
        for dr in range(-reach, reach + 1):
            for dc in range(-reach, reach + 1):
                pr, pc = r0 + dr, c0 + dc
                keep = (pr >= 0) & (pr < h) & (pc >= 0) & (pc < w)
                if dr or dc:
                    keep &= (dr + 0.5 - fr) ** 2 + (dc + 0.5 - fc) ** 2 <= radius * radius
                idx = np.flatnonzero(keep)
                pix.append(pr[idx] * w + pc[idx])
                who.append(order[idx])
                rank.append(idx)
        pix, who, rank = np.concatenate(pix), np.concatenate(who), np.concatenate(rank)
        writes = np.argsort(rank, kind="stable")                # far-to-near over all offsets
        out[v, pix[writes]] = who[writes]                       # repeated pixels: last wins
    return out.reshape(n_views, h, w)


def timed(fn, repeats):
    fn()                                                        # warm-up (numba, allocator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--views", type=int, default=6, choices=(1, 3, 6, 14, 26))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--splat", type=float, default=2.5)
    parser.add_argument("--tolerance", type=float, default=2.0,
                        help="splat_tolerance of the zbuffer~/render~ rows, in point spacings")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    pts = sample_cloud("flange", args.points).points
    frame = fit_frame(pts, 0.05, args.views)
    camera = camera_coordinates(pts, frame, view_rotations(args.views))
    rows, cols = pixel_coordinates(camera, frame.half_extent, args.size)
    heights = camera[..., 2]
    pixel = 2.0 * frame.half_extent / args.size
    radius = min(args.splat * frame.spacing / pixel, MAX_SPLAT_PX)
    shape = (args.size, args.size)

    ours = zbuffer(rows, cols, heights, shape, radius)
    ref = painter_zbuffer(rows, cols, heights, shape, radius)
    both = (ours >= 0) & (ref >= 0)
    views = np.arange(args.views)[:, None, None] * np.ones_like(ours)
    same = np.isclose(heights[views[both], ours[both]], heights[views[both], ref[both]]).mean()
    assert np.array_equal(ours >= 0, ref >= 0) and same == 1.0, \
        f"zbuffer and the painter's reference disagree ({same:.4%} of pixels agree)"

    print(f"flange, {args.points} points, {args.views} views, {args.size} px, splat "
          f"{radius:.2f} px; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    t_ref = timed(lambda: painter_zbuffer(rows, cols, heights, shape, radius), args.repeats)
    t_zb = timed(lambda: zbuffer(rows, cols, heights, shape, radius), args.repeats)
    t_render = timed(lambda: render(pts, views=args.views, size=args.size, splat=args.splat),
                     args.repeats)
    tolerance = args.tolerance * frame.spacing  # heights' unit, as render() converts it
    t_zb_tol = timed(lambda: zbuffer(rows, cols, heights, shape, radius, tolerance=tolerance),
                     args.repeats)
    t_render_tol = timed(lambda: render(pts, views=args.views, size=args.size, splat=args.splat,
                                        splat_tolerance=args.tolerance), args.repeats)
    for name, (best, median), plain in (("zbuffer", t_zb, None), ("render", t_render, None),
                                        ("zbuffer~", t_zb_tol, t_zb),
                                        ("render~", t_render_tol, t_render)):
        extra = "" if plain is None else f"   against the plain z-test {best / plain[0]:5.2f}x"
        print(f"{name:<9} {best:7.3f} s [{median:.3f}]   painter's z-buffer {t_ref[0]:7.3f} s "
              f"[{t_ref[1]:.3f}]   ratio {best / t_ref[0]:5.2f}x{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
