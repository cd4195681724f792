"""Speed-up of ``pnas generate --workers N`` over a serial run, and the overhead per item.

    .venv/bin/python tools/bench_parallel.py [--workers 2] [--points 20000] [--samples 24]

Prints the load average first (a shared machine's numbers move with it), then, each against
the serial run timed in the same invocation:

After a warm-up of this process and of the running cluster (imports, numba compilation):

- speed-up: INPUTS clouds of --points points, --samples samples each (real work per sample),
  serial vs --workers N through the CLI (cluster start and the fresh workers' imports and
  compilation included) and vs an already running
  cluster (``--scheduler``, start excluded);
- overhead per item: the same with tiny items (300-point clouds, --tiny samples), where the
  work is nearly nothing: (parallel wall x workers - serial wall) / items, in ms, and the
  ratio of the walls.

Outputs are checked to be byte-identical to the serial run's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(argv: list[str]) -> float:
    from pointad.cli import main

    start = time.perf_counter()
    code = main(argv)
    if code != 0:
        raise SystemExit(f"pnas {' '.join(argv)}: exit {code}")
    return time.perf_counter() - start


def same_bytes(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and \
        all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def case(root: Path, name: str, inputs: list[Path], samples: int, workers: int,
         scheduler: str) -> dict:
    base = ["generate", *map(str, inputs), "-n", str(samples), "-q"]
    serial = timed(base + ["-o", str(root / f"{name}_s")])
    local = timed(base + ["-o", str(root / f"{name}_w"), "--workers", str(workers)])
    running = timed(base + ["-o", str(root / f"{name}_c"), "--scheduler", scheduler])
    for suffix in ("w", "c"):
        if not same_bytes(root / f"{name}_s", root / f"{name}_{suffix}"):
            raise SystemExit(f"{name}: --workers output differs from the serial run's")
    return {"serial": serial, "local": local, "running": running,
            "items": len(inputs) * samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--inputs", type=int, default=4, help="clouds (default: %(default)s)")
    parser.add_argument("--points", type=int, default=20000,
                        help="points per cloud of the speed-up case (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=6,
                        help="samples per cloud, speed-up case (default: %(default)s)")
    parser.add_argument("--tiny", type=int, default=50,
                        help="samples per cloud, overhead case (default: %(default)s)")
    args = parser.parse_args()

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores; "
          f"{args.workers} workers")
    from distributed import LocalCluster

    from pointad.io import Cloud, write_cloud
    from pointad.parallel import SINGLE_THREAD_ENV
    from pointad.samples import sample_cloud

    root = Path(tempfile.mkdtemp(prefix="bench_parallel_"))
    try:
        big, tiny = [], []
        for i in range(args.inputs):
            for n, into in ((args.points, big), (300, tiny)):
                path = root / f"in_{n}" / f"c{i}.xyz"
                write_cloud(path, Cloud(points=sample_cloud("sphere", n_points=n,
                                                            seed=i).points))
                into.append(path)
        start = time.perf_counter()
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=dict(SINGLE_THREAD_ENV))
        started = time.perf_counter() - start
        try:
            # Warm-up (imports, numba compilation) of this process and of the running cluster's
            # workers; --workers starts fresh ones each time, so it pays them in every run.
            for name, extra in (("warm_s", []), ("warm_c", ["--scheduler",
                                                            cluster.scheduler_address])):
                timed(["generate", *map(str, big[:2]), "-n", "2", "-q", "-o",
                       str(root / name), *extra])
            work = case(root, "work", big, args.samples, args.workers, cluster.scheduler_address)
            over = case(root, "tiny", tiny, args.tiny, args.workers, cluster.scheduler_address)
        finally:
            cluster.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"cluster start ({args.workers} workers): {started:.1f} s")
    for title, r in ((f"speed-up: {args.inputs} clouds x {args.points} points x "
                      f"{args.samples} samples", work),
                     (f"overhead: {args.inputs} clouds x 300 points x {args.tiny} samples",
                      over)):
        print(title)
        print(f"  serial                {r['serial']:7.2f} s  1.00x  "
              f"({1000 * r['serial'] / r['items']:.1f} ms/item)")
        for key, label in (("local", f"--workers {args.workers}"),
                           ("running", "--scheduler (running)")):
            extra = (r[key] * args.workers - r["serial"]) / r["items"] * 1000
            print(f"  {label:<21} {r[key]:7.2f} s  {r['serial'] / r[key]:.2f}x speed-up  "
                  f"(overhead {extra:+.1f} ms/item x worker)")
    print("outputs: byte-identical to the serial run")


if __name__ == "__main__":
    main()
