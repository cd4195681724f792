"""Time pointad.ops against the CPU references, each measured in the same run.

    .venv/bin/python tools/bench_ops.py            # 100k points; add --n 200000, --repeats 7

Cases (a unit sphere surface, float32 tensors, torch's default thread count):

- knn, query = points, k = 32, vs ``scipy.spatial.cKDTree(points).query(points, k, workers=-1)``
  (tree build included, as knn builds its tree); target: at most 2x the reference time.
- ball_query (max_nn = 32, radius = the median 16th-neighbour distance) vs
  ``cKDTree.query_ball_point(points, r, workers=-1)`` and vs ``cKDTree.query(points, 32,
  distance_upper_bound=r, workers=-1)`` (the same capped, nearest-first semantics).
- farthest_point_sampling 100k -> 2048 vs Open3D ``farthest_point_down_sample``.
- local_pca (k = 30: normals and surface variation) vs Open3D
  ``estimate_normals(KDTreeSearchParamKNN(30))``.
- greedy_coreset (PatchCore's coreset: farthest point sampling of 20k x 128 features -> 2000)
  vs the plain greedy loop it replaced (``argmax`` + ``minimum`` of L2 norms per step).

Each case runs ``--repeats`` times alternating ours and the reference; the best time of each is
reported (the least disturbed by other processes) with the median in brackets. CUDA rows are added
when a GPU is available (synchronized; the references stay on CPU).

The load average is printed first: on a machine busy with other processes torch's OpenMP workers
spin-wait at every parallel operation and times swing widely (``OMP_WAIT_POLICY=PASSIVE`` in the
environment tames it); compare ratios from a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import open3d as o3d
import torch
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pointad.detectors.memory_bank import greedy_coreset  # noqa: E402
from pointad.ops import ball_query, farthest_point_sampling, knn, local_pca  # noqa: E402


def _timed(fn, sync=None):
    start = time.perf_counter()
    fn()
    if sync is not None:
        sync()
    return time.perf_counter() - start


def _compare(name, ours, reference, repeats, sync=None, ref_name="reference"):
    ours()                                            # warm-up (allocator, lazy init)
    reference()
    if sync is not None:
        sync()
    t_ours, t_ref = [], []
    for _ in range(repeats):
        t_ours.append(_timed(ours, sync))
        t_ref.append(_timed(reference))
    best_o, best_r = min(t_ours), min(t_ref)
    print(f"{name:<34} ours {best_o:7.3f} s [{statistics.median(t_ours):.3f}]   "
          f"{ref_name} {best_r:7.3f} s [{statistics.median(t_ref):.3f}]   "
          f"ratio {best_o / best_r:5.2f}x")
    return best_o / best_r


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="points in the cloud")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=2048, help="farthest point samples")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(args.n, 3))
    cloud /= np.linalg.norm(cloud, axis=1, keepdims=True)
    cloud32 = cloud.astype(np.float32)
    radius = float(np.median(cKDTree(cloud).query(cloud[::50], k=17)[0][:, -1]))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud))

    print(f"{args.n} points on a unit sphere, float32; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        pts = torch.from_numpy(cloud32).to(device)
        sync = torch.cuda.synchronize if device == "cuda" else None
        print(f"--- {device}")
        ratio = _compare(
            "knn k=32 (query = points)", lambda: knn(pts, pts, 32),
            lambda: cKDTree(cloud32).query(cloud32, k=32, workers=-1), args.repeats, sync,
            "cKDTree")
        if device == "cpu":
            print(f"    knn target <= 2x cKDTree: {'met' if ratio <= 2.0 else 'NOT met'}")
        _compare(f"ball_query r={radius:.4f} max_nn=32", lambda: ball_query(pts, pts, radius, 32),
                 lambda: cKDTree(cloud32).query_ball_point(cloud32, radius, workers=-1),
                 args.repeats, sync, "query_ball_point")
        _compare("ball_query (same semantics)", lambda: ball_query(pts, pts, radius, 32),
                 lambda: cKDTree(cloud32).query(cloud32, k=32, distance_upper_bound=radius,
                                                workers=-1),
                 args.repeats, sync, "cKDTree capped")
        _compare(f"fps {args.n} -> {args.samples}",
                 lambda: farthest_point_sampling(pts, args.samples),
                 lambda: pcd.farthest_point_down_sample(args.samples), max(1, args.repeats // 2),
                 sync, "open3d")
        _compare("normals k=30", lambda: local_pca(pts, k=30),
                 lambda: o3d.geometry.PointCloud(pcd).estimate_normals(
                     o3d.geometry.KDTreeSearchParamKNN(30)),
                 args.repeats, sync, "open3d")
        feats = torch.from_numpy(rng.normal(size=(20_000, 128)).astype(np.float32)).to(device)
        _compare("coreset 20000x128 -> 2000", lambda: greedy_coreset(feats, 2000),
                 lambda: _greedy_loop(feats, 2000), max(1, args.repeats // 2), sync,
                 "greedy loop")


def _greedy_loop(x: torch.Tensor, n_select: int) -> torch.Tensor:
    """The k-centre greedy coreset as a plain loop (the implementation greedy_coreset replaced)."""
    chosen = torch.empty(n_select, dtype=torch.int64, device=x.device)
    chosen[0] = 0
    min_dist = torch.linalg.vector_norm(x - x[0], dim=1)
    for i in range(1, n_select):
        nxt = torch.argmax(min_dist)
        chosen[i] = nxt
        torch.minimum(min_dist, torch.linalg.vector_norm(x - x[nxt], dim=1), out=min_dist)
    return chosen


if __name__ == "__main__":
    main()
