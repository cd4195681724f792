"""A synthetic 3D anomaly-detection benchmark of the project's own, built without downloads.

Procedural industrial parts (:mod:`.parts`), a 360-degree and a single-view depth scanner
(:mod:`.scan`), defects with per-point ground truth (eight kinds, :data:`DEFECTS`, of
:mod:`pointad.synthesis.defects`), writers of the Real3D-AD
and MVTec 3D-AD layouts (:mod:`.layout`) and the build itself (:mod:`.make`), in two presets:
``"standard"`` and ``"realistic"`` (:mod:`.realistic`: thin parts, partial, posed, unevenly
dense and noisy test scans and small defects, calibrated to look like Real3D-AD)::

    from pointad.synthbench import make_benchmark
    make_benchmark("bench", size="small", seed=0)   # or: pnas bench make --out bench
    make_benchmark("real", preset="realistic")      # or: pnas bench make --preset realistic ...
"""
from pointad.synthbench.make import DEFECTS, LAYOUTS, PRESETS, SCANNER, SIZES, make_benchmark
from pointad.synthbench.parts import CATEGORIES, FAMILIES, THIN_CATEGORIES
from pointad.synthbench.realistic import REALISTIC, REALISTIC_CATEGORIES, REALISTIC_SIZES
from pointad.synthbench.scan import (
    DepthScan,
    FullScan,
    scan_depth,
    scan_full,
    scan_varying,
    visible_from,
)

__all__ = ["make_benchmark", "SIZES", "SCANNER", "LAYOUTS", "PRESETS", "CATEGORIES",
           "THIN_CATEGORIES", "FAMILIES", "DEFECTS", "REALISTIC", "REALISTIC_SIZES",
           "REALISTIC_CATEGORIES", "scan_full", "scan_depth", "scan_varying", "visible_from",
           "FullScan", "DepthScan"]
