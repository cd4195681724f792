"""Recompute the detectors' seeded regression values that the tests compare against.

    .venv/bin/python tools/regression_values.py            # print each test module's EXPECTED
    .venv/bin/python tools/regression_values.py --write    # and rewrite them in the test files
    .venv/bin/python tools/regression_values.py tests/test_runner.py --write   # one module

It runs the tests marked ``regression`` of the given test files (default: every test file with a
``# BEGIN regression values`` block) with ``POINTAD_RECORD_REGRESSION`` set, so that
``tests/regression.py:check`` records what it measures instead of comparing; then it prints each
module's ``EXPECTED`` dict in the format the module holds it and, with ``--write``, replaces the
lines between ``# BEGIN regression values`` and ``# END regression values``. Nothing is written
when a test fails for another reason (its output is shown). Takes a few minutes on 2 cores (the
2D methods train small networks). Review the diff before committing: a value that moved by more
than the tolerance is a behaviour change of that detector.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "# BEGIN regression values", "# END regression values"
sys.path.insert(0, str(ROOT / "tests"))
from regression import RECORD_ENV  # noqa: E402


def blocks(files) -> list[Path]:
    """The files that hold a regression block."""
    return [Path(f).resolve() for f in files if BEGIN in Path(f).read_text()]


def format_block(values: dict) -> str:
    """``EXPECTED = {...}`` in the tests' layout: one line per case (wrapped per row when long)."""
    lines = [BEGIN + " (regenerate: .venv/bin/python tools/regression_values.py --write)",
             "EXPECTED = {  # case -> row (\"mean\" or a category) -> metric -> value"]
    for case in sorted(values):
        rows = values[case]
        text = ", ".join(f"{json.dumps(r)}: {json.dumps(m)}" for r, m in rows.items())
        one = f"    {json.dumps(case)}: {{{text}}},"
        if len(one) <= 99:
            lines.append(one)
            continue
        lines.append(f"    {json.dumps(case)}: {{")
        lines += [f"        {json.dumps(r)}: {json.dumps(m)}," for r, m in rows.items()]
        lines.append("    },")
    lines += ["}", END]
    return "\n".join(lines)


def replace_block(path: Path, block: str) -> None:
    text = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(text) if line.startswith(BEGIN))
    stop = next(i for i, line in enumerate(text) if line.startswith(END) and i > start)
    text[start:stop + 1] = [block + "\n"]
    path.write_text("".join(text))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="test files (default: all with a block)")
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in the files")
    args = parser.parse_args(argv)
    files = blocks(args.files or sorted((ROOT / "tests").glob("test_*.py")))
    if not files:
        print("no test file with a regression block", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "values.jsonl"
        env = {**os.environ, RECORD_ENV: str(record)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
               "regression", *map(str, files)]
        print("running:", " ".join(cmd[2:]), flush=True)
        done = subprocess.run(cmd, cwd=ROOT, env=env)
        entries = ([json.loads(line) for line in record.read_text().splitlines()]
                   if record.exists() else [])
    if done.returncode != 0:
        print("pytest failed (see above); nothing written", file=sys.stderr)
        return 1
    for path in files:
        values = {e["case"]: e["values"] for e in entries if Path(e["file"]) == path}
        if not values:
            print(f"{path.relative_to(ROOT)}: no regression test ran", file=sys.stderr)
            continue
        block = format_block(values)
        print(f"\n{path.relative_to(ROOT)}:\n{block}")
        if args.write:
            replace_block(path, block)
            print(f"(written to {path.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
