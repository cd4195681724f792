"""What every dataset loader shares: the :class:`Sample` record, the :class:`PointDataset` base,
the registry of formats and :func:`load_dataset`, which picks the format from the folder layout.

A dataset object lists its sample files when it is built (so a malformed layout fails at once,
not halfway through an evaluation) and reads a sample from disk only when it is indexed.
"""
from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointad.errors import InputError
from pointad.io import Cloud, read_cloud
from pointad.registry import Registry
from pointad.validation import as_points

GOOD = "good"  # defect name of normal samples, in every format

# format name -> PointDataset subclass. Each built-in format's module registers its class when
# imported (PointDataset.__init_subclass__); the registry imports it on first use of the name.
DATASETS = Registry("dataset format", {
    "mvtec3d": "pointad.datasets.mvtec3d",
    "real3d": "pointad.datasets.real3d",
    "shapenet": "pointad.datasets.shapenet",
    "folder": "pointad.datasets.folder",
}, name_attr="format_name")

# detect_format tries the formats in this order: the specific layouts first, the plain folder
# (anything with train/ or test/) last; Anomaly-ShapeNet before Real3D-AD because both hold
# per-category gt text files and only the folder name ("GT" or "gt") tells them apart.
_DETECTION_ORDER = ("mvtec3d", "shapenet", "real3d", "folder")


@dataclass(eq=False)  # eq=False: comparing numpy arrays with == has no single truth value
class Sample:
    """One cloud of a dataset, with its ground truth.

    Attributes:
        points: (N, 3) float64 coordinates, in the units of the files (metres for MVTec 3D-AD).
        labels: (N,) uint8 per-point ground truth, 1 = anomalous; all zeros for good samples.
            None only for an anomalous sample of a plain folder that gives no labels.
        label: object label, 0 = good, 1 = anomalous.
        category: the object class ("bagel", "airplane", ...).
        defect: "good" or the defect type ("crack", "bulge", ...).
        id: unique within the dataset split, "<split>/<defect>/<file stem>".
        path: the cloud file of the sample.
        grid_shape: (H, W) of the image an organized cloud (MVTec 3D-AD) came from, or None.
        grid_index: (N,) int64 row-major pixel index of each point, or None; with
            ``grid_shape`` it puts per-point scores back into an H x W map.
        gt_mask: (H, W) uint8 0/1 full-resolution ground-truth mask (MVTec 3D-AD), or None.
        gt_path: the file the labels (and, for Real3D-AD/Anomaly-ShapeNet anomalies, the
            points) were read from, or None when they came from ``path`` or are all zeros.
    """

    points: np.ndarray
    labels: np.ndarray | None
    label: int
    category: str
    defect: str
    id: str
    path: Path
    grid_shape: tuple | None = None
    grid_index: np.ndarray | None = None
    gt_mask: np.ndarray | None = None
    gt_path: Path | None = None

    def __len__(self) -> int:
        return len(self.points)

    @property
    def organized(self) -> bool:
        """True when the sample carries the (H, W) image grid its points came from."""
        return self.grid_shape is not None


@dataclass(frozen=True)
class SampleFile:
    """Where a sample lies on disk and what its file names say about it (nothing is read yet).

    ``gt_path`` is the ground-truth file (mask, gt text or labels file) or None when there is
    none; ``label``/``defect``/``id`` are as in :class:`Sample`.
    """

    path: Path
    label: int
    defect: str
    id: str
    gt_path: Path | None = None


