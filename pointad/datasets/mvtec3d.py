"""MVTec 3D-AD: organized xyz TIFF scans with PNG ground-truth masks.

Layout::

    <root>/<category>/train/good/xyz/*.tiff
    <root>/<category>/validation/good/xyz/*.tiff
    <root>/<category>/test/<defect>/xyz/<stem>.tiff
    <root>/<category>/test/<defect>/gt/<stem>.png      # 0/255, same H x W as the TIFF

Each TIFF is an (H, W, 3) float32 image of x, y, z in metres; all-zero pixels are missing and
dropped, the rest keep their pixel in ``grid_index`` so scores can be drawn back as an image.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pointad.datasets.base import (
    GOOD,
    PointDataset,
    Sample,
    SampleFile,
    child_names,
    files_with,
    subdirs,
)
from pointad.errors import InputError
from pointad.io import read_cloud
from pointad.validation import check_number, check_seed, parse_bool

_TIFF = (".tiff", ".tif")


class MVTec3D(PointDataset):
    """MVTec 3D-AD loader; see the module docstring for the layout.

    Args:
        root, category, split: as :class:`PointDataset`; split is "train", "validation" or "test".
        remove_background: drop the supporting plane and keep the largest remaining cluster
            (see :func:`remove_background`); off by default, as in the raw benchmark.
        plane_distance: RANSAC inlier distance of the plane fit, in the data's units (metres).
        plane_margin: points closer than this to the fitted plane are dropped (metres).
        cluster_eps: DBSCAN neighbourhood radius that joins points into one cluster (metres).
        cluster_min_points: DBSCAN minimum neighbours of a core point.
        ransac_iterations: RANSAC iterations of the plane fit.
        seed: seed of open3d's RANSAC; the same seed keeps the same points.
    """

    format_name = "mvtec3d"
    splits = ("train", "validation", "test")

    def __init__(self, root, category: str | None = None, split: str = "test", *,
                 remove_background: bool = False, plane_distance: float = 0.004,
                 plane_margin: float = 0.005, cluster_eps: float = 0.006,
                 cluster_min_points: int = 10, ransac_iterations: int = 1000, seed: int = 0):
        check_number(plane_distance, "plane_distance", low=0, low_open=True)
        check_number(plane_margin, "plane_margin", low=0)
        check_number(cluster_eps, "cluster_eps", low=0, low_open=True)
        check_number(cluster_min_points, "cluster_min_points", low=1, integer=True)
        check_number(ransac_iterations, "ransac_iterations", low=1, integer=True)
        check_seed(seed)
        self.remove_background = parse_bool(remove_background, "remove_background")
        self.background_options: dict[str, Any] = dict(
            plane_distance=plane_distance, plane_margin=plane_margin, cluster_eps=cluster_eps,
            cluster_min_points=cluster_min_points, ransac_iterations=ransac_iterations, seed=seed)
        super().__init__(root, category, split)

    @classmethod
    def matches(cls, root: Path) -> bool:
        for category in subdirs(root):
            for split in ("train", "validation", "test"):
                if (category / split).is_dir() and any(
                        "xyz" in child_names(d) for d in subdirs(category / split)):
                    return True
        return False

    def _list_split(self, split_dir: Path) -> list[SampleFile]:
        samples = []
        for defect_dir in subdirs(split_dir):
            defect = defect_dir.name
            xyz_dir = defect_dir / "xyz"
            if not xyz_dir.is_dir():
                raise InputError(f"{xyz_dir}: folder not found "
                                 "(MVTec 3D-AD keeps the scans in xyz/)")
            gt_dir = defect_dir / "gt"
            for tiff in files_with(xyz_dir, _TIFF):
                mask = gt_dir / f"{tiff.stem}.png"
                found = mask.is_file()  # good scans may come without (all-zero) masks
                if not found and defect != GOOD:  # a defect without its mask cannot be evaluated
                    raise InputError(f"{mask}: ground-truth mask not found for {tiff}")
                samples.append(SampleFile(path=tiff, label=int(defect != GOOD), defect=defect,
                                          id=f"{self.split}/{defect}/{tiff.stem}",
                                          gt_path=mask if found else None))
        return samples

    def _load(self, entry: SampleFile) -> Sample:
        cloud = read_cloud(entry.path)
        shape, index = cloud.grid_shape, cloud.grid_index
        if shape is None or index is None:  # a TIFF always is; guard against an odd file anyway
            raise InputError(f"{entry.path}: not an organized (H, W, 3) xyz image")
        if entry.gt_path is not None:
            mask = read_mask(entry.gt_path)
            if mask.shape != shape:
                raise InputError(f"{entry.gt_path}: mask is {mask.shape[0]} x {mask.shape[1]} "
                                 f"pixels but {entry.path.name} is {shape[0]} x {shape[1]}")
        else:
            mask = np.zeros(shape, dtype=np.uint8)
        if entry.label == 0:
            mask = np.zeros(shape, dtype=np.uint8)  # good means good, even if a mask says otherwise
        points = cloud.points
        if self.remove_background:
            keep = remove_background(points, where=entry.path, **self.background_options)
            points, index = points[keep], index[keep]
        labels = mask.reshape(-1)[index]  # the mask at the pixel of each kept point
        return self._sample(entry, points, labels, grid_shape=shape, grid_index=index,
                            gt_mask=mask, gt_path=entry.gt_path)


def read_mask(path: Path) -> np.ndarray:
    """Read a ground-truth PNG as an (H, W) uint8 0/1 mask (any non-zero pixel is a defect)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(f"{path}: cannot read mask image: {' '.join(str(exc).split())}") from None
    if array.ndim == 3:  # an RGB(A) mask: a pixel is a defect when any channel is set
        array = np.asarray(array.any(axis=2))
    if array.ndim != 2:
        raise InputError(f"{path}: mask has shape {array.shape}; expected an H x W image")
    return (array > 0).astype(np.uint8)


