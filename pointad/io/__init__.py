"""Reading and writing point clouds: plain numpy in, plain numpy out.

``read_cloud(path)`` returns a :class:`Cloud` whatever the format (PLY, PCD, text tables, NumPy,
organized TIFF, or a mesh sampled into points); ``write_cloud(path, cloud)`` writes one,
atomically and never over an existing file unless asked. ``write_json`` writes the parameter
sidecars. ``as_cloud_input(x)`` turns an array, a Cloud or a dataset Sample into the validated
:class:`CloudInput` (points and, for organized scans, the pixel grid) that detectors and the
renderer take. One module per format: ``ply``, ``pcd``, ``text``, ``npy``, ``npz``, ``tiff``,
``mesh``.
"""
from pointad.io.atomic import atomic_write
from pointad.io.cloud import Cloud, CloudInput, as_cloud_input
from pointad.io.formats import SUPPORTED_READ, SUPPORTED_WRITE, read_cloud, write_cloud
from pointad.io.jsonfile import write_json
from pointad.io.npy import load_numpy

__all__ = [
    "Cloud", "CloudInput", "as_cloud_input", "read_cloud", "write_cloud", "atomic_write",
    "write_json", "load_numpy", "SUPPORTED_READ", "SUPPORTED_WRITE",
]
