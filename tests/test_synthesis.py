"""3D-PNAS synthesis: geometry of the displacement, labels, determinism, invariances, errors."""
import numpy as np
import pytest

from conftest import ellipsoid_points, random_rotation
from pointad.errors import InputError
from pointad.geometry import object_diameter
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS


@pytest.fixture(scope="module")
def flange():
    return sample_cloud("flange", n_points=6000)


MODES = [dict(mode="local"), dict(mode="paper"), dict(mode="paper", transfer="signed"),
         dict(mode="local", projection="volume"), dict(mode="paper", projection="cylindrical")]


@pytest.mark.parametrize("config", MODES)
def test_zero_strength_changes_nothing(flange, config):
    sample = PNAS(strength=0.0, **config)(flange.points, flange.normals, seed=3)
    assert np.array_equal(sample.points, flange.points)
    assert not sample.labels.any() and not sample.soft_labels.any()


@pytest.mark.parametrize("config", MODES)
def test_displacement_is_along_the_normal(flange, config):
    sample = PNAS(strength=0.05, **config)(flange.points, flange.normals, seed=1)
    d = sample.displacement
    assert np.abs(d).max() > 0
    np.testing.assert_allclose(np.cross(d, flange.normals), 0.0, atol=1e-12)
    np.testing.assert_allclose(sample.points - flange.points, d, atol=1e-12)
    peak = 0.05 * object_diameter(flange.points)
    magnitude = np.linalg.norm(d, axis=1)
    assert magnitude.max() <= peak * (1 + 1e-9)
    np.testing.assert_allclose(magnitude, peak * sample.soft_labels, rtol=1e-9, atol=1e-12)


def test_labels_follow_the_half_strength_rule(flange):
    sample = PNAS()(flange.points, flange.normals, seed=4)
    assert np.array_equal(sample.labels, sample.soft_labels >= 0.5)
    assert sample.soft_labels.min() == 0 and sample.soft_labels.max() == pytest.approx(1.0)


@pytest.mark.parametrize("config", MODES)
def test_same_seed_same_sample_other_seed_differs(flange, config):
    synth = PNAS(**config)
    a = synth(flange.points, flange.normals, seed=11)
    b = synth(flange.points, flange.normals, seed=11)
    c = synth(flange.points, flange.normals, seed=12)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.labels, b.labels)
    assert not np.allclose(a.points, c.points)


def test_regenerate_from_params(flange):
    synth = PNAS(octaves=3, fraction=0.05)
    sample = synth(flange.points, flange.normals, seed=21)
    again = synth.regenerate(flange.points, sample.params, normals=flange.normals)
    assert np.array_equal(again.points, sample.points)
    assert sample.params["seed"] == 21 and sample.params["config"]["octaves"] == 3


@pytest.mark.parametrize("config", [dict(), dict(mode="paper"), dict(projection="volume"),
                                    dict(projection="pca")])
def test_rotation_translation_equivariance(config):
    points, normals = ellipsoid_points(n=4000, seed=7)
    points = points + 0.4 * (points[:, :1] > 1.0) * normals  # a shape without symmetries
    rot, shift = random_rotation(9), np.array([10.0, -3.0, 2.5])
    synth = PNAS(strength=0.05, **config)
    a = synth(points, normals, seed=5)
    b = synth(points @ rot.T + shift, normals @ rot.T, seed=5)
    np.testing.assert_allclose(b.points, a.points @ rot.T + shift, atol=1e-6)
    assert np.array_equal(a.labels, b.labels)


def test_rotation_equivariance_with_estimated_normals():
    points, _ = ellipsoid_points(n=3000, seed=8)
    rot = random_rotation(2)
    a = PNAS(normal_k=16)(points, seed=2)
    b = PNAS(normal_k=16)(points @ rot.T, seed=2)
    np.testing.assert_allclose(b.points, a.points @ rot.T, atol=1e-6)


@pytest.mark.parametrize("config", [dict(), dict(mode="paper"), dict(projection="cylindrical")])
def test_uniform_scaling_invariance_in_relative_units(flange, config):
    synth = PNAS(**config)
    a = synth(flange.points, flange.normals, seed=6)
    b = synth(25.4 * flange.points, flange.normals, seed=6)  # millimetres -> thou, say
    assert np.mean(a.labels != b.labels) < 1e-3  # float32 noise may flip a boundary point
    np.testing.assert_allclose(b.displacement, 25.4 * a.displacement,
                               atol=1e-4 * 25.4 * np.abs(a.displacement).max())


