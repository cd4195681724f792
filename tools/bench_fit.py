"""Fit time of the learned detectors against a memory bank fitted on the same clouds, in one run.

    .venv/bin/python tools/bench_fit.py                       # fork, 4 clouds of 10k points
    .venv/bin/python tools/bench_fit.py --category mug --threads 2 --methods pnas-offset

The training clouds are complete realistic-preset templates (:mod:`pointad.synthbench.realistic`:
a 360-degree scan of ``--points`` points with 0.1-0.3 spacings of noise) of one part family,
made here with ``--seed``; nothing is read from disk. Each method is fitted with its default
parameters on ``--threads`` torch threads (the CI machine has 2 cores) and the device torch
picks (CUDA when available; ``--device cpu`` to force the CPU).

Rows: fit seconds, the ratio to the reference memory bank (``btf``: FPFH features of every
training point into a bank) timed in the same run, and the issue's budget for ``pnas-offset``:
one category of 10k-point clouds fitted in at most 5 minutes on 2 CPU cores. The budget is an
absolute time, so it is only meaningful on an idle machine; the load average is printed first.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pointad.detectors import create  # noqa: E402
from pointad.synthbench.parts import FAMILIES  # noqa: E402
from pointad.synthbench.realistic import realistic_template  # noqa: E402

BUDGET_S = {"pnas-offset": 300.0}  # the CPU budget per category (2 cores)
REFERENCE = "btf"


def training_clouds(category: str, n_clouds: int, n_points: int, seed: int) -> list:
    """``n_clouds`` realistic templates of one instance of ``category`` (float64 (n, 3) each)."""
    rng = np.random.default_rng(seed)
    mesh = FAMILIES[category](rng)
    return [realistic_template(mesh, n_points, rng)[0] for _ in range(n_clouds)]


def time_fit(method: str, clouds: list, device: str) -> float:
    detector = create(method)
    if "device" in detector.param_names():
        detector = create(method, device=device)
    start = time.perf_counter()
    detector.fit(clouds)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--category", default="fork", choices=sorted(FAMILIES))
    parser.add_argument("--clouds", type=int, default=4, help="training clouds (default 4)")
    parser.add_argument("--points", type=int, default=10_000, help="points per cloud")
    parser.add_argument("--methods", default="pnas-offset",
                        help="comma-separated learned detectors to time (default pnas-offset)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.2f}, torch {torch.__version__} on {args.threads} threads, "
          f"device {device}")
    clouds = training_clouds(args.category, args.clouds, args.points, args.seed)
    print(f"# {args.category}: {len(clouds)} training clouds of {args.points} points")
    reference = time_fit(REFERENCE, clouds, device)
    print(f"{REFERENCE + ' (reference)':<24} fit {reference:8.1f} s")
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        seconds = time_fit(method, clouds, device)
        line = f"{method:<24} fit {seconds:8.1f} s   {seconds / reference:7.1f}x the reference"
        budget = BUDGET_S.get(method)
        if budget is not None:
            verdict = "ok" if seconds <= budget else "OVER BUDGET"
            line += f"   (budget {budget:.0f} s on 2 CPU cores: {verdict})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
