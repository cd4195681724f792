"""``mmae-lines``: rows of an organized scan scored by MMAE, scores mapped back to their points
(the detector contract is in test_detector_contract.py)."""
import numpy as np
import pytest

import pointad.detectors as detectors
from pointad.errors import InputError
from pointad.io import CloudInput

pytestmark = pytest.mark.usefixtures("torch_one_thread")

FAST = dict(segment_length=4, n_segments=8, local_window=2, dim=8, depth=1, heads=2, steps=20,
            batch_size=8, n_maskings=2, device="cpu")


def scan(seed, missing=()):
    """A 12 x 32 organized scan of a rippled surface (x, y grid, height z), with the pixels in
    ``missing`` left out (as MVTec 3D-AD's zeros)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:12, 0:32].astype(float)
    z = 1.0 + 0.05 * np.sin(x / 3 + rng.uniform(0, 6)) + rng.normal(0, 0.002, x.shape)
    keep = np.ones(12 * 32, bool)
    keep[list(missing)] = False
    points = np.stack([x.ravel() * 0.01, y.ravel() * 0.01, z.ravel()], 1)[keep]
    return CloudInput(points, (12, 32), np.flatnonzero(keep))


def test_rows_scored_and_mapped_back_to_their_points():
    det = detectors.create("mmae-lines", **FAST).fit([scan(0), scan(1)])
    test = scan(2, missing=range(40, 50))  # a gap in row 1
    res = det.predict(test)
    assert res.point_scores.shape == (len(test.points),) and np.isfinite(res.point_scores).all()
    # The same numbers as scoring the rows (gaps filled) with the fitted MMAE directly.
    from pointad.signals.profiles import scan_rows
    image = np.zeros((12 * 32, 3))
    image[test.grid_index] = test.points
    valid = np.zeros(12 * 32, bool)
    valid[test.grid_index] = True
    rows, _, _ = scan_rows(image.reshape(12, 32, 3), valid.reshape(12, 32))
    expected = np.concatenate(det.model_.score_signals(rows)).reshape(12, 32).ravel()
    np.testing.assert_array_equal(res.point_scores, expected[test.grid_index])


def test_unorganized_clouds_use_a_render_and_xyz_needs_a_grid():
    flat = scan(0).points  # the same points without their grid
    det = detectors.create("mmae-lines", **FAST, size=16).fit([flat, scan(1).points])
    assert det.predict(flat).point_scores.shape == (len(flat),)
    xyz = detectors.create("mmae-lines", **{**FAST, "channels": "xyz"})
    with pytest.raises(InputError, match="organized"):
        xyz.fit([flat])
    fitted = xyz.fit([scan(0), scan(1)])
    assert fitted.model_.n_channels_ == 3
    with pytest.raises(InputError):
        detectors.create("mmae-lines", segment_length=0)
