"""A synthetic 3D anomaly-detection benchmark of the project's own, built without downloads.

Procedural industrial parts (:mod:`.parts`), a 360-degree and a single-view depth scanner
(:mod:`.scan`), defects with per-point ground truth (:mod:`.defects`), writers of the Real3D-AD
and MVTec 3D-AD layouts (:mod:`.layout`) and the build itself (:mod:`.make`)::

    from pointad.synthbench import make_benchmark
    make_benchmark("bench", size="small", seed=0)   # or: pnas bench make --out bench
"""
from pointad.synthbench.defects import DEFECTS
from pointad.synthbench.make import LAYOUTS, SCANNER, SIZES, make_benchmark
from pointad.synthbench.parts import CATEGORIES
from pointad.synthbench.scan import DepthScan, FullScan, scan_depth, scan_full

__all__ = ["make_benchmark", "SIZES", "SCANNER", "LAYOUTS", "CATEGORIES", "DEFECTS",
           "scan_full", "scan_depth", "FullScan", "DepthScan"]
