"""Writing a synthesized sample: the defective cloud with its per-point fields and the JSON
sidecar that regenerates it. ``pnas generate`` and the viewer's save key both write this way."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pointad.io import Cloud, write_cloud, write_json
from pointad.synthesis.sample import AnomalySample


def sample_paths(out_dir: str | os.PathLike[str], name: str, seed: int,
                 fmt: str) -> tuple[Path, Path]:
    """``out_dir/<name>_pnas_<seed>.<fmt>`` and its sidecar ``out_dir/<name>_pnas_<seed>.json``."""
    stem = Path(out_dir) / f"{name}_pnas_{seed}"
    return stem.with_name(f"{stem.name}.{fmt}"), stem.with_name(f"{stem.name}.json")


def output_cloud(cloud: Cloud, sample: AnomalySample) -> Cloud:
    """The sample as a :class:`Cloud`: displaced points, normals, 0/1 labels, the fields
    ``soft_label`` and ``displacement`` (signed, along the normal) and ``cloud``'s pixel grid."""
    signed = (sample.displacement * sample.normals).sum(axis=1)
    return Cloud(points=sample.points, normals=sample.normals,
                 labels=sample.labels.astype(np.uint8),
                 fields={"soft_label": sample.soft_labels, "displacement": signed},
                 grid_shape=cloud.grid_shape, grid_index=cloud.grid_index)


def write_sample(cloud: Cloud, sample: AnomalySample, cloud_path: str | os.PathLike[str],
                 json_path: str | os.PathLike[str], *, source: str,
                 overwrite: bool = False) -> None:
    """Write ``sample`` (synthesized on ``cloud``) to ``cloud_path`` with its per-point fields,
    and the JSON sidecar to ``json_path``: every parameter, the seed, the input (``source``)
    and the output file name. Atomic; existing files are kept unless ``overwrite``."""
    write_cloud(cloud_path, output_cloud(cloud, sample), overwrite=overwrite)
    write_json(json_path, {**sample.params, "input": source, "output": Path(cloud_path).name},
               overwrite=overwrite)
