"""The point-feature detectors (btf, patchcore-ms, pnas-refiner) on the small synthetic benchmark.

Detector quality is checked against seeded regression values (EXPECTED below, tolerances and
their reasons in tests/regression.py). After an intended change of a detector, regenerate them
with one command and review the diff:

    .venv/bin/python tools/regression_values.py --write
"""
import numpy as np
import pytest

import pointad.detectors as detectors
from conftest import BENCH_CATEGORIES
from pointad.datasets import load_dataset
from pointad.metrics import auroc
from pointad.runner import category_metrics
from regression import check, evaluate_case  # tests/regression.py

# Settings for the small benchmark's 3000-point clouds (the defaults target ~20k points);
# align_points 1000: the registration's ICP on 1000 points, a third of the time of all of them
# (the consensus registration's turned starts are most of patchcore-ms's time here).
SMALL = {
    "patchcore-ms": dict(fpfh_ks=[10, 20, 40], n_groups=256, group_size=16, align_points=1000),
    "btf": dict(fpfh_k=40, n_groups=256, group_size=16, patch_grid=14),
}
CATEGORIES = BENCH_CATEGORIES
# "method/layout"; pnas-refiner/real3d is measured by test_pnas_refiner_against_its_memory_bank.
CASES = ["patchcore-ms/real3d", "patchcore-ms/mvtec3d", "btf/real3d", "btf/mvtec3d"]

# BEGIN regression values (regenerate: .venv/bin/python tools/regression_values.py --write)
EXPECTED = {  # case -> row ("mean" or a category) -> metric -> value
    "btf/mvtec3d": {"mean": {"I-AUROC": 0.75, "P-AUROC": 0.9884, "AUPRO": 0.8959}},
    "btf/real3d": {"mean": {"I-AUROC": 0.7812, "P-AUROC": 0.8939, "AUPRO": 0.6399}},
    "patchcore-ms/mvtec3d": {"mean": {"I-AUROC": 0.8438, "P-AUROC": 0.9642, "AUPRO": 0.8693}},
    "patchcore-ms/real3d": {"mean": {"I-AUROC": 0.9688, "P-AUROC": 0.9776, "AUPRO": 0.8077}},
    "pnas-refiner/real3d": {"mean": {"I-AUROC": 0.8438, "P-AUROC": 0.9172, "AUPRO": 0.7465}},
}
# END regression values


@pytest.fixture(scope="module")
def bench(small_bench):
    return small_bench


@pytest.mark.regression
@pytest.mark.parametrize("case", CASES)
def test_detectors_match_their_regression_values(bench, case):
    check(EXPECTED, case, evaluate_case(bench, case, SMALL))


@pytest.mark.parametrize("method", ["patchcore-ms", "btf"])
def test_save_load_and_organized_inputs(bench, method, tmp_path):
    train = list(load_dataset(bench / "mvtec3d", "bottle", "train"))
    det = detectors.create(method, **SMALL[method]).fit(train)
    sample = load_dataset(bench / "mvtec3d", "bottle", "test")[0]
    first = det.predict(sample)
    assert first.point_scores.shape == (len(sample.points),)
    assert np.isfinite(first.point_scores).all() and np.isfinite(first.score)
    loaded = detectors.load(det.save(tmp_path / method))
    again = loaded.predict(sample)
    np.testing.assert_allclose(again.point_scores, first.point_scores, rtol=1e-5, atol=1e-6)
    assert again.score == pytest.approx(first.score, rel=1e-5)
    # The same points without their pixel grid take the unorganized path and still score.
    plain = det.predict(sample.points)
    assert plain.point_scores.shape == first.point_scores.shape


def test_registry_lists_the_point_detectors():
    assert {"raw", "btf", "patchcore-ms"} <= set(detectors.available())
    with pytest.raises(ValueError, match="coreset_ratio"):
        detectors.create("btf", coreset_ratio=0)