def remove_background(points: np.ndarray, *, plane_distance: float = 0.004,
                      plane_margin: float = 0.005, cluster_eps: float = 0.006,
                      cluster_min_points: int = 10, ransac_iterations: int = 1000, seed: int = 0,
                      where="points") -> np.ndarray:
    """Indices of the points of the object, without the plane it lies on.

    Fits the dominant plane with open3d's RANSAC (inliers within ``plane_distance``), refits it
    by least squares to its inliers, drops every point within ``plane_margin`` of it, then keeps
    the largest DBSCAN cluster (``cluster_eps``, ``cluster_min_points``) of the rest, which
    removes the clutter and stray points around the object.

    Args:
        points: (N, 3) coordinates; distances are in the same units.
        seed: seed of open3d's random generator; the result is the same for the same seed.
        where: the file (or name) the errors mention.

    Returns:
        (K,) int64 sorted indices into ``points`` of the kept points.

    Raises:
        InputError: fewer than 3 points, or nothing left after the plane is removed.
    """
    import open3d as o3d  # imported here: it is slow to import and only this option needs it

    if len(points) < 3:
        raise InputError(f"{where}: background removal needs at least 3 points, got {len(points)}")
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    o3d.utility.random.seed(seed)
    _, inliers = cloud.segment_plane(distance_threshold=plane_distance, ransac_n=3,
                                     num_iterations=ransac_iterations)
    # Why refit: RANSAC's plane passes through 3 noisy points and is slightly tilted; the
    # least-squares plane of all its inliers is not, so the margin cuts evenly across the scan.
    inlier_points = points[np.asarray(inliers)]
    centre = inlier_points.mean(axis=0)
    normal = np.linalg.svd(inlier_points - centre, full_matrices=False)[2][-1]
    off_plane = np.flatnonzero(np.abs((points - centre) @ normal) > plane_margin)
    if len(off_plane) == 0:
        raise InputError(f"{where}: background removal left no points (all within "
                         f"plane_margin={plane_margin} of the plane)")
    rest = cloud.select_by_index(off_plane.tolist())
    clusters = np.asarray(rest.cluster_dbscan(eps=cluster_eps, min_points=cluster_min_points))
    if not (clusters >= 0).any():
        raise InputError(f"{where}: background removal found no cluster off the plane "
                         f"(cluster_eps={cluster_eps}, cluster_min_points={cluster_min_points})")
    largest = np.bincount(clusters[clusters >= 0]).argmax()  # ties: the lowest cluster id
    return off_plane[clusters == largest].astype(np.int64)
