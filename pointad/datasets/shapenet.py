"""Anomaly-ShapeNet: synthetic-defect PCD clouds of ShapeNet objects, gt as comma-separated text.

Layout (``root`` is the folder holding ``pcd/``, or ``pcd/`` itself)::

    pcd/<category>/train/*template*.pcd             # normal templates (the train split)
    pcd/<category>/test/<name>.pcd                  # "positive" in the name: normal
    pcd/<category>/GT/<name>.txt                    # x,y,z,label, for every anomalous sample

Test names look like ``ashtray0_bulge2.pcd``; the defect is the part after the category, without
its number ("bulge"). As for Real3D-AD, an anomalous sample's points and labels come from its gt
file.
"""
from __future__ import annotations

import re
from pathlib import Path

from pointad.datasets.base import child_names, files_with, subdirs
from pointad.datasets.real3d import Real3DAD


class AnomalyShapeNet(Real3DAD):
    """Anomaly-ShapeNet loader; see the module docstring for the layout. No validation split.

    Args:
        root, category, split: as :class:`PointDataset`; split is "train" or "test".
        center: subtract each cloud's mean from its points; off by default.
    """

    format_name = "shapenet"
    gt_folder = "GT"
    good_marker = "positive"

    @classmethod
    def matches(cls, root: Path) -> bool:
        # The GT folder, or normal test clouds named "...positive...": Real3D-AD has neither.
        return any(cls.gt_folder in child_names(d) or any(
            cls.good_marker in p.name for p in files_with(d / "test", (".pcd",)))
            for d in subdirs(cls._data_root(root)) if (d / "test").is_dir())

    @classmethod
    def _data_root(cls, root) -> Path:
        base = super()._data_root(root)
        # Accept both the dataset folder and its pcd/ folder (the one holding the categories).
        return base / "pcd" if (base / "pcd").is_dir() else base

    def _defect_of(self, stem: str) -> str:
        prefix = f"{self.category}_"
        # "<category>_<defect><n>"; with another prefix the defect is the last "_" part.
        name = stem[len(prefix):] if stem.startswith(prefix) else stem.rsplit("_", 1)[-1]
        return re.sub(r"\d+$", "", name) or name
