"""A plain folder of point clouds in any format :func:`pointad.io.read_cloud` reads.

Layout::

    <root>/<category>/train/*.<ext>                 # normal clouds (or in train/good/)
    <root>/<category>/validation/*.<ext>            # optional, normal clouds (or validation/good/)
    <root>/<category>/test/good/*.<ext>             # normal test clouds
    <root>/<category>/test/<defect>/*.<ext>         # anomalous test clouds

Per-point labels of an anomalous cloud come from a sibling ``<stem>.labels.txt`` or
``<stem>.labels.npy`` (one 0/1 per point) when there is one, else from the cloud itself (a PLY/PCD
``label`` field or a 4th text column); normal clouds always get all-zero labels. Without a
category level (train/ and test/ directly under ``root``) the folder is a single category named
after it.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from pointad.datasets.base import GOOD, PointDataset, Sample, SampleFile, files_with, subdirs
from pointad.errors import InputError
from pointad.io import SUPPORTED_READ, load_numpy, read_cloud
from pointad.io.cloud import as_labels

_SIDECARS = (".labels.txt", ".labels.npy")  # label files, never clouds themselves
_NORMAL_SPLITS = ("train", "validation")


class PointFolder(PointDataset):
    """Plain-folder loader; see the module docstring for the layout.

    Args:
        root, category, split: as :class:`PointDataset`; split is "train", "validation" (when
            the folder has one) or "test".
    """

    format_name = "folder"
    splits = ("train", "validation", "test")

    @classmethod
    def matches(cls, root: Path) -> bool:
        return _is_category(root) or any(_is_category(d) for d in subdirs(root))

    @classmethod
    def categories(cls, root) -> list[str]:
        base = cls._data_root(root)
        if _is_category(base):
            return [base.resolve().name]  # resolve: "." has no name of its own
        return super().categories(root)

    @classmethod
    def _category_dir(cls, root: Path, category: str) -> Path:
        return root if _is_category(root) else root / category

    def _list_split(self, split_dir: Path) -> list[SampleFile]:
        if self.split in _NORMAL_SPLITS:
            for d in subdirs(split_dir):
                if d.name != GOOD:
                    raise InputError(f"{d}: the {self.split} split holds normal clouds only; put "
                                     f"anomalous ones in test/<defect>/")
            good = split_dir / GOOD
            found = [(p, GOOD)
                     for p in _clouds(split_dir) + (_clouds(good) if good.is_dir() else [])]
        else:
            stray = _clouds(split_dir)
            if stray:
                raise InputError(f"{stray[0]}: test clouds belong in test/good/ or test/<defect>/")
            found = [(p, d.name) for d in subdirs(split_dir) for p in _clouds(d)]
        return self._entries(found)

    def _entries(self, found: list[tuple[Path, str]]) -> list[SampleFile]:
        """SampleFiles of (cloud, defect) pairs, with ids "<split>/<defect>/<stem>".

        Two clouds with one stem in one defect folder (a.ply and a.pcd) get their full file
        names as ids instead; the same file name twice (train/a.ply, train/good/a.ply) is an error.
        """
        ids = [f"{self.split}/{defect}/{path.stem}" for path, defect in found]
        repeated = {i for i, n in Counter(ids).items() if n > 1}
        entries: list[SampleFile] = []
        seen: dict[str, Path] = {}
        for (path, defect), sample_id in zip(found, ids):
            if sample_id in repeated:
                sample_id = f"{self.split}/{defect}/{path.name}"
            if sample_id in seen:
                raise InputError(f"{path}: same sample as {seen[sample_id]} ({sample_id})")
            seen[sample_id] = path
            gt = None
            if defect != GOOD:
                gt = next((path.with_name(path.stem + s) for s in _SIDECARS
                           if path.with_name(path.stem + s).is_file()), None)
            entries.append(SampleFile(path=path, label=int(defect != GOOD), defect=defect,
                                      id=sample_id, gt_path=gt))
        return entries

    def _load(self, entry: SampleFile) -> Sample:
        cloud = read_cloud(entry.path)
        labels = cloud.labels
        if entry.gt_path is not None:
            labels = read_labels(entry.gt_path)
            if len(labels) != len(cloud):
                raise InputError(f"{entry.gt_path}: has {len(labels)} labels but {entry.path.name} "
                                 f"has {len(cloud)} points")
        return self._sample(entry, cloud.points, labels, grid_shape=cloud.grid_shape,
                            grid_index=cloud.grid_index, gt_path=entry.gt_path)


def read_labels(path: Path) -> np.ndarray:
    """Read a ``.labels.txt`` (one 0/1 per line) or ``.labels.npy`` (1-D array) file as uint8."""
    if path.name.lower().endswith(".npy"):
        values = load_numpy(path, archive=False, what="a .npy array of labels")
    else:
        try:
            values = np.loadtxt(path, ndmin=1)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read labels: {' '.join(str(exc).split())}") \
                from None
    try:
        return as_labels(values, "labels")
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _is_category(folder: Path) -> bool:
    return (folder / "train").is_dir() or (folder / "test").is_dir()


def _clouds(folder: Path) -> list[Path]:
    """Sorted cloud files of ``folder`` (label sidecars excluded)."""
    return [p for p in files_with(folder, SUPPORTED_READ) if not p.name.lower().endswith(_SIDECARS)]
