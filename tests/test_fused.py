"""``fused``: a point detector and a depth detector on one scale calibrated on held-out normal
clouds (issue 14). The cheap ``raw`` distance stands in for the point family and a small
``uniad`` for the depth family, so the tests stay fast; what is checked is the calibration, the
mix, the state and the errors."""
import numpy as np
import pytest

import pointad.detectors as detectors
from pointad.errors import InputError
from pointad.io import as_cloud_input
from pointad.metrics import auroc
from pointad.samples import sample_cloud

RAW = dict(align_points=400, icp_iterations=5)
UNIAD = dict(size=32, stride=8, arch="small", epochs=2, batch_size=4, views=1, progress=False,
             device="cpu")
N = 1500

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def fused(**kw):
    return detectors.create("fused", **{"point": "raw", "depth": "uniad", "point_params": RAW,
                                        "depth_params": UNIAD, **kw})


@pytest.fixture(scope="module")
def clouds():
    train = [sample_cloud("box", N, seed=s).points for s in (1, 2, 3)]
    return train, sample_cloud("box", N, seed=4).points


@pytest.fixture(scope="module")
def kept(clouds):
    """A fused detector that keeps its calibration fits (refit=False) and learns its weight
    on synthetic defects (weight="auto")."""
    return fused(refit=False, calibration_views=2, weight="auto").fit(clouds[0])


def test_held_out_normal_scores_are_centred_at_zero_with_the_quantile_at_one(kept, clouds):
    held = kept._calibration_clouds([as_cloud_input(clouds[0][-1])])
    assert len(held) == 3  # the held-out cloud whole and two single-view cuts
    assert all(len(c.points) < N for c in held[1:])
    for part in ("point", "depth"):
        pooled = np.concatenate([kept.normalised(c)[part][0] for c in held])
        assert np.median(pooled) == pytest.approx(0.0, abs=1e-9)
        assert np.quantile(pooled, kept.quantile) == pytest.approx(1.0, abs=1e-9)


def test_the_mix_is_the_weighted_sum_of_the_normalised_scores(kept, clouds):
    test = clouds[1]
    parts = kept.normalised(test)
    pred = kept.predict(test)
    w = kept.weight_
    assert 0 <= w <= 1 and w in np.round(np.linspace(0, 1, 11), 10)
    mix = w * parts["point"][0] + (1 - w) * parts["depth"][0]
    np.testing.assert_allclose(pred.point_scores, mix)
    v = kept.object_weight_
    assert 0 <= v <= 1 and v in np.round(np.linspace(0, 1, 11), 10)
    assert pred.score == pytest.approx(v * parts["point"][1] + (1 - v) * parts["depth"][1])
    # Each part's normalised scores are an increasing affine map of its own scores.
    raw = kept.parts_["point"].predict(test)
    level, spread = kept.level_["point"], kept.spread_["point"]
    assert spread > 0
    np.testing.assert_allclose(parts["point"][0], (raw.point_scores - level) / spread)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_weight_zero_or_one_ranks_as_one_part(clouds, weight):
    """A defect's per-point ranking under weight 1 (0) is the point (depth) detector's own."""
    from pointad.synthesis import PNAS

    sample = PNAS(fraction=0.05, strength=0.05)(clouds[1], seed=2)
    det = fused(weight=weight, refit=False, calibration_views=0).fit(clouds[0])
    part = det.parts_["point" if weight == 1 else "depth"]
    mine = auroc(sample.labels, det.predict(sample.points).point_scores)
    assert mine == pytest.approx(auroc(sample.labels, part.predict(sample.points).point_scores))


def test_refit_fits_the_parts_on_every_training_cloud(clouds, kept):
    refitted = fused(calibration_views=2, refit=True, splits=1, weight="auto").fit(clouds[0])
    assert refitted.level_ == kept.level_ and refitted.spread_ == kept.spread_
    assert refitted.weight_ == kept.weight_
    assert len(refitted.parts_["point"].templates_) == 3
    assert len(kept.parts_["point"].templates_) == 2


