"""The README's 1D table: ``mmae`` against the baselines (``mae``, ``window-knn``) on synthetic ECG
per anomaly kind (window- and point-level AUROC), and, with ``--bench``, ``mmae-lines`` next to
the point detectors on the single-view (MVTec 3D-AD layout) benchmark.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python tools/report_signals.py
    .venv/bin/python tools/report_signals.py --bench /tmp/h1b/mvtec3d \\
        --methods3d mmae-lines,raw,btf,patchcore-ms

``--out DIR`` also writes each run's results JSON/CSV (``pointad.runner.write_results``).
"""
from __future__ import annotations

import argparse
import os
import time

from pointad.runner import evaluate, evaluate_signals, write_results
from pointad.signals.ecg import KINDS, synthetic_ecg


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="mmae,mae,window-knn")
    p.add_argument("--n-train", type=int, default=400, help="normal training recordings")
    p.add_argument("--n-test", type=int, default=20,
                   help="normal test recordings; n_test / 2 of each anomaly kind")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="METHOD.KEY=VALUE")
    p.add_argument("--bench", help="a single-view benchmark (MVTec 3D-AD layout) for the 3D rows")
    p.add_argument("--methods3d", default="mmae-lines,raw,btf,patchcore-ms")
    p.add_argument("--out", help="also write every run's results JSON/CSV here")
    args = p.parse_args(argv)
    from pointad.cli.eval import parse_key_value
    params: dict = {}
    for item in args.param:
        key, value = parse_key_value(item)
        method, _, name = key.partition(".")
        params.setdefault(method, {})[name] = value
    start = time.time()
    data = synthetic_ecg(args.n_train, args.n_test, max(1, args.n_test // 2), seed=args.seed)
    print(f"synthetic ECG: {len(data.train)} normal training recordings of 10 s at 100 Hz; test: "
          f"{args.n_test} normal and {max(1, args.n_test // 2)} of each kind (seed {args.seed}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    head = "| method | " + " | ".join(f"{k} (window / point)" for k in KINDS) + \
        " | all: window AUROC | point AUROC | AUPRO | fit s | s / window |"
    rows = [head, "|" + " --- |" * (len(KINDS) + 6)]
    for method in args.methods.split(","):
        res = evaluate_signals(method, data, params=params.get(method, {}))
        if args.out:
            write_results(res, args.out, overwrite=True)
        m, by = res["mean"], res["mean_by_defect"]
        rows.append(f"| {method} | " + " | ".join(
            f"{fmt(by[k]['I-AUROC'])} / {fmt(by[k]['P-AUROC'])}" for k in KINDS) +
            f" | {fmt(m['I-AUROC'])} | {fmt(m['P-AUROC'])} | {fmt(m['AUPRO'])} | "
            f"{m['fit_s']:.1f} | {m['predict_s_per_cloud']:.3f} |")
        print(rows[-1], flush=True)
    print("\n".join(rows))
    if args.bench:
        rows = ["| method | I-AUROC | P-AUROC | AUPRO | P-AP | fit s / category | s / cloud |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for method in args.methods3d.split(","):
            res = evaluate(method, args.bench, params=params.get(method, {}), progress=False)
            if args.out:
                write_results(res, args.out, overwrite=True)
            m = res["mean"]
            rows.append(f"| {method} | {fmt(m['I-AUROC'])} | {fmt(m['P-AUROC'])} | "
                        f"{fmt(m['AUPRO'])} | {fmt(m['P-AP'])} | {m['fit_s']:.1f} | "
                        f"{m['predict_s_per_cloud']:.2f} |")
            print(rows[-1], flush=True)
        print(f"\nsingle-view benchmark {args.bench} (mean over categories)")
        print("\n".join(rows))
    print(f"\ntotal {time.time() - start:.0f} s; load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
