"""Benchmarks of the synthesis core, each printed as a ratio against a reference timed in the same
run.

    .venv/bin/python tools/bench.py                 # 1M points, everything
    .venv/bin/python tools/bench.py --points 200000 --only noise
    .venv/bin/python tools/bench.py --only normals  # 1M points against Open3D
    .venv/bin/python tools/bench.py --points 10000000 --only memory   # a 10M-point cloud
    .venv/bin/python tools/bench.py --only help     # pnas --help

Needs the test extras (the `noise` package is the reference Perlin implementation):
``bash tools/setup.sh --test``. Numbers depend on the machine; the ratios are what the project
tracks (targets: noise >= 20x, synthesis >= 50x, normals with their orientation >= 1.5x
Open3D's unoriented ``estimate_normals``). The memory rows run in fresh processes and report
their peak resident memory (target: a 10M-point cloud synthesized with its normals estimated
within 4 GiB); ``pnas --help`` must take under 0.5 s (its reference is ``python -c pass``).
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from pointad.geometry.frames import tangent_frame
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS
from pointad.synthesis import field as field_module
from pointad.synthesis import pnas as pnas_module


def best_of(fn, repeats):
    """Minimum wall time of ``repeats`` calls (s), and the last result."""
    best, out = math.inf, None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_memory(fn):
    """Peak bytes allocated (numpy buffers included) while ``fn`` runs."""
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def report(name, ours, ref, target):
    ratio = ref / ours
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(f"{name:<44} ours {ours * 1e3:9.1f} ms   reference {ref * 1e3:9.1f} ms   "
          f"ratio {ratio:6.1f}x  (target >= {target}x: {verdict})")
    return ratio


# ---------------------------------------------------------------- Perlin noise, direct evaluation
def bench_noise(n, octaves=4):
    import noise as cnoise

    from pointad.noise import perlin2

    rng = np.random.default_rng(0)
    x, y = rng.uniform(-50, 50, size=(2, n))
    ours, values = best_of(lambda: perlin2(x, y, octaves=octaves), 5)
    xs, ys = x.tolist(), y.tolist()
    pnoise2 = cnoise.pnoise2

    def loop():
        return [pnoise2(a, b, octaves) for a, b in zip(xs, ys)]

    ref, ref_values = best_of(loop, 1)
    assert np.abs(values - np.asarray(ref_values)).max() <= 1e-6, "perlin2 disagrees with pnoise2"
    report(f"perlin2 {n:,} points x {octaves} octaves", ours, ref, 20)
    try:
        import torch

        from pointad.noise.perlin_torch import perlin2_torch
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            tx, ty = torch.tensor(x, device=device), torch.tensor(y, device=device)

            def run():
                out = perlin2_torch(tx, ty, octaves)
                if device == "cuda":
                    torch.cuda.synchronize()
                return out

            run()
            t, _ = best_of(run, 5)
            report(f"perlin2 torch ({device}) {n:,} x {octaves}", t, ref, 1)
    except ImportError:
        pass


# ---------------------------------------------------- whole synthesis against a per-point reference
def reference_local(points, normals, synth: PNAS, seed):
    """The default (local) mode written the obvious way: Python loops over points, pnoise2 per
    point.

    Same algorithm and random draws as :class:`PNAS`; the bench swaps in Ken Perlin's permutation
    on both sides so the outputs can be compared exactly.
    """
    import noise as cnoise

    rng = np.random.default_rng(seed)
    sign = {"bump": 1.0, "dent": -1.0}.get(synth.sign)
    if sign is None:
        sign = float(rng.choice([-1.0, 1.0]))
    n = len(points)
    centre = points.mean(axis=0)
    diameter = 2 * max(math.dist(p, centre) for p in points.tolist())
    peak = synth.strength * diameter
    n_labelled = max(1, int(round(synth.fraction * n)))
    n_support = min(n, int(math.ceil(2.0 * n_labelled)))
    c = int(rng.integers(n))
    pc, nc = points[c].tolist(), normals[c].tolist()
    candidates = []
    for i, (p, q) in enumerate(zip(points.tolist(), normals.tolist())):
        if q[0] * nc[0] + q[1] * nc[1] + q[2] * nc[2] > -0.5:
            candidates.append((math.dist(p, pc), i))
    candidates.sort()
    support = candidates[:n_support]
    radius = support[-1][0]
    idx = np.array([i for _, i in support])
    frame = tangent_frame(normals[c], points[idx] - points[c])
    domain = field_module.NoiseDomain(2, synth.scale / (2 * radius), synth.octaves,
                                      synth.persistence, synth.lacunarity, rng)
    values = []
    for d, i in support:
        off = points[i] - points[c]
        planar = frame[:2] @ off
        length = math.hypot(planar[0], planar[1])
        uv = planar * (d / length) if length > 0 else planar * 0
        q = domain.rotation @ uv * domain.frequency + domain.offset
        values.append(cnoise.pnoise2(q[0], q[1], synth.octaves, synth.persistence,
                                     synth.lacunarity))
    lo, hi = min(values), max(values)
    potential = []
    for (d, _), v in zip(support, values):
        x = min(max((radius - d) / (synth.falloff * radius), 0.0), 1.0)
        potential.append(x * x * (3 - 2 * x) * (v - lo) / (hi - lo))
    pmax = max(potential)
    potential = [p / pmax for p in potential]
    t = sorted(potential)[-n_labelled]
    out = points.copy()
    labels = np.zeros(n, bool)
    for (_, i), p in zip(support, potential):
        x = p / (2 * t) if p < t else 0.5 + (p - t) / (2 * (1 - t))
        x = min(max(x, 0.0), 1.0)
        soft = x * x * (3 - 2 * x)
        out[i] = points[i] + sign * peak * soft * normals[i]
        labels[i] = soft >= 0.5
    return out, labels


def reference_paper(points, normals, synth: PNAS, seed):
    """Paper mode written the obvious way: pnoise2 per grid node, then a Python loop over points
    (PCA-plane projection, bilinear lookup, displacement). Same draws as :class:`PNAS`."""
    import noise as cnoise

    from pointad.geometry.frames import principal_frame

    rng = np.random.default_rng(seed)
    sign = {"bump": 1.0, "dent": -1.0}.get(synth.sign)
    if sign is None:
        sign = float(rng.choice([-1.0, 1.0]))
    centre = points.mean(axis=0)
    diameter = 2 * max(math.dist(p, centre) for p in points.tolist())
    peak = synth.strength * diameter
    frame_centre, axes = principal_frame(points)
    uv = [((p - frame_centre) @ axes[0], (p - frame_centre) @ axes[1]) for p in points]
    lo = [min(c[a] for c in uv) for a in range(2)]
    hi = [max(c[a] for c in uv) for a in range(2)]
    domain = field_module.NoiseDomain(2, synth.scale / diameter, synth.octaves, synth.persistence,
                                      synth.lacunarity, rng)
    r = synth.resolution
    grid = [[0.0] * r for _ in range(r)]
    for a in range(r):
        for b in range(r):
            g = np.array([lo[0] + (hi[0] - lo[0]) * a / (r - 1),
                          lo[1] + (hi[1] - lo[1]) * b / (r - 1)])
            q = domain.rotation @ g * domain.frequency + domain.offset
            grid[a][b] = cnoise.pnoise2(q[0], q[1], synth.octaves, synth.persistence,
                                        synth.lacunarity)
    gmin, gmax = min(map(min, grid)), max(map(max, grid))
    out = points.copy()
    for i, (u, v) in enumerate(uv):
        tu = min(max((u - lo[0]) / (hi[0] - lo[0]) * (r - 1), 0.0), r - 1)
        tv = min(max((v - lo[1]) / (hi[1] - lo[1]) * (r - 1), 0.0), r - 1)
        a, b = min(int(tu), r - 2), min(int(tv), r - 2)
        fu, fv = tu - a, tv - b
        top = grid[a][b] + fu * (grid[a + 1][b] - grid[a][b])
        bottom = grid[a][b + 1] + fu * (grid[a + 1][b + 1] - grid[a][b + 1])
        value = ((top + fv * (bottom - top)) - gmin) / (gmax - gmin)
        out[i] = points[i] + sign * peak * value * normals[i]
    return out


class _KenPerlinDomain(field_module.NoiseDomain):
    """NoiseDomain with the reference permutation, so pointad and pnoise2 compute the same field."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.perm_seed = None