class PointDataset(ABC):
    """A split of one category of a 3D anomaly detection dataset: a sequence of :class:`Sample`.

    Subclasses set ``format_name`` and ``splits`` and implement :meth:`_list_split` (file names
    only) and :meth:`_load` (reads one sample). Constructor options of a subclass are keyword
    arguments after ``split``.

    Args:
        root: the dataset folder (the one holding the category folders).
        category: the category to load; None is allowed when the dataset has only one.
        split: one of :attr:`splits`.

    Raises:
        InputError: missing root, unknown category (the message lists the available ones),
            unknown split, missing split folder, a missing ground-truth file, or an empty split.
    """

    format_name: str = ""
    splits: tuple = ("train", "test")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.format_name:
            DATASETS.register(cls)

    def __init__(self, root, category: str | None = None, split: str = "test"):
        self.root = self._data_root(root)
        available = self.categories(root)
        if category is None:
            if len(available) != 1:
                raise InputError(f"{os.fspath(root)}: holds {len(available)} categories, pick one "
                                 f"of: {', '.join(available) or '(none)'}")
            category = available[0]
        if category not in available:
            raise InputError(f"{os.fspath(root)}: no category {category!r}; available: "
                             f"{', '.join(available) or '(none)'}")
        if split not in self.splits:
            raise InputError(f"split must be one of {', '.join(self.splits)} for "
                             f"{self.format_name}; got {split!r}")
        self.category = category
        self.split = split
        split_dir = self._category_dir(self.root, category) / split
        if not split_dir.is_dir():
            raise InputError(f"{split_dir}: split folder not found")
        self.samples: list[SampleFile] = self._list_split(split_dir)
        if not self.samples:
            raise InputError(f"{split_dir}: no samples in the {split} split")

    # ---------------------------------------------------------------- sequence protocol

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        """The Sample at ``index`` (a list of them for a slice); IndexError out of range."""
        if isinstance(index, slice):
            return [self._load(entry) for entry in self.samples[index]]
        return self._load(self.samples[index])

    def __iter__(self):
        for entry in self.samples:
            yield self._load(entry)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(root={str(self.root)!r}, category={self.category!r}, "
                f"split={self.split!r}, samples={len(self)})")

    # ---------------------------------------------------------------- layout

    @classmethod
    def categories(cls, root) -> list[str]:
        """Sorted names of the category folders under ``root`` (those with train/ or test/)."""
        base = cls._data_root(root)
        return sorted(d.name for d in subdirs(base)
                      if (d / "train").is_dir() or (d / "test").is_dir())

    @classmethod
    @abstractmethod
    def matches(cls, root: Path) -> bool:
        """True when ``root`` has this format's layout (used by :func:`detect_format`)."""

    @classmethod
    def _data_root(cls, root) -> Path:
        """The folder holding the category folders; raises InputError when ``root`` is missing."""
        path = Path(root)
        if not path.is_dir():
            raise InputError(f"{os.fspath(root)}: dataset folder not found")
        return path

    @classmethod
    def _category_dir(cls, root: Path, category: str) -> Path:
        return root / category

    @abstractmethod
    def _list_split(self, split_dir: Path) -> list[SampleFile]:
        """The sample files of one split folder (paths and file-name facts only)."""

    @abstractmethod
    def _load(self, entry: SampleFile) -> Sample:
        """Read one sample from disk."""

    def _sample(self, entry: SampleFile, points, labels, **extra) -> Sample:
        """A Sample of ``entry``; good samples get all-zero labels whatever ``labels`` is. Points
        must be finite (a detector cannot score a NaN row): else an error naming the file."""
        try:
            points = as_points(points)
        except InputError as exc:
            raise InputError(f"{entry.path}: {exc}") from None
        if entry.label == 0:
            labels = np.zeros(len(points), dtype=np.uint8)
        return Sample(points=points, labels=labels, label=entry.label, category=self.category,
                      defect=entry.defect, id=entry.id, path=entry.path, **extra)


# -------------------------------------------------------------------- helpers for subclasses


def subdirs(folder: Path) -> list[Path]:
    """Sorted non-hidden sub-folders of ``folder``."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def child_names(folder: Path) -> set[str]:
    """Exact-case names in ``folder`` ("GT" and "gt" differ even on case-insensitive disks)."""
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def files_with(folder: Path, suffixes) -> list[Path]:
    """Sorted non-hidden files of ``folder`` whose extension (any case) is in ``suffixes``."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes)


def read_gt_table(path: Path) -> Cloud:
    """Read a ground-truth table ``x y z label`` (or ``x,y,z,label``); it must have labels."""
    cloud = read_cloud(path)
    if cloud.labels is None:
        raise InputError(f"{path}: ground truth has no label column; expected x y z label")
    return cloud


def centered(points: np.ndarray) -> np.ndarray:
    """``points`` minus their mean (the Real3D-AD loaders centre each cloud)."""
    return points - points.mean(axis=0)


# -------------------------------------------------------------------- format detection


def detect_format(root) -> str:
    """Name the layout of the dataset folder ``root``: "mvtec3d", "real3d", "shapenet" or "folder".

    Raises:
        InputError: ``root`` is missing or has none of the layouts.
    """
    path = Path(root)
    if not path.is_dir():
        raise InputError(f"{os.fspath(root)}: dataset folder not found")
    for name in _DETECTION_ORDER:
        if DATASETS[name].matches(path):
            return name
    raise InputError(f"{os.fspath(root)}: not a dataset folder: expected category folders with "
                     f"train/ and test/ (MVTec 3D-AD, Real3D-AD, Anomaly-ShapeNet or plain clouds)")


def load_dataset(root, category: str | None = None, split: str = "test", format: str | None = None,
                 **options) -> PointDataset:
    """Open one split of one category of the dataset at ``root``.

    Args:
        root: the dataset folder.
        category: the category folder name; None when the dataset has only one.
        split: "train", "validation" (MVTec 3D-AD and plain folders) or "test".
        format: "mvtec3d", "real3d", "shapenet" or "folder"; None detects it from the layout.
        **options: constructor options of that format (e.g. ``remove_background=True``).

    Raises:
        InputError: unknown format or option, or any error of the dataset's constructor.
    """
    if format is None:
        format = detect_format(root)
    cls = DATASETS.get(format)
    # Unknown keywords would be a TypeError deep in the constructor; name them for the user.
    accepted = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)} for format {format}; "
                         f"options: {', '.join(accepted) or '(none)'}")
    return cls(root, category, split, **options)
