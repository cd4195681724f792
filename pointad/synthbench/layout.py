"""Writers of the two dataset layouts, file for file as the real benchmarks lay them out.

Real3D-AD (360-degree scans, millimetres)::

    <out>/real3d/<cls>/train/NNN_template.pcd      normal templates, canonical pose
    <out>/real3d/<cls>/test/NNN_good.pcd           normal test sample, random pose
    <out>/real3d/<cls>/test/NNN_<defect>.pcd       anomalous test sample
    <out>/real3d/<cls>/gt/NNN_<defect>.txt         x y z label, the points of the .pcd in order

MVTec 3D-AD (single-view organized scans, metres as in the real dataset)::

    <out>/mvtec3d/<cls>/train/good/xyz/NNN.tiff
    <out>/mvtec3d/<cls>/validation/good/xyz/NNN.tiff
    <out>/mvtec3d/<cls>/test/<defect>/xyz/NNN.tiff  (H, W, 3) float32, zeros = missing pixel
    <out>/mvtec3d/<cls>/test/<defect>/gt/NNN.png    uint8 0/255, H x W; all zero for good

NNN is the 3-digit zero-padded index. Every file goes through :mod:`pointad.io` (atomic, never
over an existing file unless ``overwrite``). Each writer returns the paths it wrote.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pointad.io import Cloud, atomic_write, write_cloud

MM_PER_M = 1000.0


def _float32(points: np.ndarray) -> np.ndarray:
    """Points rounded to float32 (what PCD stores), as float64 so the text file holds the same."""
    return np.asarray(points, dtype=np.float32).astype(np.float64)


def write_real3d_template(out: Path, category: str, index: int, points: np.ndarray, *,
                          overwrite: bool = False) -> list[Path]:
    """``real3d/<cls>/train/NNN_template.pcd`` from (N, 3) points in mm."""
    path = Path(out) / "real3d" / category / "train" / f"{index:03d}_template.pcd"
    return [write_cloud(path, Cloud(points=_float32(points)), overwrite=overwrite)]


def write_real3d_test(out: Path, category: str, index: int, defect: str, points: np.ndarray,
                      labels: np.ndarray | None = None, *, overwrite: bool = False) -> list[Path]:
    """``real3d/<cls>/test/NNN_<defect>.pcd`` and, for a defect, ``gt/NNN_<defect>.txt``.

    Args:
        points: (N, 3) mm, as scanned (the PCD keeps xyz only, as Real3D-AD's do).
        labels: (N,) bool ground truth; required unless ``defect == "good"``.
    """
    stem = f"{index:03d}_{defect}"
    root = Path(out) / "real3d" / category
    pts = _float32(points)
    written = [write_cloud(root / "test" / f"{stem}.pcd", Cloud(points=pts), overwrite=overwrite)]
    if defect != "good":
        gt = Cloud(points=pts, labels=np.asarray(labels, dtype=np.uint8))
        written.append(write_cloud(root / "gt" / f"{stem}.txt", gt, overwrite=overwrite))
    return written


def write_mvtec3d_sample(out: Path, category: str, split: str, defect: str, index: int,
                         xyz_mm: np.ndarray, valid: np.ndarray, mask: np.ndarray | None = None,
                         *, overwrite: bool = False) -> list[Path]:
    """``mvtec3d/<cls>/<split>/<defect>/xyz/NNN.tiff`` (metres), and ``gt/NNN.png`` on test.

    Args:
        xyz_mm: (H, W, 3) camera coordinates in millimetres; converted to metres here.
        valid: (H, W) bool, the measured pixels; the others are written as zeros (missing).
        mask: (H, W) bool ground truth, written for the test split (all zero for good).
    """
    height, width = valid.shape
    folder = Path(out) / "mvtec3d" / category / split / defect
    index_px = np.flatnonzero(valid.reshape(-1))
    points = np.asarray(xyz_mm, dtype=np.float64).reshape(-1, 3)[index_px] / MM_PER_M
    cloud = Cloud(points=points, grid_shape=(height, width), grid_index=index_px)
    written = [write_cloud(folder / "xyz" / f"{index:03d}.tiff", cloud, overwrite=overwrite)]
    if split == "test":
        mask = np.zeros((height, width), dtype=bool) if mask is None else np.asarray(mask, bool)
        written.append(write_mask(folder / "gt" / f"{index:03d}.png", mask, overwrite=overwrite))
    return written


def write_mask(path: Path, mask: np.ndarray, *, overwrite: bool = False) -> Path:
    """An (H, W) bool mask as a single-channel uint8 PNG, 255 = defect, atomically."""
    image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))  # 2-D uint8: mode "L"
    with atomic_write(path, overwrite=overwrite) as tmp:
        image.save(tmp, format="PNG")
    return Path(path)


def write_text_file(path: Path, text: str, *, overwrite: bool = False) -> Path:
    """A UTF-8 text file (the README), atomically."""
    with atomic_write(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