def bench_synthesis(n):
    cloud = sample_cloud("flange", n_points=n)
    synth = PNAS(sign="bump")
    pnas_module.NoiseDomain, original = _KenPerlinDomain, pnas_module.NoiseDomain
    try:
        synth(cloud.points[:2000], cloud.normals[:2000])  # compile the kernels outside the timing
        ours, sample = best_of(lambda: synth(cloud.points, cloud.normals, seed=1), 5)
        ref, (ref_points, ref_labels) = best_of(
            lambda: reference_local(cloud.points, cloud.normals, synth, 1), 1)
    finally:
        pnas_module.NoiseDomain = original
    diff = np.abs(sample.points - ref_points).max()
    assert diff < 1e-4 * sample.params["peak_displacement"], f"reference disagrees by {diff}"
    assert np.mean(sample.labels != ref_labels) < 1e-4
    report(f"synthesis (local) {n:,} points, normals given", ours, ref, 50)
    paper = PNAS(mode="paper", sign="bump")
    pnas_module.NoiseDomain = _KenPerlinDomain
    try:
        paper(cloud.points[:2000], cloud.normals[:2000])
        t_paper, paper_sample = best_of(lambda: paper(cloud.points, cloud.normals, seed=1), 5)
        ref_paper, ref_points = best_of(
            lambda: reference_paper(cloud.points, cloud.normals, paper, 1), 1)
    finally:
        pnas_module.NoiseDomain = original
    diff = np.abs(paper_sample.points - ref_points).max()
    assert diff < 1e-4 * paper_sample.params["peak_displacement"], f"paper reference off by {diff}"
    report(f"synthesis (paper, {paper.resolution}x{paper.resolution} grid) {n:,} points", t_paper,
           ref_paper, 50)
    for name, s in (("local", synth), ("paper", paper)):
        peak = peak_memory(lambda: s(cloud.points, cloud.normals, seed=1))
        print(f"peak memory, {name} mode, {n:,} points: {peak / 2**20:7.1f} MiB "
              f"(input {cloud.points.nbytes * 2 / 2**20:.1f} MiB of points + normals)")
    t_norm, _ = best_of(lambda: synth(cloud.points, seed=1), 1)
    print(f"{'synthesis (local) with normal estimation':<44} ours {t_norm * 1e3:9.1f} ms")