def test_pnas_refiner_trains_on_synthetic_defects_and_round_trips(bench, tmp_path):
    params = dict(fpfh_ks=[10, 20], n_groups=64, group_size=16, n_synthetic=1, epochs=30)
    train = list(load_dataset(bench / "real3d", "bottle", "train"))
    det = detectors.create("pnas-refiner", **params).fit(train)
    from pointad.detectors.pnas_refiner import _WEIGHTS
    assert det.weight_ in _WEIGHTS
    assert float(det.scale_) > 0
    test = load_dataset(bench / "real3d", "bottle", "test")
    sample = next(s for s in test if s.label == 1)
    result = det.predict(sample)
    assert result.point_scores.shape == (len(sample.points),)
    assert np.isfinite(result.point_scores).all()
    loaded = detectors.load(det.save(tmp_path / "refiner"))
    np.testing.assert_allclose(loaded.predict(sample).point_scores, result.point_scores,
                               rtol=1e-5, atol=1e-6)
    # Same seed, same refiner: the synthetic defects and the training are deterministic.
    again = detectors.create("pnas-refiner", **params).fit(train)
    np.testing.assert_allclose(again.predict(sample).point_scores, result.point_scores,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.regression
def test_pnas_refiner_against_its_memory_bank(bench, monkeypatch):
    """What the refiner guarantees, exactly, and how it compares with its bank on the 360-degree
    layout, with a margin that float rounding on another CPU cannot use up.

    Guaranteed by construction (pnas_refiner's docstring): weight 0 of its grid is the plain
    bank, whose scores are patchcore-ms's divided by d_99 (the same ranking), and the weight it
    keeps has the best AUROC of the grid on held-out synthetic defects, so it is never below
    the bank's there. Not guaranteed: the benchmark's defects are not the synthetic ones, so
    the benchmark comparison has a margin (below)."""
    import pointad.detectors.pnas_refiner as refiner_module
    from pointad.detectors.pnas_refiner import _WEIGHTS

    held_out = []  # the held-out AUROC of each grid weight, in _WEIGHTS order, per fit

    def recording_auroc(labels, scores):
        held_out.append(auroc(labels, scores))
        return held_out[-1]

    monkeypatch.setattr(refiner_module, "auroc", recording_auroc)
    params = SMALL["patchcore-ms"]
    p_auroc = {w: [] for w in _WEIGHTS}
    rows = []
    for category in CATEGORIES:
        train = list(load_dataset(bench / "real3d", category, "train"))
        test = list(load_dataset(bench / "real3d", category, "test"))
        held_out.clear()
        det = detectors.create("pnas-refiner", **params).fit(train)
        chosen = det.weight_
        assert len(held_out) == len(_WEIGHTS)
        on_held_out = dict(zip(_WEIGHTS, held_out))
        best = max(held_out)
        from pointad.detectors.pnas_refiner import _MARGIN
        # A network vote is kept only when it beats the plain bank by the margin.
        assert chosen == (0.0 if best < on_held_out[0.0] + _MARGIN else
                          max(_WEIGHTS, key=lambda w: (on_held_out[w], -w))), on_held_out
        if category == CATEGORIES[0]:
            # Weight 0 is patchcore-ms itself, up to the scale d_99 (same bank, same seed;
            # without a registration residual patchcore-ms keeps the raw distances).
            # pnas-refiner refines the bank without partial views and residual (its defaults).
            bank = detectors.create("patchcore-ms", **params, partial_views=0,
                                    residual_weight=0.0).fit(train).predict(test[0])
            det.weight_ = 0.0
            plain = det.predict(test[0])
            scale = float(det.scale_)
            np.testing.assert_allclose(plain.point_scores * scale, bank.point_scores,
                                       rtol=1e-5, atol=1e-6 * scale)
            assert plain.score * scale == pytest.approx(bank.score, rel=1e-5)
        labels = np.concatenate([s.labels for s in test]).astype(bool)
        for w in _WEIGHTS:
            det.weight_ = w
            predictions = [det.predict(s) for s in test]
            p_auroc[w].append(auroc(labels, np.concatenate([p.point_scores for p in predictions])))
            if w == max(_WEIGHTS):
                rows.append({"category": category, **category_metrics(test, predictions)})
    # The benchmark: P-AUROC over every test point (per category ~24,000 points, ~450 of them
    # anomalous; mean of the 2 categories), at EVERY weight of the grid, so which weight the
    # held-out set picks (its AUROCs are close and could flip on another CPU) does not matter.
    # Margin 0.02. Measured (commit 9200941), refined minus bank at weights 0.1 and 0.25:
    # -0.005 to +0.016 over refiner seeds 0-5 (other synthetic defects, initialisation and
    # training: a far larger change than rounding), -0.009 to +0.021 on benchmarks built with
    # seeds 1-3 (other scans and defects, other banks). 1 or 2 torch threads: within 0.001.
    # The margin still fails an inverted network (1 - p: -0.070 at weight 0.25); a network
    # voting at random passes (-0.005): this checks "not worse", not "better".
    # The I-AUROC is not compared: on 4 + 4 clouds per category it moves in steps of 1/16, over
    # refiner seeds 0-5 it ranges 0.75-1.0 on bottle against the bank's 1.0 (the other
    # machine: 0.844 against 0.906 for the mean), and nothing in the method promises it.
    bank_p = np.mean(p_auroc[0.0])
    for w in _WEIGHTS:
        assert np.mean(p_auroc[w]) >= bank_p - 0.02, (w, p_auroc)
    # Regression values at the grid's largest weight (the network's full vote), not at the
    # chosen one: on this benchmark the mean AUPRO at weight 0 and at 0.25 differs by 0.05, more
    # than the tolerance, and the held-out choice may differ on another CPU.
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("I-AUROC", "P-AUROC", "AUPRO")}
    check(EXPECTED, "pnas-refiner/real3d", {"categories": rows, "mean": mean})


