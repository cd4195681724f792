"""Loaders for the 3D anomaly detection benchmarks, and for plain folders of clouds.

``load_dataset(root, category, split)`` detects the layout (MVTec 3D-AD, Real3D-AD,
Anomaly-ShapeNet or a plain folder) and returns a :class:`PointDataset`: a sequence of
:class:`Sample` (points, per-point labels, object label, defect type, ...), read lazily from disk.
"""
from pointad.datasets.base import (
    DATASETS,
    PointDataset,
    Sample,
    SampleFile,
    detect_format,
    load_dataset,
)

# Imported for their registration in DATASETS (PointDataset.__init_subclass__).
from pointad.datasets.folder import PointFolder
from pointad.datasets.mvtec3d import MVTec3D, remove_background
from pointad.datasets.real3d import Real3DAD
from pointad.datasets.shapenet import AnomalyShapeNet

__all__ = [
    "DATASETS", "PointDataset", "Sample", "SampleFile", "detect_format", "load_dataset",
    "MVTec3D", "Real3DAD", "AnomalyShapeNet", "PointFolder", "remove_background",
]