# ----------------------------------------------- normals against Open3D's estimate_normals (k=30)
def bench_normals(n):
    """Oriented normals (kNN PCA, then the consistent-tangent-plane orientation) against Open3D's
    ``estimate_normals`` with ``KDTreeSearchParamKNN(30)`` and no orientation at all."""
    import open3d as o3d

    from pointad.geometry import local_frames

    points = sample_cloud("flange", n_points=n).points
    local_frames(points[:5000])  # compile the kernels outside the timing
    ours, frames = best_of(lambda: local_frames(points, 30), 2)

    def open3d_normals():
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
        start = time.perf_counter()
        cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(30))
        return time.perf_counter() - start, np.asarray(cloud.normals)

    runs = [open3d_normals() for _ in range(2)]
    ref = min(t for t, _ in runs)
    cos = np.abs((frames.normals * runs[0][1]).sum(axis=1))
    defined = frames.curvature < 0.1   # a blob-like neighbourhood has no defined normal
    assert cos[defined].min() > 1 - 1e-6, f"normals disagree with Open3D: {cos[defined].min()}"
    report(f"normals {n:,} points k=30 oriented / Open3D", ours, ref, 1.5)


# ---------------------------------------------------------------- pnas --help: what it imports
def bench_help(repeats=5):
    """Wall time of ``python -m pointad --help`` against ``python -c pass`` (the interpreter's
    own start-up), best of ``repeats``; the target is an absolute 0.5 s."""
    def wall(args):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start

    ours = min(wall(["-m", "pointad", "--help"]) for _ in range(repeats))
    ref = min(wall(["-c", "pass"]) for _ in range(repeats))
    verdict = "ok" if ours < 0.5 else "ABOVE TARGET"
    print(f"{'pnas --help':<44} ours {ours * 1e3:9.1f} ms   python -c pass {ref * 1e3:7.1f} ms"
          f"   (target < 500 ms: {verdict})")