def test_pnas_refiner_inputs_hold_distance_context_asymmetry_and_residual():
    """Network inputs per group: bank distance, mean/max/min distance of the context-1 nearest
    other groups, the group's asymmetry, residual to the nearest bank feature (checked against a
    slow reference)."""
    import torch

    from pointad.detectors.patchcore_ms import Groups
    rng = np.random.default_rng(0)
    det = detectors.create("pnas-refiner", context=4, device="cpu")
    points = torch.as_tensor(rng.normal(size=(200, 3)))
    members = torch.as_tensor(rng.integers(0, 200, size=(30, 6)))
    members[:, 0] = torch.as_tensor(rng.choice(200, 30, replace=False))  # distinct centres
    centres = points[members[:, 0]]
    feats = torch.as_tensor(rng.normal(size=(30, 5)), dtype=torch.float32)
    bank = torch.as_tensor(rng.normal(size=(12, 5)), dtype=torch.float32)
    d, x = det._inputs(Groups(points, centres, feats, members), bank)
    all_d = torch.cdist(feats.double(), bank.double())
    ref_d, nearest = all_d.min(dim=1)
    np.testing.assert_allclose(d.numpy(), ref_d.numpy(), rtol=1e-5)
    gap = torch.cdist(centres, centres)
    for i in range(30):
        around = ref_d[torch.argsort(gap[i])[1:4]].numpy()
        np.testing.assert_allclose(x[i, 1:4].numpy(), [around.mean(), around.max(), around.min()],
                                   rtol=1e-5)
        group = points[members[i]].numpy()
        offsets = group - centres[i].numpy()
        radius = np.mean([np.linalg.norm(o) for o in offsets])
        np.testing.assert_allclose(x[i, 4].item(), np.linalg.norm(offsets.mean(0)) / radius,
                                   rtol=1e-5)
        np.testing.assert_allclose(x[i, 5:].numpy(), (feats[i] - bank[nearest[i]]).numpy(),
                                   atol=1e-6)


def test_pnas_refiner_synthetic_holes_remove_points_and_label_their_rim():
    """hole_rate=1: every synthetic defect drops points (the grid index follows them) and its
    labels are the kept points on the rim; hole_rate=0: PNAS displacements only."""
    from pointad.io import CloudInput
    rng = np.random.default_rng(3)
    ij = np.stack(np.meshgrid(np.arange(40), np.arange(40), indexing="ij"), -1).reshape(-1, 2)
    pts = np.c_[ij * 0.5, 20 + 0.02 * np.sin(ij[:, 0])]
    cloud = CloudInput(pts, (40, 40), np.arange(1600))
    holes = detectors.create("pnas-refiner", hole_rate=1.0, device="cpu")
    for _ in range(3):
        defective, labels = holes._synthetic(cloud, rng)
        assert len(defective.points) < len(pts) and len(labels) == len(defective.points)
        assert labels.any() and not labels.all()
        kept = {tuple(p) for p in np.round(defective.points, 9)}
        assert kept <= {tuple(p) for p in np.round(pts, 9)}
        np.testing.assert_array_equal(pts[defective.grid_index], defective.points)
    displace = detectors.create("pnas-refiner", hole_rate=0.0, device="cpu")
    defective, labels = displace._synthetic(cloud, rng)
    assert len(defective.points) == len(pts) and labels.any()


