"""Detector protocol, registry, save/load, and the `raw` baseline."""
import numpy as np
import pytest

import pointad.detectors as detectors
from conftest import random_rotation
from pointad.errors import InputError
from pointad.geometry.registration import align, transform
from pointad.metrics import auroc
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS


@pytest.fixture(scope="module")
def fitted():
    train = [sample_cloud("box", 3000, seed=s).points for s in range(2)]
    return detectors.create("raw", align_points=1500).fit(train)


def test_registry_lists_and_creates():
    assert "raw" in detectors.available()
    det = detectors.create("raw", top_fraction=0.05)
    assert det.get_params()["top_fraction"] == 0.05
    with pytest.raises(InputError, match="unknown detector 'nope'"):
        detectors.create("nope")
    with pytest.raises(InputError, match="unexpected keyword"):
        detectors.create("raw", bogus=1)
    with pytest.raises(InputError, match="top_fraction"):
        detectors.create("raw", top_fraction=0)


def test_builtin_names_match_their_classes_and_load_lazily():
    """Every built-in name imports a module that registers a class of that name; the CLI's
    parser (which lists them) imports neither torch nor any detector module."""
    import subprocess
    import sys

    from pointad.detectors.registry import BUILTIN, detector_class
    for name in BUILTIN:
        assert detector_class(name).name == name
    assert set(BUILTIN) <= set(detectors.available())
    code = ("import sys; from pointad.cli import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m == 'torch' or "
            "m.split('.')[-1] in {'raw', 'btf', 'uniad', 'pbas', 'onenip'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_alignment_recovers_a_rigid_motion():
    cloud = sample_cloud("box", 4000, seed=1).points  # 60 x 40 x 20: distinct axes
    rot, shift = random_rotation(4), np.array([30.0, -10.0, 5.0])
    moved = cloud @ rot.T + shift
    matrix = align(moved, cloud, max_points=2000)
    assert np.abs(transform(moved, matrix) - cloud).max() < 0.05


def test_raw_scores_defects_above_normal_points(fitted):
    base = sample_cloud("box", 3000, seed=7)
    sample = PNAS(strength=0.03, sign="bump", fraction=0.04)(base.points, base.normals, seed=2)
    rot = random_rotation(8)
    result = fitted.predict(sample.points @ rot.T + 12.0)  # arbitrary pose
    assert result.point_scores.shape == (3000,)
    assert auroc(sample.labels, result.point_scores) > 0.95
    normal = fitted.predict(base.points @ rot.T)
    assert result.score > normal.score


def test_save_and_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "raw")
    assert path.name == "raw.npz"
    loaded = detectors.load(path)
    assert loaded.get_params() == fitted.get_params()
    cloud = sample_cloud("box", 1000, seed=3).points
    np.testing.assert_array_equal(loaded.predict(cloud).point_scores,
                                  fitted.predict(cloud).point_scores)
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists"):
        fitted.save(path)
    assert path.read_bytes() == before
    with pytest.raises(InputError, match="not found"):
        detectors.load(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a saved pointad detector"):
        detectors.load(tmp_path / "junk.npz")
    # A file from another version: a parameter this version does not have.
    import json
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["params"]["from_the_future"] = 1
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(InputError, match="incompatible version"):
        detectors.load(tmp_path / "future.npz")


def test_protocol_errors():
    det = detectors.create("raw")
    with pytest.raises(InputError, match="not fitted"):
        det.predict(np.zeros((10, 3)))
    with pytest.raises(InputError, match="at least one training cloud"):
        det.fit([])
    bad = np.zeros((10, 3))
    bad[2, 1] = np.nan
    with pytest.raises(InputError, match="training cloud 0"):
        det.fit([bad])
