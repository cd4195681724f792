"""Interrupt `pnas generate` many times and count how it ends (the Ctrl-C check of issue 13).

Starts `pnas generate` on a sizeable cloud (no normals, so they are estimated: the numba and
torch thread pools are busy) with many --count, sends SIGINT (or --signal TERM) after a random
0.5-3 s, and repeats. A clean stop exits 130 (SIGINT) or 143 (SIGTERM), leaves no hidden temp
file and no cloud without its sidecar; anything else (139 = segfault, a traceback) is counted.

    .venv/bin/python tools/sigint_stress.py --runs 20
    .venv/bin/python tools/sigint_stress.py --runs 20 --signal TERM --points 100000
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_input(folder: Path, n_points: int) -> Path:
    from pointad.io import Cloud, write_cloud
    from pointad.samples import sample_cloud

    path = folder / "part.ply"
    write_cloud(path, Cloud(points=sample_cloud("flange", n_points, seed=0).points))
    return path


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def half_results(out: Path, fmt: str) -> list[str]:
    """Hidden temp files and clouds without their sidecar in ``out``."""
    if not out.is_dir():
        return []
    bad = [p.name for p in out.iterdir() if p.name.startswith(".")]
    bad += [p.name for p in out.glob(f"*.{fmt}") if not p.with_suffix(".json").exists()]
    return bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=60000)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--signal", default="INT", choices=("INT", "TERM"))
    parser.add_argument("--min-delay", type=float, default=0.5)
    parser.add_argument("--max-delay", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the delays")
    parser.add_argument("--extra", default="", help="more pnas generate options, one string")
    args = parser.parse_args(argv)
    sig = signal.SIGINT if args.signal == "INT" else signal.SIGTERM
    clean = 130 if sig == signal.SIGINT else 143
    rng = random.Random(args.seed)
    codes: collections.Counter = collections.Counter()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        src = make_input(Path(tmp), args.points)
        for i in range(args.runs):
            out = Path(tmp) / f"out{i}"
            cmd = [sys.executable, "-m", "pointad", "generate", str(src), "-o", str(out),
                   "--count", str(args.count), "-q", *args.extra.split()]
            # SIGINT back to its default in the child: a background shell job ignores it.
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, preexec_fn=default_sigint)
            delay = rng.uniform(args.min_delay, args.max_delay)
            time.sleep(delay)
            proc.send_signal(sig)
            try:
                _, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
                err += "\n(did not stop within 120 s)"
            code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
            codes[code] += 1
            left = half_results(out, "ply")
            if code != clean or left or "Traceback" in err:
                problems.append({"run": i, "delay": round(delay, 2), "exit": code,
                                 "left": left[:5], "stderr": err.strip().splitlines()[-3:]})
            print(f"run {i:2d}: delay {delay:4.2f} s -> exit {code}"
                  f"{' LEFT ' + str(left[:3]) if left else ''}", flush=True)
    print(json.dumps({"exit_codes": dict(sorted(codes.items())), "problems": problems},
                     indent=1))
    return 0 if not problems else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")
    sys.exit(main())