@pytest.mark.parametrize("name", ["flange", "sphere", "box", "plate"])
@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.07])
def test_achieved_fraction_is_near_the_target(name, fraction):
    cloud = sample_cloud(name, n_points=5000)
    grid = (cloud.grid_shape, cloud.grid_index) if cloud.organized else None
    for seed in range(3):
        sample = PNAS(fraction=fraction)(cloud.points, cloud.normals, seed=seed, grid=grid)
        assert abs(sample.anomalous_fraction - fraction) <= 0.25 * fraction


def test_local_defect_is_contained_and_fades_out(flange):
    sample = PNAS(fraction=0.04, falloff=0.5)(flange.points, flange.normals, seed=9)
    center = flange.points[sample.params["center"]]
    radius = sample.params["support_radius"]
    dist = np.linalg.norm(flange.points - center, axis=1)
    assert np.all(sample.soft_labels[dist > radius * (1 + 1e-9)] == 0)
    rim = (dist > 0.95 * radius) & (dist <= radius)
    assert sample.soft_labels[rim].max() < 0.1  # smooth falloff to zero at the border
    # Nothing leaks through the part: displaced points face the seed's side.
    moved = sample.soft_labels > 0
    assert np.all(flange.normals[moved] @ flange.normals[sample.params["center"]] > -0.5)


def test_center_places_the_defect(flange):
    center = int(np.argmax(flange.points[:, 0]))
    sample = PNAS()(flange.points, flange.normals, seed=0, center=center)
    assert sample.params["center"] == center
    hit = flange.points[sample.labels]
    assert (np.linalg.norm(hit - flange.points[center], axis=1).max()
            <= sample.params["support_radius"])


@pytest.mark.parametrize("sign,expect", [("bump", 1), ("dent", -1)])
def test_sign_moves_out_or_in(flange, sign, expect):
    sample = PNAS(sign=sign)(flange.points, flange.normals, seed=2)
    along = (sample.displacement * flange.normals).sum(axis=1)
    assert np.all(expect * along >= 0) and np.abs(along).max() > 0
    assert sample.params["sign"] == expect


def test_mixed_sign_draws_both():
    points, normals = ellipsoid_points(n=2000)
    signs = {PNAS(sign="mixed")(points, normals, seed=s).params["sign"] for s in range(12)}
    assert signs == {-1.0, 1.0}


def test_paper_mode_tangent_gives_front_and_back_different_noise_pca_folds():
    points, normals = ellipsoid_points(n=1500, radii=(3.0, 2.0, 1.0), seed=3)
    points[:, 2] = np.abs(points[:, 2]) + 1e-3
    normals[:, 2] = np.abs(normals[:, 2])
    flip = np.array([1.0, 1.0, -1.0])
    pts, nrm = np.vstack([points, points * flip]), np.vstack([normals, normals * flip])
    n = len(points)
    folded = PNAS(mode="paper", projection="pca", scale=4.0)(pts, nrm, seed=1).soft_labels
    np.testing.assert_allclose(folded[:n], folded[n:], atol=1e-9)
    apart = PNAS(mode="paper", projection="tangent", scale=4.0)(pts, nrm, seed=1).soft_labels
    assert np.mean(np.abs(apart[:n] - apart[n:]) > 0.02) > 0.8


def test_paper_mode_field_is_min_max_normalized(flange):
    sample = PNAS(mode="paper", transfer="identity", resolution=128)(flange.points, flange.normals,
                                                                     seed=3)
    assert sample.soft_labels.min() < 0.1 and sample.soft_labels.max() > 0.9
    thr = PNAS(mode="paper", transfer="threshold", threshold=0.6)(flange.points, flange.normals,
                                                                  seed=3)
    assert np.mean(thr.soft_labels == 0) > np.mean(sample.soft_labels == 0)