def test_cross_fitting_pools_the_scale_of_every_held_out_cloud(clouds):
    """With a refit, each training cloud (up to ``splits``) is held out once, the parts fitted
    on the other two score it (whole and cut), and the scale is that of all their scores
    pooled."""
    train = [as_cloud_input(c) for c in clouds[0]]
    det = fused(calibration_views=1, weight=0.5, refit=True).fit(clouds[0])
    assert det._held_out(3, True) == [[2], [1], [0]]
    assert det._held_out(3, False) == [[2]]
    assert fused(splits=2)._held_out(3, True) == [[2], [1]]
    assert fused(holdout=2)._held_out(5, True) == [[3, 4], [1, 2]]
    assert len(fused()._held_out(32, True)) == 4                    # a unified run's clouds
    assert len(fused(splits="all")._held_out(32, True)) == 32
    for part in ("point", "depth"):
        pooled = []
        for s, i in enumerate((2, 1, 0)):
            fit = det._new(part).fit([c for j, c in enumerate(train) if j != i])
            pooled += [fit.predict(c).point_scores
                       for c in det._calibration_clouds([train[i]], first=s)]
        pooled = np.concatenate(pooled)
        level = np.median(pooled)
        assert det.level_[part] == pytest.approx(level)
        assert det.spread_[part] == pytest.approx(np.quantile(pooled, det.quantile) - level)
    assert len(det.parts_["point"].templates_) == 3
    one = fused(calibration_views=1, weight=0.5, refit=True, splits=1).fit(clouds[0])
    assert one.level_ != det.level_


def test_auto_refit_keeps_a_one_cloud_calibration_fit(clouds):
    """refit="auto" refits only when the calibration fits had two clouds or more: a one-cloud
    patchcore-ms has no leave-one-out scale, so its held-out scale would not fit a refit."""
    train = clouds[0]
    two = fused(calibration_views=0, weight=0.5).fit(train[:2])
    assert len(two.parts_["point"].templates_) == 1
    three = fused(calibration_views=0, weight=0.5).fit(train)
    assert len(three.parts_["point"].templates_) == 3
    with pytest.raises(InputError, match="refit"):
        fused(refit="sometimes")


def test_save_load_keeps_both_parts_and_the_scale(kept, clouds, tmp_path):
    loaded = detectors.load(kept.save(tmp_path / "f.npz"))
    assert loaded.level_ == kept.level_ and loaded.spread_ == kept.spread_
    assert loaded.weight_ == kept.weight_ and loaded.object_weight_ == kept.object_weight_
    # A detector saved before object weights existed mixed its object scores as its points.
    state = {k: v for k, v in kept._get_state().items() if k != "object_weight"}
    old = type(kept).from_state(kept.get_params(), state)
    assert old.object_weight_ == kept.weight_
    a, b = kept.predict(clouds[1]), loaded.predict(clouds[1])
    assert np.array_equal(a.point_scores, b.point_scores) and a.score == b.score
    assert loaded.parts_["depth"].get_params() == kept.parts_["depth"].get_params()


def test_auto_object_weight_follows_the_part_that_ranks_the_defective_copies():
    """Object scores: the part whose scores put the synthetic copies above the normal held-out
    clouds gets the weight (ties: nearest the point weight), also when the point weight is
    fixed; a fixed object weight is kept, "point" is the point weight."""
    rng = np.random.default_rng(1)
    normal, copies = rng.normal(size=12), rng.normal(size=16) + 3.0
    det = fused()
    det.weight_ = 0.5
    objects = {"point": (normal, copies), "depth": (rng.normal(size=12), rng.normal(size=16))}
    chosen = det._choose_object_weight(objects)
    y = np.r_[np.zeros(12), np.ones(16)]
    mixed = {w: auroc(y, np.r_[w * normal + (1 - w) * objects["depth"][0],
                              w * copies + (1 - w) * objects["depth"][1]])
             for w in np.round(np.linspace(0, 1, 11), 10)}
    best = max(mixed.values())
    assert chosen >= 0.7 and mixed[chosen] == best > 0.95
    assert min(w for w, v in mixed.items() if v == best) == chosen   # the best nearest 0.5
    flipped = {"point": objects["depth"], "depth": objects["point"]}
    assert det._choose_object_weight(flipped) == pytest.approx(1 - chosen)
    both = {"point": (normal, copies), "depth": (normal, copies)}
    assert det._choose_object_weight(both) == 0.5        # every weight ties: the point weight's
    assert fused(object_weight=0.3)._choose_object_weight(objects) == 0.3
    same = fused(object_weight="point")
    same.weight_ = 0.1
    assert same._choose_object_weight(objects) == 0.1
    fixed = fused(weight=0.2)   # a fixed point weight: "auto" still chooses on the copies
    fixed.weight_ = 0.2
    assert fixed._choose_object_weight(objects) == chosen
    assert fixed._choose_object_weight(both) == 0.2       # ties: the point weight's
    assert det._choose_object_weight({p: (n, c[:0]) for p, (n, c) in objects.items()}) == 0.5