def _sphere(n, seed, radius=10.0):
    """n points on a sphere (a closed surface the alignment cannot slide along)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return radius * v * np.array([1.0, 0.8, 0.6])


def test_patchcore_ms_spacing_units_make_scores_invariant_to_scale():
    """FPFH radii in training spacings: the same clouds scaled by 10 give the same point scores
    (up to rounding; with the outlier filter on, a few points near its threshold moved by up
    to 3 %, not investigated). The partial views are off: the cuts are the same at both scales,
    but their extra features make it likely that a rounding difference moves one FPFH angle
    across a bin edge somewhere, which changes the bank (an inherent FPFH discretization)."""
    train = [_sphere(1500, s) for s in range(2)]
    test = _sphere(1500, 7)
    params = dict(fpfh_ks=[10, 20], n_groups=64, group_size=16, top_k=10, radius_scale=0.6,
                  partial_views=0, residual_weight=0.0, device="cpu")
    small = detectors.create("patchcore-ms", **params).fit(train)
    large = detectors.create("patchcore-ms", **params).fit([10 * t for t in train])
    assert large.spacing_ == pytest.approx(10 * small.spacing_, rel=1e-9)
    a, b = small.predict(test), large.predict(10 * test)
    np.testing.assert_allclose(b.point_scores, a.point_scores, rtol=1e-3, atol=1e-6)
    assert b.score == pytest.approx(a.score, rel=1e-3)


def test_patchcore_ms_residual_is_zero_on_a_template_and_grows_with_a_bump():
    """The registration residual (in training spacings): ~0 on a training cloud, and at a bump
    of 4 spacings about 4, whatever the pose the test cloud comes in."""
    from pointad.geometry.rotations import rotation_about
    train = [_sphere(3000, s) for s in range(2)]
    det = detectors.create("patchcore-ms", fpfh_ks=[10, 20], n_groups=64, group_size=16,
                           radius_scale=0.6, residual_weight=1.0, partial_views=0,
                           device="cpu").fit(train)
    assert det.residual_scale_ > 0 and det.bank_scale_ > 0
    np.testing.assert_allclose(det._residual(train[0])[0], 0.0, atol=1e-6)
    bumped = train[0].copy()
    top = np.argsort(bumped[:, 2])[-40:]  # a cap around the +z pole, pushed outwards
    bumped[top] += 4 * det.spacing_ * bumped[top] / np.linalg.norm(bumped[top], axis=1)[:, None]
    turned = bumped @ rotation_about(np.array([1.0, 1.0, 0.0]), np.deg2rad(20)).T + 0.5
    residual = det._residual(turned)[0]
    assert np.median(residual[top]) > 3.0
    assert np.median(np.delete(residual, top)) < 0.3
    # The bump also raises the scores there: the top point scores sit on it.
    scores = det.predict(turned).point_scores
    assert np.isin(np.argsort(scores)[-20:], top).mean() > 0.8


def test_patchcore_ms_leaves_isolated_outliers_out():
    train = [_sphere(2000, s) for s in range(2)]
    det = detectors.create("patchcore-ms", fpfh_ks=[10, 20], n_groups=64, group_size=16,
                           outlier_spacings=3.0, device="cpu").fit(train)
    test = _sphere(2000, 5)
    out = test[:5] / np.linalg.norm(test[:5], axis=1)[:, None]
    stray = test[:5] + 8 * det.spacing_ * out  # 8 spacings off the surface
    keep = det._inliers(np.r_[test, stray])
    assert keep[:2000].mean() > 0.9 and not keep[2000:].any()  # random sampling: a few sparse
    with pytest.raises(ValueError, match="radius_scale"):
        detectors.create("patchcore-ms", radius_scale=-1)


def test_pnas_refiner_switches_a_useless_network_off(bench):
    """A network that learned nothing (one step at a negligible learning rate: its initial
    random function) must not get a vote: the held-out guard keeps weight 0."""
    params = dict(fpfh_ks=[10, 20], n_groups=64, group_size=16, n_synthetic=1, epochs=1,
                  lr=1e-12)
    for category in CATEGORIES:
        train = list(load_dataset(bench / "real3d", category, "train"))
        det = detectors.create("pnas-refiner", **params).fit(train)
        assert det.weight_ == 0.0, det.held_out_


@pytest.mark.parametrize("method", ["patchcore-ms", "btf"])
def test_partial_views_in_the_bank_make_a_one_sided_scan_of_a_thin_part_normal(method):
    """The thin-part failure of memory banks: complete training scans of a slab 1 mm thick have
    both faces in every neighbourhood, a scan from above has one, so every point of a good
    partial scan is far from the bank. Single-view cuts of the training clouds in the bank
    bring the good partial scan back to the scores of a good complete one."""
    import trimesh

    mesh = trimesh.creation.box(extents=(40.0, 30.0, 1.0))

    def scan(seed):
        return np.asarray(trimesh.sample.sample_surface(mesh, 4000, seed=seed)[0])

    train, full, part = [scan(0), scan(1)], scan(2), scan(3)
    part = part[part[:, 2] > 0.25]  # what a sensor above sees

    def inner(p):
        return (np.abs(p[:, 0]) < 15) & (np.abs(p[:, 1]) < 10) & (p[:, 2] > 0.25)

    kw = (dict(fpfh_ks=[10, 20], top_k=10, residual_weight=0.0) if method == "patchcore-ms"
          else dict(fpfh_k=20, normal_k=10))
    ratios = {}
    for views in (0, 4):
        det = detectors.create(method, n_groups=128, group_size=16, partial_views=views,
                               device="cpu", **kw).fit(train)
        ratios[views] = (det.predict(part).point_scores[inner(part)].mean()
                         / det.predict(full).point_scores[inner(full)].mean())
    assert ratios[0] > 3.0 and ratios[4] < 0.5


@pytest.mark.parametrize("method", ["raw", "patchcore-ms"])
def test_holes_light_up_the_rim_of_missing_surface_not_an_unseen_side(method):
    """A partial scan (one half of the part seen) with a hole: the hole's rim keeps the
    surface's shape and its distance to the templates, so only ``holes`` (the missing surface
    of the aligned templates, pointad.geometry.coverage) scores it; the unseen half, a large
    uncovered region, scores nothing, and points away from the hole keep their scores. The
    object score is the one without ``holes`` (a false hole on a good partial scan must not
    decide the object)."""
    from pointad.geometry import point_spacing
    from pointad.geometry.rotations import rotation_about
    train = [_sphere(3000, s) for s in range(2)]
    scan = _sphere(3000, 7)
    spacing = point_spacing(train[0])
    pole = np.array([0.0, 0.0, 6.0])
    from_pole = np.linalg.norm(scan - pole, axis=1)
    radius = 8 * spacing  # 1.5 % of the points: the realistic preset's holes are 0.5-5 %
    scan = scan[(from_pole > radius) & (scan[:, 0] > -3.0)]   # the hole and the unseen side
    from_pole = np.linalg.norm(scan - pole, axis=1)
    rim, away = from_pole < radius + 1.5 * spacing, from_pole > radius + 8 * spacing
    turned = scan @ rotation_about(np.array([1.0, 1.0, 0.0]) / np.sqrt(2), np.deg2rad(15)).T
    params = dict(align_points=1500) if method == "raw" else dict(
        fpfh_ks=[10, 20], n_groups=64, group_size=16, radius_scale=0.6, partial_views=0,
        device="cpu")
    scores, objects = {}, {}
    for holes in (True, False):
        det = detectors.create(method, holes=holes, **params).fit(train)
        result = det.predict(turned)
        objects[holes] = result.score
        scores[holes] = (result.point_scores if method == "raw"
                         else det._residual(turned)[1])
    assert objects[True] == objects[False]
    unit = spacing if method == "raw" else 1.0  # raw in cloud units, the residual in spacings
    assert np.median(scores[True][rim]) > 4.0 * unit
    assert np.median(scores[False][rim]) < 1.5 * unit
    # The unseen side's edge included: (almost) nothing changes away from the hole.
    assert np.mean(scores[True][away] == scores[False][away]) > 0.99
    assert auroc(rim, scores[True]) > auroc(rim, scores[False]) + 0.2