# ----------------------------------------- big clouds: time and peak memory in a fresh process
_SYNTHESIZE = """
import json, resource, sys, time
import numpy as np
from pointad.synthesis import PNAS
points = np.load(sys.argv[1])
PNAS(mode=sys.argv[2])(points[:5000], seed=0)     # compile the kernels outside the timing
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
sample = PNAS(mode=sys.argv[2])(points, seed=1)   # no normals given: estimated
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "before": before,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _measured(args):
    """Run ``python args``; return its stdout, wall seconds and peak resident bytes."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({proc.returncode}): {err.strip()[-500:]}")
    return out, seconds, usage.ru_maxrss * 1024


def bench_memory(n, count=3):
    """A part of ``n`` points without normals: 3D-PNAS (local and paper mode) with normal
    estimation through the API, and ``pnas generate --count`` on it, each in a fresh process;
    the peak resident memory includes the interpreter and every library (torch too)."""
    gib = 2.0**30
    with tempfile.TemporaryDirectory() as tmp:
        cloud = Path(tmp) / "part.npy"
        subprocess.run([sys.executable, "-c", "import sys, numpy as np; "
                        "from pointad.samples import sample_cloud; np.save(sys.argv[1], "
                        "sample_cloud('flange', n_points=int(sys.argv[2])).points)",
                        str(cloud), str(n)], check=True)
        for mode in ("local", "paper"):
            out, _, _ = _measured(["-c", _SYNTHESIZE, str(cloud), mode])
            row = json.loads(out.strip().splitlines()[-1])
            verdict = "" if n < 10_000_000 else \
                f"  (target < 4 GiB: {'ok' if row['peak'] < 4 * gib else 'ABOVE TARGET'})"
            print(f"{'synthesis (' + mode + ') ' + f'{n:,}' + ' points, normals estimated':<44} "
                  f"{row['seconds']:7.1f} s   peak RSS {row['peak'] / gib:5.2f} GiB "
                  f"(before the call {row['before'] / gib:4.2f} GiB){verdict}")
        times = {}
        for c in (1, count):
            out_dir = Path(tmp) / f"out{c}"
            _, times[c], peak = _measured(["-m", "pointad", "generate", str(cloud), "-o",
                                           str(out_dir), "--count", str(c), "-q"])
            print(f"{'pnas generate ' + f'{n:,}' + ' points --count ' + str(c):<44} "
                  f"{times[c]:7.1f} s   peak RSS {peak / gib:5.2f} GiB")
        per_sample = (times[count] - times[1]) / (count - 1)
        print(f"{'  so: normals + start-up once, then a sample':<44} "
              f"{times[1] - per_sample:7.1f} s + {per_sample:.1f} s per sample "
              f"(--count {count}: normals estimated once per input)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("noise", "synthesis", "normals", "memory", "help"))
    parser.add_argument("--count", type=int, default=3,
                        help="samples per input in the memory row's pnas generate")
    args = parser.parse_args()
    print(f"pointad bench: {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, numpy {np.__version__}")
    if args.only in (None, "noise"):
        bench_noise(args.points)
    if args.only in (None, "synthesis"):
        bench_synthesis(args.points)
    if args.only in (None, "normals"):
        bench_normals(args.points)
    if args.only in (None, "memory"):
        bench_memory(args.points, max(2, args.count))
    if args.only in (None, "help"):
        bench_help()


if __name__ == "__main__":
    main()