def test_auto_weight_follows_the_part_that_finds_the_synthetic_defects():
    rng = np.random.default_rng(0)
    labels = [rng.random(500) < 0.05 for _ in range(3)]
    good = [y + 0.3 * rng.normal(size=y.shape) for y in labels]
    noise = [rng.normal(size=y.shape) for y in labels]
    det = fused(weight="auto")
    assert det._choose_weight({"point": good, "depth": noise}, labels) == 1.0
    assert det._choose_weight({"point": noise, "depth": good}, labels) == 0.0
    assert det._choose_weight({"point": good, "depth": good}, labels) == 0.5  # tie: nearest 0.5
    assert det._choose_weight({"point": good, "depth": noise}, []) == 0.5    # nothing to learn
    assert fused(weight=0.3)._choose_weight({"point": good, "depth": noise}, labels) == 0.3
    assert fused()._choose_weight({"point": good, "depth": noise}, labels) == 0.5  # the default


def test_synthetic_copies_hold_the_asked_kinds_and_are_labelled(clouds):
    held = [as_cloud_input(clouds[0][-1])]
    holes = fused(defects="hole", n_synthetic=4)._synthetic(held)
    assert len(holes) == 4
    assert all(len(c.points) < N and 0 < y.sum() < len(y) for c, y in holes)  # points removed
    assert any(len(c.points) < 0.8 * N for c, _ in holes[1::2])               # single-view cuts
    bumps = fused(defects="bulge,dent", n_synthetic=2)._synthetic(held)
    assert len(bumps[0][0].points) == N and all(y.any() for _, y in bumps)
    again = fused(defects="hole", n_synthetic=4)._synthetic(held)
    assert all(np.array_equal(a[0].points, b[0].points) for a, b in zip(holes, again))  # seeded


def test_synthetic_copies_of_an_organized_scan_keep_its_pixel_grid():
    from pointad.samples import sample_cloud

    plate = as_cloud_input(sample_cloud("plate", seed=0))
    assert plate.organized
    copies = fused(defects="hole,bulge", n_synthetic=2)._synthetic([plate])
    assert copies
    for copy, labels in copies:
        assert copy.grid_shape == plate.grid_shape and len(copy.grid_index) == len(copy.points)
        # every kept point sits on its own pixel: the same pixel as in the scan
        where = {int(g): i for i, g in enumerate(plate.grid_index)}
        rows = [where[int(g)] for g in copy.grid_index]
        moved = np.linalg.norm(copy.points - plate.points[rows], axis=1)
        assert np.all(moved[~labels] < 1e-9) and labels.any()
    with pytest.raises(InputError, match="no defect kind left"):
        fused(defects="hole", exclude="hole")


def test_the_default_parts_are_patchcore_ms_and_hetnet_at_their_defaults():
    """The depth part defaults to HetNet (the best depth method on the realistic preset,
    docs/depth-methods.md, "fused takes HetNet as its depth part"), built with HetNet's own
    defaults."""
    det = detectors.create("fused")
    point, depth = det._new("point"), det._new("depth")
    assert (point.name, depth.name) == ("patchcore-ms", "hetnet")
    defaults = detectors.create("hetnet").get_params()
    assert depth.get_params() == defaults and depth.partial_views == 4


def test_the_seed_reaches_the_parts_unless_they_set_their_own():
    det = fused(seed=7)
    assert det._new("depth").seed == 7
    assert fused(seed=7, depth_params={**UNIAD, "seed": 3})._new("depth").seed == 3