def test_grid_projection_on_an_organized_scan():
    cloud = sample_cloud("plate", n_points=4000)
    grid = (cloud.grid_shape, cloud.grid_index)
    sample = PNAS(projection="grid")(cloud.points, seed=1, grid=grid)  # normals estimated
    assert abs(sample.anomalous_fraction - 0.03) < 0.0075
    assert np.all((sample.normals * -cloud.points).sum(axis=1) > 0)  # face the sensor
    with pytest.raises(InputError, match="organized"):
        PNAS(projection="grid")(cloud.points, cloud.normals, seed=1)


@pytest.mark.parametrize("kwargs,word", [
    (dict(scale=0), "scale"), (dict(octaves=0), "octaves"), (dict(persistence=-1), "persistence"),
    (dict(lacunarity=0), "lacunarity"), (dict(strength=-0.1), "strength"),
    (dict(fraction=0.9), "fraction"), (dict(fraction=0), "fraction"), (dict(mode="x"), "mode"),
    (dict(projection="uv"), "projection"), (dict(sign="up"), "sign"), (dict(falloff=0), "falloff"),
    (dict(resolution=1), "resolution"), (dict(threshold=1.0), "threshold"),
    (dict(normal_k=2), "normal_k"), (dict(units="mm"), "units"), (dict(octaves=True), "octaves"),
])
def test_invalid_parameters_raise_named_errors(kwargs, word):
    with pytest.raises(InputError, match=word):
        PNAS(**kwargs)


def test_bad_point_inputs_raise_named_errors(flange):
    synth = PNAS()
    bad = flange.points.copy()
    bad[5] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        synth(bad)
    bad[5] = [np.inf, 0, 0]
    with pytest.raises(InputError, match="non-finite"):
        synth(bad, flange.normals)
    with pytest.raises(InputError, match="fewer than the normal neighbourhood"):
        synth(flange.points[:10])
    with pytest.raises(InputError, match="collinear"):
        synth(np.outer(np.arange(100.0), [1, 1, 0]))
    with pytest.raises(InputError, match=r"shape \(N, 3\)"):
        synth(flange.points[:, :2])
    with pytest.raises(InputError, match="normals has 10 rows"):
        synth(flange.points, flange.normals[:10])
    with pytest.raises(InputError, match="center"):
        synth(flange.points, flange.normals, center=len(flange.points))
    with pytest.raises(InputError, match="seed"):
        synth(flange.points, flange.normals, seed=-1)
    with pytest.raises(InputError, match="fraction too large"):
        PNAS(fraction=0.5)(*ellipsoid_points(n=500)[:2], seed=0)


def test_carve_hole_drops_the_region_and_labels_its_rim():
    """carve_hole on a flat grid: the region is dropped, its rim is exactly the kept points closer
    than max(r / 2, 1.5 s) of it (slow reference), and the far side of a thin wall is never
    rim."""
    from pointad.synthesis.hole import carve_hole, rim_labels
    ij = np.stack(np.meshgrid(np.arange(30), np.arange(30), indexing="ij"), -1).reshape(-1, 2)
    top = np.c_[ij.astype(float), np.zeros(900)]
    bottom = top + [0, 0, -0.5]  # a thin wall's other face, facing away
    pts = np.vstack([top, bottom])
    nrm = np.vstack([np.tile([0, 0, 1.0], (900, 1)), np.tile([0, 0, -1.0], (900, 1))])
    center = 15 * 30 + 15
    region = np.zeros(1800, dtype=bool)
    region[:900] = np.linalg.norm(top - top[center], axis=1) <= 4.0
    keep, labels = carve_hole(pts, nrm, region, center)
    np.testing.assert_array_equal(keep, ~region)
    width = max(0.5 * 4.0, 1.5 * 1.0)  # r = 4, spacing 1
    removed = pts[region]
    slow = np.array([not region[i] and nrm[i, 2] > 0
                     and min(np.linalg.norm(removed - pts[i], axis=1)) < width
                     for i in range(1800)])
    np.testing.assert_array_equal(labels, region | slow)
    assert not labels[900:].any() and slow.sum() > 0
    assert not rim_labels(pts, nrm, np.zeros(1800, dtype=bool), 2.0, nrm[0]).any()
    keep, labels = carve_hole(pts, nrm, np.zeros(1800, dtype=bool), center)
    assert keep.all() and not labels.any()
