"""Writing a synthesized sample: the defective cloud with its per-point fields and the JSON sidecar
that regenerates it. ``pnas generate`` and the viewer's save key both write this way, for a
3D-PNAS :class:`AnomalySample` and for a defect kind's :class:`DefectResult` alike."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pointad.errors import InputError
from pointad.io import Cloud, write_cloud, write_json
from pointad.io.atomic import atomic_group
from pointad.synthesis.defects import DefectMix, DefectResult
from pointad.synthesis.defects.base import plain
from pointad.synthesis.sample import AnomalySample
from pointad.validation import as_normals


def kind_slug(kind: str) -> str:
    """A defect kind as it appears in a file name: kinds joined by ``+`` (several defects on
    one sample) are joined by ``-`` instead (``"ridge+hole"`` -> ``"ridge-hole"``); kind names
    hold only letters, digits and ``_``."""
    return kind.replace("+", "-")


def sample_paths(out_dir: str | os.PathLike[str], name: str, seed: int, fmt: str,
                 kind: str = "pnas") -> tuple[Path, Path]:
    """``out_dir/<name>_<kind>_<seed>.<fmt>`` and its sidecar ``out_dir/<name>_<kind>_<seed>.json``
    (``kind`` through :func:`kind_slug`; ``pnas`` for a 3D-PNAS sample)."""
    stem = Path(out_dir) / f"{name}_{kind_slug(kind)}_{seed}"
    return stem.with_name(f"{stem.name}.{fmt}"), stem.with_name(f"{stem.name}.json")


def output_cloud(cloud: Cloud, sample: AnomalySample | DefectResult,
                 normals: ArrayLike | None = None) -> Cloud:
    """The sample as a :class:`Cloud` with ``cloud``'s pixel grid.

    A 3D-PNAS :class:`AnomalySample`: the displaced points, normals, 0/1 labels and the fields
    ``soft_label`` and ``displacement`` (signed, along the normal).

    A :class:`DefectResult`: only the points the defect kept (a hole's points are absent), the
    input ``normals`` (default ``cloud.normals``; needed) of those points, 0/1 labels and the
    fields ``displacement`` (the offset's component along the normal, signed, as above) and
    ``offset`` (the offset's length, which also counts tangential moves).
    """
    if isinstance(sample, AnomalySample):
        signed = (sample.displacement * sample.normals).sum(axis=1)
        return Cloud(points=sample.points, normals=sample.normals,
                     labels=sample.labels.astype(np.uint8),
                     fields={"soft_label": sample.soft_labels, "displacement": signed},
                     grid_shape=cloud.grid_shape, grid_index=cloud.grid_index)
    normals = cloud.normals if normals is None else normals
    if normals is None:
        raise InputError("writing a defect needs the normals it was made with")
    nrm = as_normals(normals, len(sample.points))[sample.keep]
    points, labels, offsets = sample.visible()
    return Cloud(points=points, normals=nrm, labels=labels.astype(np.uint8),
                 fields={"displacement": (offsets * nrm).sum(axis=1),
                         "offset": np.linalg.norm(offsets, axis=1)},
                 grid_shape=cloud.grid_shape,
                 grid_index=None if cloud.grid_index is None else cloud.grid_index[sample.keep])


def sidecar(sample: AnomalySample | DefectResult) -> dict[str, Any]:
    """What the JSON sidecar records of a sample: a 3D-PNAS sample's params; a defect's
    ``kind``, its drawn ``params`` (with the seed) and ``peak``, and the ``kept`` and
    ``anomalous`` point counts of the written cloud."""
    if isinstance(sample, AnomalySample):
        return dict(sample.params)
    return {"kind": sample.kind, **sample.params, "peak": sample.peak,
            "kept": int(sample.keep.sum()), "anomalous": int(sample.labels[sample.keep].sum())}


def mix_record(mix: DefectMix) -> dict[str, Any]:
    """A :class:`DefectMix` as JSON: ``weights``, ``n_defects`` and the keywords ``common`` to
    every kind; ``DefectMix(r["weights"], r["n_defects"], **r["common"])`` rebuilds it (a
    ``height`` range as a list works as the ``(lo, hi)`` tuple)."""
    count = mix.n_defects
    return {"weights": dict(mix.weights),
            "n_defects": list(count) if isinstance(count, tuple) else count,
            "common": plain(mix.common)}


def write_sample(cloud: Cloud, sample: AnomalySample | DefectResult,
                 cloud_path: str | os.PathLike[str], json_path: str | os.PathLike[str], *,
                 source: str, overwrite: bool = False, normals: ArrayLike | None = None,
                 mix: DefectMix | None = None) -> None:
    """Write ``sample`` (synthesized on ``cloud``) to ``cloud_path`` with its per-point fields
    (:func:`output_cloud`; ``normals``: the normals a defect was made with, default
    ``cloud.normals``), and the JSON sidecar to ``json_path``: every parameter and the seed
    (:func:`sidecar`), the ``mix`` the defect was drawn from (:func:`mix_record`, when given),
    the input (``source``) and the output file name. Existing files are kept unless
    ``overwrite``.

    The two files land together or not at all: both are written to temporary names first, then
    moved into place, the sidecar last, so a sidecar always means a complete sample
    (:func:`finished_sample`); an error or an interruption leaves neither, nor a temporary."""
    meta = sidecar(sample)
    if mix is not None:
        meta["mix"] = mix_record(mix)
    meta = {**meta, "input": source, "output": Path(cloud_path).name}
    written = output_cloud(cloud, sample, normals)
    with atomic_group([cloud_path, json_path], overwrite=overwrite) as (tmp_cloud, tmp_json):
        try:
            write_cloud(tmp_cloud, written, overwrite=True)
            write_json(tmp_json, meta, overwrite=True)
        except InputError as exc:  # name the targets, not their temporaries
            message = str(exc).replace(os.fspath(tmp_cloud), os.fspath(cloud_path))
            raise InputError(message.replace(os.fspath(tmp_json), os.fspath(json_path))) from None


def finished_sample(cloud_path: str | os.PathLike[str],
                    json_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The sidecar of a sample that :func:`write_sample` finished (the cloud and a readable
    sidecar that names it both exist), else None: a cloud without its sidecar is unfinished."""
    cloud_path, json_path = Path(cloud_path), Path(json_path)
    if not (cloud_path.is_file() and json_path.is_file()):
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("output") != cloud_path.name:
        return None
    return meta
