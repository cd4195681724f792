"""Real3D-AD: high-resolution PCD scans, template clouds for training, gt text files for testing.

Layout::

    <root>/<category>/train/*template*.pcd          # normal templates (the train split)
    <root>/<category>/test/NNN_<type>.pcd           # "good" in the name: normal
    <root>/<category>/gt/NNN_<type>.txt             # x y z label, for every anomalous sample

As in the official evaluation, an anomalous sample's points *and* labels come from its gt text
file (which is what the per-point metrics are computed on); a good sample's points come from its
PCD, with all-zero labels.
"""
from __future__ import annotations

from pathlib import Path

from pointad.datasets.base import (
    GOOD,
    PointDataset,
    Sample,
    SampleFile,
    centered,
    child_names,
    files_with,
    read_gt_table,
    subdirs,
)
from pointad.errors import InputError
from pointad.io import read_cloud
from pointad.validation import parse_bool


class Real3DAD(PointDataset):
    """Real3D-AD loader; see the module docstring for the layout. No validation split.

    Args:
        root, category, split: as :class:`PointDataset`; split is "train" or "test".
        center: subtract each cloud's mean from its points (the Real3D-AD loaders do); off by
            default so that points stay in the coordinates of the files.
    """

    format_name = "real3d"
    splits = ("train", "test")
    gt_folder = "gt"          # exact case: Anomaly-ShapeNet's is "GT"
    good_marker = "good"      # in the file name of a normal test sample
    gt_suffix = ".txt"

    def __init__(self, root, category: str | None = None, split: str = "test", *,
                 center: bool = False):
        self.center = parse_bool(center, "center")
        super().__init__(root, category, split)

    @classmethod
    def matches(cls, root: Path) -> bool:
        return any(cls._looks_like_category(d) for d in subdirs(cls._data_root(root)))

    @classmethod
    def _looks_like_category(cls, folder: Path) -> bool:
        """A gt folder next to test/, or (a category without anomalies) template PCDs in train/."""
        if cls.gt_folder in child_names(folder) and (folder / "test").is_dir():
            return True
        train = folder / "train"
        return train.is_dir() and any("template" in p.name for p in files_with(train, (".pcd",)))

    def _list_split(self, split_dir: Path) -> list[SampleFile]:
        if self.split == "train":
            return [SampleFile(path=p, label=0, defect=GOOD, id=f"train/{GOOD}/{p.stem}")
                    for p in files_with(split_dir, (".pcd",)) if "template" in p.name]
        gt_dir = split_dir.parent / self.gt_folder
        samples = []
        for pcd in files_with(split_dir, (".pcd",)):
            defect = GOOD if self.good_marker in pcd.stem else self._defect_of(pcd.stem)
            gt = None
            if defect != GOOD:
                gt = gt_dir / f"{pcd.stem}{self.gt_suffix}"
                if not gt.is_file():
                    raise InputError(f"{gt}: ground truth not found for {pcd}")
            samples.append(SampleFile(path=pcd, label=int(defect != GOOD), defect=defect,
                                      id=f"test/{defect}/{pcd.stem}", gt_path=gt))
        return samples

    def _defect_of(self, stem: str) -> str:
        """``NNN_<type>`` -> ``<type>`` (the whole stem when it has no underscore)."""
        return stem.split("_", 1)[1] if "_" in stem else stem

    def _load(self, entry: SampleFile) -> Sample:
        if entry.gt_path is None:
            points, labels = read_cloud(entry.path).points, None  # zeros, set by _sample
        else:
            gt = read_gt_table(entry.gt_path)
            points, labels = gt.points, gt.labels
        if self.center:
            points = centered(points)
        return self._sample(entry, points, labels, gt_path=entry.gt_path)

