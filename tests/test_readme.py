"""The README runs as written: every ```bash and ```python block of README.md (and of the
measurement logs it points to, docs/*.md) is run here, in README order, or listed in SKIP with
the reason, so that a new or edited block cannot drift.

How a block is run: in a fresh folder (one per chain, below) that holds what a checkout holds
for the blocks (``.venv`` and ``tools`` linked to the repository's, a copy of ``docs/images/``,
so commands that rewrite the README's images need ``--overwrite`` there as in the
repository), with the repository's ``.venv/bin`` first on the PATH, as after ``source
.venv/bin/activate``; bash blocks under ``bash -euo pipefail``, python blocks with the
environment's python. Each block must exit 0 and make the files listed for it.

Blocks that build on each other run in one chain, in README order (the command-line examples
after the set-up and stand-in blocks: they write into the same ``pnas_out/``); independent
chains are separate tests, so ``pytest -n`` spreads them. Where the README uses big inputs the
block runs with the substitutions in SUBSTITUTIONS (smaller clouds, fewer samples, a one-category
benchmark); each says why, and a test checks that each still applies to some block. The set-up
commands themselves (``tools/setup.sh``) and the test suite are not rerun.

Runtime: about 65 CPU-seconds in all (most of it the ``pnas`` start-up of each command and the
one-category benchmark with its evaluation); the chains run in parallel under ``-n 2``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# key (a substring found in exactly one block) -> why the block is not run.
SKIP = {
    "[ -d synthbench ] || pnas bench make --out synthbench   # built above, once\n"
    "OMP_WAIT_POLICY=PASSIVE .venv/bin/python tools/report.py --data synthbench \\\n"
    "    --methods raw,btf":
        "tools/report.py: four point detectors on both layouts of the default benchmark "
        "(hours on 2 cores)",
    "tools/report.py --preset realistic --out results-realistic":
        "builds the realistic benchmark and evaluates every detector on it (hours)",
    "--methods raw,patchcore-ms,pnas-offset --out results-realistic-s2":
        "tools/report.py: three point detectors on a third realistic build (about 50 "
        "minutes on 2 cores)",
    "--param consensus=true":
        "tools/report.py: three point detectors with consensus registration on a third "
        "realistic build (about 70 minutes on 2 cores)",
    "--categories hex_bolt,mug,heatsink --out synthbench-s1-3":
        "five detector settings on a realistic benchmark (hours)",
    "--out results-fused-realistic \\":
        "tools/report.py: patchcore-ms, hetnet and three fused settings on the realistic "
        "preset at the default size (about two hours on 2 cores)",
    "--out results-fused-realistic-s2 --methods patchcore-ms":
        "tools/report.py: patchcore-ms, hetnet and the default fused on a third realistic "
        "build at the default size (about an hour on 2 cores)",
    "tools/fused_weights.py results-fused-realistic-s2":
        "reads the saved scores of the run above, then fused with weight 0.5 on the same "
        "build (about 40 minutes on 2 cores)",
    "--out results-fused-default-s2 --methods fused":
        "tools/report.py: fused with patchcore-ms at its defaults on a third realistic build "
        "(about 80 minutes on 2 cores)",
    ".venv/bin/dask scheduler":
        "needs a dask scheduler and workers on other machines (A, /shared)",
    "tools/report.py --preset depth --out results-depth":
        "tools/report.py: nine methods (seven of them train networks) on both layouts, per "
        "category and unified (about an hour on 2 cores)",
    "pnas eval -m uniad -d synthbench/real3d                 # one UniAD per category":
        "trains UniAD (100 epochs) on the 8 default categories twice, and PBAS (300 epochs)",
    "--methods patchcore-ms,uniad,onenip,pbas":
        "tools/report.py: four detectors, both layouts, both modes (about two hours)",
    "pnas bench make --preset realistic --seed 1 --out synthbench-s1":
        "realistic benchmark, registration proxies and four UniAD trainings (hours)",
    "--bench sb/mvtec3d --out results-signals":
        "tools/report_signals.py: three 1D methods trained on 400 ECGs and four 3D detectors "
        "(about 7 minutes)",
    "--methods hetnet --out results-hetnet-cuts0":
        "a realistic benchmark and two HetNet runs with renders of partial cuts (about half "
        "an hour on 2 cores)",
    "--methods raw,patchcore-ms --param holes=true":
        "tools/report.py: two detectors with holes on the realistic benchmark (30 minutes)",
    "--out results-realistic-depth":
        "tools/report.py: seven depth-method and fused fits on the realistic benchmark "
        "(about two hours on 2 cores)",
    "--out results-seam0":
        "tools/report.py: HetNet and PRADOT with and without the seam guard on a realistic "
        "benchmark (about 40 minutes on 2 cores)",
    "--out results-hetnet-pv0":
        "a default-size realistic benchmark and two HetNet runs, with and without partial "
        "cuts (about 15 minutes on 2 cores)",
    "$C oracle --seam-guard 0":
        "three realistic builds and ten oracle runs of tools/depth_proxy.py (about 40 "
        "minutes on 2 cores)",
    "--out results-realistic-small-360":
        "a small realistic build with complete test scans and four depth methods and a bank "
        "on it (about 40 minutes on 2 cores)",
    "--out results-rescans \\":
        "a small realistic build with complete test scans and six depth-method runs on two "
        "builds (about an hour on 2 cores)",
    "$C features \\\n    --backbone efficientnet-lite0 --views 26":
        "five feature-bank runs of tools/depth_proxy.py on two small realistic builds made "
        "above (about 3 minutes each on 2 cores)",
    "--methods cpmf --out results-cpmf-$B":
        "cpmf on six realistic builds made above and once more with partial cuts (about 90 "
        "minutes on 2 cores)",
    "--methods hetnet,cpmf,fader,pradot,pbas,patchcore-ms":
        "seven depth methods and patchcore-ms on a default-size realistic build of complete "
        "scans, and raw (about two hours on 2 cores)",
    "synthbench-realistic-360/real3d $C oracle \\\n    --splat 1.5":
        "two oracle runs of tools/depth_proxy.py on the default-size realistic build of "
        "complete scans made above (about 5 minutes each on 2 cores)",
    "--methods hetnet,hetnet@image":
        "two more default-size realistic builds and ten HetNet fits on five of them (about "
        "three hours on 2 cores)",
    "--out results-tolerance-$B":
        "two default-size realistic builds, an oracle run and four depth-method fits with "
        "the z-buffer's depth tolerance (about 45 minutes on 2 cores)",
    "det.fit(train_clouds)":
        "a fragment: train_clouds and points stand for the reader's data",
}

# key -> (chain, files the block makes, relative to the chain's folder). Chains run separately,
# each block of a chain in README order.
RUN = {
    "bash tools/setup.sh && .venv/bin/pnas generate":
        ("cli", ["pnas_out/flange_pnas_0.ply", "pnas_out/flange_pnas_0.json"]),
    "source .venv/bin/activate   # pnas and python on the PATH":
        ("cli", ["part.ply", "000.tiff", "scans/part1.ply", "scans/part2.ply"]),
    "pnas generate part.ply                       # one localized defect":
        ("cli", ["pnas_out/part_pnas_0.ply", "pnas_out/part1_pnas_101.ply",
                 "pnas_dent/part_pnas_0.ply", "pnas_paper/part_pnas_0.json",
                 "pnas_out/000_pnas_0.tiff", "pnas_out/plate_pnas_0.npz"]),
    'cloud = read_cloud("part.ply")':
        ("cli", []),
    "pnas view --sample-points 200000":
        ("view", ["docs/images/view_flange.png"]),
    "pnas plot sweep --sample plate":
        ("sweep", ["docs/images/sweep_scale_octaves.png"]),
    "pnas generate --sample flange --seed 3 -o demo -q":
        ("heatmap", ["demo/flange_pnas_3.ply", "raw.npz", "docs/images/heatmap_raw_flange.png"]),
    "pnas bench make --out synthbench                 # the synthetic benchmark":
        ("eval", ["synthbench/benchmark.json", "results/raw_real3d.json",
                  "results/raw_mvtec3d.json"]),
    "data = synthetic_ecg(n_train=40":
        ("signals", ["mmae.npz"]),
    "pnas signals eval --synthetic-ecg -m window-knn --out results":
        ("signals", ["results/window-knn_signals.json"]),
    "--out results-report --report report-raw":
        ("eval", ["results-report/raw_real3d.scores.npz", "report-raw/index.html",
                  "report-compare/index.html", "report-html/index.html"]),
}

# (text in a run block, replacement, why). Applied to every run block, in this order.
SUBSTITUTIONS = [
    ("bash tools/setup.sh && ", "",
     "set-up is what made the environment the test runs in"),
    ("bash tools/setup.sh --test && .venv/bin/python -m pytest -n 2 -q",
     "true  # the suite: this test is part of it",
     "the test suite runs this test"),
    ("--count 20", "--count 2", "20 samples of each cloud in scans/ only repeat the first"),
    ("-n 10", "-n 2", "10 samples only repeat the first"),
    ("--sample-points 200000", "--sample-points 4000", "a 200k-point screenshot takes seconds"),
    ("--window 1200x760", "--window 400x260", "a smaller screenshot"),
    ("--sample-points 40000", "--sample-points 3000", "nine 40k-point syntheses"),
    ("det = d.create('raw')",
     "det = d.create('raw', align_points=500, icp_iterations=5, consensus=False)",
     "raw's default registration (5000 points, 30 ICP steps, turned starts) is most of the "
     "block's time"),
    ("pnas eval --method raw --data synthbench/real3d ",
     "pnas eval --method raw --data synthbench/real3d -p align_points=500 -p icp_iterations=5 "
     "-p consensus=false ",
     "the same, for the evaluation"),
    ("--category gear --param pca=false",
     "--category gear --param pca=false -p align_points=500 -p icp_iterations=5 "
     "-p consensus=false",
     "the same"),
    ("--category gear --category bottle", "--category gear",
     "the one-category benchmark below has gear only"),
    ("--layouts real3d --html report-html",
     "--layouts real3d --param raw.align_points=500 --param raw.icp_iterations=5 "
     "--param raw.consensus=false --html report-html",
     "raw's registration as above (results/raw_real3d.json has it)"),
    ("pnas bench make --out synthbench ",
     "pnas bench make --size small --categories gear --out synthbench ",
     "the default benchmark (eight categories, 187 MB) takes about 30 s to build and minutes to "
     "evaluate; one small category (gear, which the third command names) runs the same code"),
]

FENCE = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def readme_blocks() -> list[tuple[str, str, str]]:
    """(language, text, "file line N") of every bash and python block of README.md, then of the
    measurement logs under docs/ that the README points to (docs/*.md, by name)."""
    blocks = []
    for path in [README] + sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text()
        name = path.relative_to(ROOT)
        blocks += [(m.group(1), m.group(2), f"{name} line {text.count(chr(10), 0, m.start()) + 1}")
                   for m in FENCE.finditer(text)]
    return blocks


def match(blocks, table):
    """key -> index of the one block containing it (a key in no block or in several: None)."""
    out = {}
    for key in table:
        hits = [i for i, (_, text, _) in enumerate(blocks) if key in text]
        out[key] = hits[0] if len(hits) == 1 else None
    return out


def substitute(text: str) -> str:
    for old, new, _ in SUBSTITUTIONS:
        text = text.replace(old, new)
    return text


def test_every_block_is_run_or_skipped_with_a_reason():
    blocks = readme_blocks()
    assert len(blocks) >= 10
    run, skip = match(blocks, RUN), match(blocks, SKIP)
    # Every key names exactly one block (none stale, none ambiguous) ...
    assert [k for k, i in {**run, **skip}.items() if i is None] == []
    # ... and every block is named once: run, or skipped with a reason.
    named = sorted(list(run.values()) + list(skip.values()))
    missing = [f"{where}: {text.splitlines()[0]!r}"
               for i, (_, text, where) in enumerate(blocks) if i not in named]
    assert missing == [], "new README blocks: add them to RUN or SKIP in tests/test_readme.py"
    assert len(named) == len(set(named)) == len(blocks)
    assert all(len(reason) > 20 for reason in SKIP.values())
    # Every substitution still shrinks something (a stale one would hide a README change).
    run_text = [blocks[i][1] for i in run.values()]
    for old, _, why in SUBSTITUTIONS:
        assert any(old in text for text in run_text), old
        assert why
    # The chains run the blocks in README order.
    for chain in {c for c, _ in RUN.values()}:
        order = [run[k] for k, (c, _) in RUN.items() if c == chain]
        assert order == sorted(order), chain


def chain_blocks(chain: str):
    blocks = readme_blocks()
    run = match(blocks, RUN)
    picked = sorted((run[k], files) for k, (c, files) in RUN.items() if c == chain)
    return [(blocks[i], files) for i, files in picked]


def workdir(tmp_path: Path) -> Path:
    """A folder that holds what a checkout holds for the blocks."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    (tmp_path / "tools").symlink_to(ROOT / "tools", target_is_directory=True)
    shutil.copytree(ROOT / "docs" / "images", tmp_path / "docs" / "images")
    return tmp_path


def run_block(lang: str, text: str, cwd: Path):
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
               MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)  # the installed package, as a reader has it
    script = cwd / f".block.{'sh' if lang == 'bash' else 'py'}"
    script.write_text(("set -euo pipefail\n" if lang == "bash" else "") + text)
    cmd = ["bash", str(script)] if lang == "bash" else [sys.executable, str(script)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("chain", sorted({c for c, _ in RUN.values()}))
def test_readme_blocks_run_as_written(chain, tmp_path):
    if chain == "view":
        from viz.offscreen import offscreen_problem

        if offscreen_problem() is not None:
            pytest.skip(offscreen_problem())
    cwd = workdir(tmp_path)
    images = {p.name: p.read_bytes() for p in (cwd / "docs" / "images").iterdir()}
    for (lang, text, where), files in chain_blocks(chain):
        res = run_block(lang, substitute(text), cwd)
        assert res.returncode == 0, (f"{where} failed:\n{substitute(text)}\n"
                                     f"{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
        for f in files:
            path = cwd / f
            assert path.is_file() and path.stat().st_size > 0, f"{where}: {f} not made"
            if path.parent == cwd / "docs" / "images" and path.name in images:
                assert path.read_bytes() != images[path.name], f"{f} not rewritten"
