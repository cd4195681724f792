"""The point-feature detectors (btf, patchcore-ms) on the small synthetic benchmark."""
import numpy as np
import pytest

import pointad.detectors as detectors
from pointad.datasets import load_dataset
from pointad.runner import evaluate

# Settings for the small benchmark's 3000-point clouds (the defaults target ~20k points).
SMALL = {
    "patchcore-ms": dict(fpfh_ks=[10, 20, 40], n_groups=256, group_size=16),
    "btf": dict(fpfh_k=40, n_groups=256, group_size=16, patch_grid=14),
}
CATEGORIES = ["bottle", "pipe_elbow"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from pointad.synthbench import make_benchmark
    out = tmp_path_factory.mktemp("bench") / "sb"
    make_benchmark(out, size="small", seed=0, categories=CATEGORIES, progress=False)
    return out


@pytest.mark.parametrize("method,layout", [("patchcore-ms", "real3d"), ("patchcore-ms", "mvtec3d"),
                                           ("btf", "real3d"), ("btf", "mvtec3d")])
def test_detectors_score_clearly_above_chance(bench, method, layout):
    results = evaluate(method, bench / layout, params=SMALL[method], progress=False)
    mean = results["mean"]
    assert mean["P-AUROC"] > 0.7, results["categories"]
    assert mean["I-AUROC"] > 0.7, results["categories"]


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


def test_pnas_refiner_is_not_worse_than_its_memory_bank(bench):
    """On the 360-degree layout the refiner keeps the bank's point AUROC and does not lose objects.
    (On the single-view layout it is still about equal, not better: see the issue notes.)"""
    base = evaluate("patchcore-ms", bench / "real3d", params=SMALL["patchcore-ms"],
                    progress=False)["mean"]
    refined = evaluate("pnas-refiner", bench / "real3d", params=SMALL["patchcore-ms"],
                       progress=False)["mean"]
    assert refined["P-AUROC"] >= base["P-AUROC"] - 0.005
    assert refined["I-AUROC"] >= base["I-AUROC"]


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
