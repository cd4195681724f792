"""Organized xyz images as TIFF: (H, W, 3) float32, as in MVTec 3D-AD.

Each pixel holds the x, y, z of the surface seen there; pixels whose xyz are all zero are
missing (no measurement) and are skipped. The kept points remember their pixel in
``grid_shape``/``grid_index`` so a cloud can be written back as the same image.
"""
from __future__ import annotations

import os

import numpy as np

from pointad.errors import InputError
from pointad.io.cloud import Cloud, check_float32
from pointad.io.npy import organized_to_cloud


def read_tiff(path: str | os.PathLike[str]) -> Cloud:
    """Read an (H, W, 3) xyz TIFF into an organized Cloud of its non-zero pixels."""
    import tifffile  # on first use: importing pointad.io stays light (`pnas --help`)

    image = tifffile.imread(path)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"holds an image of shape {image.shape}; expected an (H, W, 3) xyz image")
    if image.dtype.kind not in "biuf":
        raise InputError(f"holds {image.dtype} pixels, expected numbers")
    return organized_to_cloud(image.astype(np.float64))


def write_tiff(path: str | os.PathLike[str], cloud: Cloud) -> None:
    """Write an organized cloud as an (H, W, 3) float32 TIFF with zeros at missing pixels.

    Raises:
        InputError: the cloud has no grid (it did not come from an image).
    """
    if cloud.grid_shape is None or cloud.grid_index is None:  # not cloud.organized
        raise InputError("cannot write a TIFF: the cloud is not organized (it has no grid_shape/"
                         "grid_index); use .ply, .pcd or .npz")
    check_float32(cloud.points, "coordinates", "TIFF")
    height, width = cloud.grid_shape
    image = np.zeros((height * width, 3), dtype=np.float32)
    image[cloud.grid_index] = cloud.points
    # photometric='rgb': three contiguous samples per pixel, the layout MVTec 3D-AD uses
    # (and tifffile's default would otherwise change in future versions).
    import tifffile

    tifffile.imwrite(path, image.reshape(height, width, 3), photometric="rgb")