@pytest.mark.parametrize("params, match", [
    ({"point": "no-such"}, "no-such"),
    ({"depth": "fused"}, "itself"),
    ({"point": 3}, "point"),
    ({"depth_params": {"views": 4}}, "views"),
    ({"depth_params": {"no_such_parameter": 1}}, "no_such_parameter"),
    ({"point_params": [1, 2]}, "point_params"),
    ({"point_params": {"x": object()}}, "point_params"),
    ({"weight": 1.5}, "weight"),
    ({"weight": "best"}, "weight"),
    ({"object_weight": -0.1}, "object_weight"),
    ({"defects": "no_such_kind"}, "no_such_kind"),
    ({"n_synthetic": 0}, "n_synthetic"),
    ({"holdout": 0}, "holdout"),
    ({"splits": 0}, "splits"),
    ({"splits": "some"}, "splits"),
    ({"quantile": 1.0}, "quantile"),
    ({"calibration_views": -1}, "calibration_views"),
])
def test_bad_parameters_are_input_errors(params, match):
    with pytest.raises(InputError, match=match):
        fused(**params)


def test_too_few_training_clouds_for_the_holdout(clouds):
    with pytest.raises(InputError, match="holdout"):
        fused(holdout=3).fit(clouds[0])


def test_pnas_eval_runs_fused_with_json_part_parameters(tmp_path, capsys):
    import json

    from conftest import write_tiny_real3d
    from pointad.cli import main

    data = write_tiny_real3d(tmp_path / "real3d", n_points=600, n_good=2, n_bad=2,
                             fraction=0.05, categories=("box",))
    code = main(["eval", "-m", "fused", "-d", str(data), "-o", str(tmp_path / "out"), "-q",
                 "-p", "point=raw", "-p", f"point_params={json.dumps(RAW)}",
                 "-p", "depth=uniad", "-p", f"depth_params={json.dumps(UNIAD)}", "-p", "weight=0.5",
                 "-p", "calibration_views=0"])
    err = capsys.readouterr().err
    assert code == 0, err
    results = json.loads((tmp_path / "out" / "fused_real3d.json").read_text())
    assert results["params"]["point_params"] == RAW and results["params"]["weight"] == 0.5
    assert results["categories"][0]["P-AUROC"] is not None
    # What the fit chose is recorded with the category's notes.
    assert "fused: point weight 0.5 (fixed)" in results["notes"]["box"]


def test_pnas_eval_takes_the_calibration_settings(tmp_path, capsys):
    """splits and object_weight from the command line: recorded with the result, and the
    fixed object weight named in the category's notes."""
    import json

    from conftest import write_tiny_real3d
    from pointad.cli import main

    data = write_tiny_real3d(tmp_path / "real3d", n_points=600, n_good=2, n_bad=2,
                             fraction=0.05, categories=("box",))
    code = main(["eval", "-m", "fused", "-d", str(data), "-o", str(tmp_path / "out"), "-q",
                 "-p", "point=raw", "-p", f"point_params={json.dumps(RAW)}",
                 "-p", "depth=uniad", "-p", f"depth_params={json.dumps(UNIAD)}", "-p", "weight=0.5",
                 "-p", "object_weight=0.3", "-p", "splits=all", "-p", "calibration_views=0"])
    err = capsys.readouterr().err
    assert code == 0, err
    results = json.loads((tmp_path / "out" / "fused_real3d.json").read_text())
    assert results["params"]["object_weight"] == 0.3 and results["params"]["splits"] == "all"
    assert results["notes"]["box"] == ["fused: point weight 0.5 (fixed)",
                                       "fused: object weight 0.3 (fixed)"]


def test_pnas_eval_runs_fused_with_its_default_depth_part(tmp_path, capsys):
    """`pnas eval -m fused` without `depth`: HetNet (with its partial cuts) is fitted, scores
    every test cloud and is recorded as the depth part."""
    import json

    from conftest import write_tiny_real3d
    from pointad.cli import main

    data = write_tiny_real3d(tmp_path / "real3d", n_points=600, n_good=2, n_bad=2,
                             fraction=0.05, categories=("box",))
    hetnet = dict(size=32, arch="small", epochs=2, batch_size=4, views=1, progress=False,
                  device="cpu")
    code = main(["eval", "-m", "fused", "-d", str(data), "-o", str(tmp_path / "out"), "-q",
                 "-p", "point=raw", "-p", f"point_params={json.dumps(RAW)}",
                 "-p", f"depth_params={json.dumps(hetnet)}", "-p", "calibration_views=0"])
    err = capsys.readouterr().err
    assert code == 0, err
    results = json.loads((tmp_path / "out" / "fused_real3d.json").read_text())
    assert results["params"]["depth"] == "hetnet"
    category = results["categories"][0]
    assert category["n_test"] == 4 and category["P-AUROC"] is not None
