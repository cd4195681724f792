"""tools/depth_proxy.py's oracle: what the render and the map back to points let through of a
per-point signal that is already right."""
import numpy as np
import pytest

from conftest import TOOLS, load_script, write_tiny_real3d
from pointad.render import render
from pointad.samples import sample_cloud

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def proxy():
    return load_script(TOOLS / "depth_proxy.py")


def test_oracle_keeps_shown_points_and_fills_the_rest_from_the_nearest_shown(proxy):
    cloud = sample_cloud("box", 3000, seed=0)
    rendered = render(cloud, views=3, size=48)
    values = np.random.default_rng(0).random(len(cloud.points))
    out = proxy.oracle_scores(rendered, values)
    seen = rendered.seen
    assert 0.2 < seen.mean() < 1.0  # some points are hidden behind nearer splats
    np.testing.assert_array_equal(out[seen], values[seen])
    hidden = np.flatnonzero(~seen)
    np.testing.assert_array_equal(out[hidden], values[rendered.nearest_seen[hidden]])
    # The nearest shown point, in 3D (brute force).
    shown = np.flatnonzero(seen)
    d = np.linalg.norm(cloud.points[hidden][:, None] - cloud.points[shown][None], axis=2)
    np.testing.assert_allclose(np.linalg.norm(
        cloud.points[hidden] - cloud.points[rendered.nearest_seen[hidden]], axis=1), d.min(1))


def test_oracle_mode_scores_bulges_directly_and_through_the_render(proxy, tmp_path, capsys):
    data = write_tiny_real3d(tmp_path / "real3d", n_points=1500, n_good=3, n_bad=3,
                             fraction=0.05, categories=("box",))
    direct_i, direct_p, rendered_i, rendered_p = proxy.category(data, "box", "oracle", 64)
    assert direct_p > 0.9 and direct_i > 0.8  # raw's distance finds PNAS bulges
    # Complete test clouds: every bulge is in front, so shown; little is lost on the way.
    assert rendered_p > direct_p - 0.1
    assert proxy.main([str(data), "box", "oracle", "64", "--seam-guard", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("direct mean I-AUROC") and "rendered mean" in out[-1]
    # The z-buffer's depth tolerance changes only the rendered column.
    tolerant = proxy.category(data, "box", "oracle", 64, tolerance=2.0)
    assert tolerant[:2] == (direct_i, direct_p) and tolerant[3] != rendered_p


def test_features_mode_finds_bulges_without_training(proxy, tmp_path, capsys):
    """The weight-free backbone's features with a memory bank of the training points tell
    PNAS bulges on complete clouds from the good surface."""
    data = write_tiny_real3d(tmp_path / "real3d", n_points=1500, n_good=3, n_bad=3,
                             fraction=0.05, categories=("box",))
    i_max, p_auroc, i_top, p_again = proxy.category(data, "box", "features", 64)
    assert p_auroc == p_again and p_auroc > 0.8, p_auroc
    assert proxy.main([str(data), "box", "features", "64", "--views", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("max mean I-AUROC") and "top1% mean" in out[-1]
