"""The 2D methods on depth renders (uniad, onenip, pbas) on the small synthetic benchmark, and
the runner's unified mode (one detector for all categories).

Detector quality is checked against seeded regression values (EXPECTED below, tolerances and
their reasons in tests/regression.py; training is seeded: initialisation, batches, synthetic
defects). After an intended change of a detector, regenerate them with one command and review
the diff:

    .venv/bin/python tools/regression_values.py --write
"""
import json

import numpy as np
import pytest
import torch

import pointad.detectors as detectors
from conftest import BENCH_CATEGORIES
from pointad.cli import main
from pointad.datasets import load_dataset
from pointad.detectors.onenip import pixel_masks
from pointad.errors import InputError
from pointad.io import as_cloud_input
from pointad.render import render
from pointad.runner import evaluate
from regression import check, evaluate_case  # tests/regression.py

# CPU-test settings: 64 px renders, 8 x 8 token grids, narrow networks, few epochs, 3 views.
SMALL = {
    "uniad": dict(size=64, stride=8, arch="small", epochs=40, lr=1e-3, batch_size=4, views=3),
    "pbas": dict(size=64, arch="small", epochs=200, lr=1e-4, batch_size=4, views=3),
    "onenip": dict(size=64, stride=8, arch="small", epochs=40, lr=1e-3, batch_size=4, views=3,
                   n_synthetic=2),
}
CATEGORIES = BENCH_CATEGORIES
# "method/layout", and "uniad/mvtec3d/unified" (test_unified_mode_fits_one_model_...).
CASES = [f"{m}/{layout}" for m in ("uniad", "pbas", "onenip") for layout in ("mvtec3d", "real3d")]

# BEGIN regression values (regenerate: .venv/bin/python tools/regression_values.py --write)
EXPECTED = {  # case -> row ("mean" or a category) -> metric -> value
    "onenip/mvtec3d": {"mean": {"I-AUROC": 0.8125, "P-AUROC": 0.9564, "AUPRO": 0.7705}},
    "onenip/real3d": {"mean": {"I-AUROC": 0.9375, "P-AUROC": 0.8444, "AUPRO": 0.608}},
    "pbas/mvtec3d": {"mean": {"I-AUROC": 0.8125, "P-AUROC": 0.883, "AUPRO": 0.6992}},
    "pbas/real3d": {"mean": {"I-AUROC": 0.7188, "P-AUROC": 0.8114, "AUPRO": 0.4777}},
    "uniad/mvtec3d": {"mean": {"I-AUROC": 0.7812, "P-AUROC": 0.9528, "AUPRO": 0.7763}},
    "uniad/mvtec3d/unified": {"mean": {"I-AUROC": 0.75, "P-AUROC": 0.9537, "AUPRO": 0.7725}},
    "uniad/real3d": {"mean": {"I-AUROC": 0.7812, "P-AUROC": 0.8105, "AUPRO": 0.5925}},
}
# END regression values


# Small tensors: one thread avoids contention on shared CI cores.
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def bench(small_bench):
    return small_bench  # built once per test process (tests/conftest.py)


@pytest.mark.regression
@pytest.mark.parametrize("case", CASES)
def test_depth_methods_match_their_regression_values(bench, case):
    results = evaluate_case(bench, case, SMALL)
    assert results["mode"] == "per-category"
    check(EXPECTED, case, results)


@pytest.mark.regression
def test_unified_mode_fits_one_model_for_all_categories(bench, monkeypatch):
    from pointad.detectors.uniad import UniAD
    fits = []
    original = UniAD._fit

    def counting_fit(self, clouds):
        fits.append(len(clouds))
        return original(self, clouds)

    monkeypatch.setattr(UniAD, "_fit", counting_fit)
    results = evaluate("uniad", bench / "mvtec3d", params=SMALL["uniad"], unified=True,
                       progress=False)
    assert fits == [4]  # one fit on both categories' 2 training clouds
    assert results["mode"] == "unified"
    rows = results["categories"]
    assert [r["category"] for r in rows] == CATEGORIES
    assert [r["n_train"] for r in rows] == [2, 2] and all(r["n_test"] == 8 for r in rows)
    assert all(r["fit_s"] == results["fit_s"] for r in rows)
    check(EXPECTED, "uniad/mvtec3d/unified", results)
    # Per-category mode: one fit per category, on that category's clouds only.
    fits.clear()
    per = evaluate("uniad", bench / "mvtec3d", params={**SMALL["uniad"], "epochs": 1},
                   progress=False)
    assert fits == [2, 2] and per["mode"] == "per-category"
    assert per["fit_s"] == pytest.approx(sum(r["fit_s"] for r in per["categories"]))


def test_eval_cli_unified_flag_writes_its_own_files(bench, tmp_path, capsys):
    params = ["-p", "size=64", "-p", "arch=\"small\"", "-p", "epochs=2", "-p", "views=1"]
    code = main(["eval", "-m", "pbas", "-d", str(bench / "real3d"), "--unified", "-q",
                 "-o", str(tmp_path), *params])
    out = capsys.readouterr().out
    assert code == 0 and "unified" in out
    data = json.loads((tmp_path / "pbas_real3d_unified.json").read_text())
    assert data["mode"] == "unified" and len(data["categories"]) == 2
    assert (tmp_path / "pbas_real3d_unified.csv").exists()
    assert not (tmp_path / "pbas_real3d.json").exists()


def test_diagonal_view_sets_run_end_to_end(bench, tmp_path, capsys):
    """views=14 (the axis views and the cube corners): from the CLI, and from Python a fit
    renders 14 views per cloud in one frame grown to fit them, scores every point, and saves."""
    code = main(["eval", "-m", "pbas", "-d", str(bench / "real3d"), "-c", "bottle", "-q",
                 "-o", str(tmp_path), "-p", "size=32", "-p", "arch=\"small\"", "-p", "epochs=1",
                 "-p", "views=14"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "pbas_real3d.json").read_text())
    assert data["params"]["views"] == 14 and data["categories"][0]["P-AUROC"] is not None
    train = [s.points for s in load_dataset(bench / "real3d", "bottle", "train")]
    sample = next(s for s in load_dataset(bench / "real3d", "bottle", "test") if s.label == 1)
    params = dict(size=32, arch="small", epochs=1, batch_size=4)
    det = detectors.create("pbas", views=14, **params).fit(train)
    six = detectors.create("pbas", views=6, **params).fit(train)
    assert det.frame_.half_extent >= six.frame_.half_extent
    assert det.render(as_cloud_input(sample.points)).images.shape[0] == 14
    pred = det.predict(sample.points)
    assert pred.point_scores.shape == (len(sample.points),)
    assert np.isfinite(pred.point_scores).all()
    loaded = detectors.load(det.save(tmp_path / "pbas14"))
    np.testing.assert_allclose(loaded.predict(sample.points).point_scores, pred.point_scores,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["uniad", "pbas", "onenip"])
def test_save_load_determinism_and_unorganized_inputs(bench, method, tmp_path):
    params = {**SMALL[method], "epochs": 2}
    train = list(load_dataset(bench / "mvtec3d", "bottle", "train"))
    det = detectors.create(method, **params).fit(train)
    sample = next(s for s in load_dataset(bench / "mvtec3d", "bottle", "test") if s.label == 1)
    first = det.predict(sample)
    assert first.point_scores.shape == (len(sample.points),)
    assert np.isfinite(first.point_scores).all() and np.isfinite(first.score)
    loaded = detectors.load(det.save(tmp_path / method))
    assert loaded.get_params() == det.get_params()
    again = loaded.predict(sample)
    np.testing.assert_allclose(again.point_scores, first.point_scores, rtol=1e-6, atol=1e-6)
    assert again.score == pytest.approx(first.score, rel=1e-6)
    # Same seed, same detector; another seed, another one.
    twin = detectors.create(method, **params).fit(train).predict(sample)
    np.testing.assert_allclose(twin.point_scores, first.point_scores, rtol=1e-6, atol=1e-6)
    other = detectors.create(method, **{**params, "seed": 1}).fit(train).predict(sample)
    assert not np.allclose(other.point_scores, first.point_scores)
    # Without its pixel grid the scan is an unorganized cloud: rendered from 3 views.
    plain = det.predict(sample.points)
    assert plain.point_scores.shape == first.point_scores.shape
    assert np.isfinite(plain.point_scores).all()


def test_object_score_from_the_image_or_the_top_points(bench, tmp_path):
    params = {**SMALL["uniad"], "epochs": 2}
    train = list(load_dataset(bench / "real3d", CATEGORIES[0], "train"))
    det = detectors.create("uniad", **params).fit(train)
    sample = next(s for s in load_dataset(bench / "real3d", CATEGORIES[0], "test")
                  if s.label == 1)
    image = det.predict(sample)
    det.object_score = "points"
    points = det.predict(sample)
    # The point scores do not change; the cloud's score is the mean of its top 1 %.
    np.testing.assert_array_equal(points.point_scores, image.point_scores)
    k = int(np.ceil(0.01 * len(sample.points)))
    assert points.score == pytest.approx(np.sort(image.point_scores)[-k:].mean(), rel=1e-12)
    assert points.score != pytest.approx(image.score)
    loaded = detectors.load(det.save(tmp_path / "uniad"))
    assert loaded.get_params()["object_score"] == "points"
    assert loaded.predict(sample).score == pytest.approx(points.score, rel=1e-6)
    with pytest.raises(InputError, match="object_score"):
        detectors.create("hetnet", object_score="max")


def test_splat_tolerance_reaches_every_render_and_is_saved(bench, tmp_path):
    """splat_tolerance (point spacings) goes to the z-buffer of the template's render, of the
    training renders and of every scored cloud's render; saved with the model."""
    params = {**SMALL["pbas"], "epochs": 20}
    train = list(load_dataset(bench / "real3d", CATEGORIES[0], "train"))
    sample = next(s for s in load_dataset(bench / "real3d", CATEGORIES[0], "test")
                  if s.label == 1)
    plain = detectors.create("pbas", **params).fit(train)
    det = detectors.create("pbas", splat_tolerance=2.0, **params).fit(train)
    assert plain.get_params()["splat_tolerance"] == 0.0
    expected = render(train[0], views=det.views, size=det.size, depth=det.depth,
                      frame=det.frame_, splat_tolerance=2.0)
    np.testing.assert_array_equal(det.reference_.index, expected.index)
    assert det.reference_.seen.sum() > plain.reference_.seen.sum()
    cloud = as_cloud_input(sample)
    assert det.render(cloud).seen.sum() > plain.render(cloud).seen.sum()
    scores = det.predict(sample)
    assert not np.allclose(scores.point_scores, plain.predict(sample).point_scores)
    loaded = detectors.load(det.save(tmp_path / "pbas"))
    assert loaded.get_params()["splat_tolerance"] == 2.0
    np.testing.assert_allclose(loaded.predict(sample).point_scores, scores.point_scores,
                               rtol=1e-6)
    with pytest.raises(InputError, match="splat_tolerance"):
        detectors.create("hetnet", splat_tolerance=-1)


def test_parameters_are_validated():
    with pytest.raises(InputError, match="views"):
        detectors.create("uniad", views=4)
    with pytest.raises(InputError, match="arch"):
        detectors.create("pbas", arch="huge")
    with pytest.raises(InputError, match="multiple of stride"):
        detectors.create("onenip", size=60, stride=8)
    with pytest.raises(InputError, match="window"):
        detectors.create("uniad", window=4)
    with pytest.raises(InputError, match="epochs"):
        detectors.create("pbas", epochs=0)
    det = detectors.create("pbas", strides=[32], size=64, epochs=1)
    with pytest.raises(InputError, match="stride 32"):
        det.fit([np.random.default_rng(0).normal(size=(500, 3))])
    with pytest.raises(InputError, match="not fitted"):
        detectors.create("uniad").predict(np.zeros((10, 3)))
    assert {"uniad", "onenip", "pbas"} <= set(detectors.available())


def test_pixel_masks_follow_the_render_index():
    labels = np.array([0, 1, 0, 1], np.uint8)
    index = np.array([[[-1, 0], [1, 3]], [[2, 2], [-1, 1]]])
    expected = np.array([[[0, 0], [1, 1]], [[0, 0], [0, 1]]], np.float32)
    np.testing.assert_array_equal(pixel_masks(labels, index), expected)


def test_onenip_synthetic_defects_are_pixel_aligned_and_labelled(bench):
    """The refiner's training images: PNAS defects rendered in the clean render's frame, with
    masks on the pixels of the labelled points."""
    det = detectors.create("onenip", **{**SMALL["onenip"], "n_synthetic": 1})
    cloud = load_dataset(bench / "real3d", "bottle", "train")[0]
    cin = as_cloud_input(cloud)
    det.mean_, det.std_ = torch.zeros(1, 33, 1, 1), torch.ones(1, 33, 1, 1)
    clean = det.render(cin)
    tokens, masks = det._synthetic([cin], [clean])
    assert len(tokens) == len(masks) == 3  # one per view
    assert tokens[0].shape == (1, 33, 8, 8) and masks[0].shape == (1, 64, 64)
    total = sum(float(m.sum()) for m in masks)
    assert total > 0
    # Masks only where the defective render shows a point.
    for m in masks:
        assert set(np.unique(m.numpy())) <= {0.0, 1.0}


def test_onenip_synthetic_defects_of_a_partial_cloud_are_completed_as_its_clean_render(bench):
    """With align, a partial training cloud's clean render is completed from the template's; its
    synthetic-defect render must be too, or every unseen side differs from the clean image and
    the network learns to call that normal. Away from the defect the tokens agree."""
    from pointad.io import CloudInput
    det = detectors.create("onenip", **{**SMALL["onenip"], "n_synthetic": 2})
    cin = as_cloud_input(load_dataset(bench / "real3d", "bottle", "train")[0])
    det._set_template(cin)
    det.reference_ = det.render(cin)
    cut = CloudInput(cin.points[cin.points[:, 0] > np.median(cin.points[:, 0])])  # one side
    clean = det.completed(det.render(cut), cut)
    det.mean_, det.std_ = torch.zeros(1, 33, 1, 1), torch.ones(1, 33, 1, 1)
    tokens, masks = det._synthetic([cut], [clean])
    for view, clean_tokens in enumerate(det._tokens(clean)):
        near = torch.nn.functional.max_pool2d(masks[view][:, None], 8)[:, 0] > 0  # token cells
        diff = (tokens[view] - clean_tokens[None]).abs().mean(dim=1)
        assert near.any() and (~near).any()
        assert float(diff[~near].mean()) < 0.25 * float(diff[near].mean())


def test_align_renders_every_cloud_in_the_template_pose(bench, tmp_path):
    """align=True: a test cloud turned by a random rotation is registered back onto the first
    training cloud and rendered in its frame, so it scores like the unturned cloud; the pose
    survives save/load; organized scans are not moved."""
    from conftest import random_rotation
    params = {**SMALL["uniad"], "epochs": 3}
    train = [s.points for s in load_dataset(bench / "real3d", "bottle", "train")]
    sample = next(s for s in load_dataset(bench / "real3d", "bottle", "test") if s.label == 1)
    turned = sample.points @ random_rotation(5).T + [3.0, -2.0, 1.0]
    aligned = detectors.create("uniad", align=True, **params).fit(train)
    assert aligned.template_.shape[1] == 3 and aligned.frame_ is not None
    first, second = aligned.predict(sample.points), aligned.predict(turned)
    corr = np.corrcoef(first.point_scores, second.point_scores)[0, 1]
    assert corr > 0.95
    loaded = detectors.load(aligned.save(tmp_path / "aligned"))
    np.testing.assert_allclose(loaded.predict(turned).point_scores, second.point_scores,
                               rtol=1e-6, atol=1e-6)
    # Registration moves both onto the template, to the same place (same point order).
    back = aligned.posed(as_cloud_input(turned)).points
    home = aligned.posed(as_cloud_input(sample.points)).points
    np.testing.assert_allclose(back, home, atol=0.01 * np.ptp(sample.points))
    plain = detectors.create("uniad", align=False, **params).fit(train)
    assert plain.frame_ is None and plain.reference_ is None
    organized = list(load_dataset(bench / "mvtec3d", "bottle", "train"))
    scan = detectors.create("uniad", align=True, **params).fit(organized)
    assert scan.frame_ is None and scan.posed(organized[0]) is organized[0]
    with pytest.raises(InputError, match="align"):
        detectors.create("uniad", align="yes")


def test_align_is_the_default_and_completes_partial_scans(bench):
    """align=True (the default of every depth method): a one-sided cut of a good test cloud,
    scored against complete training clouds, has the sides its scanner did not see painted from
    the template's render; without that, the views turned away from the scanner show the back
    of its surface and every point scores high."""
    from pointad.geometry.visibility import visible_from
    for name in ("uniad", "onenip", "pbas"):
        assert detectors.create(name).align is True
    params = {**SMALL["uniad"], "epochs": 3}
    train = [s.points for s in load_dataset(bench / "real3d", "bottle", "train")]
    good = next(s for s in load_dataset(bench / "real3d", "bottle", "test") if s.label == 0)
    cut = good.points[visible_from(good.points, [1.0, 0.3, 0.2])]
    det = detectors.create("uniad", **params).fit(train)
    assert det.reference_ is not None and det.reference_.n_views == 3
    # seam_guard (default 3): the scan's pixels next to the painted sides show no point.
    posed = det.posed(as_cloud_input(cut))
    rendered = det.render(posed)
    guarded = det.completed(rendered, posed)
    det.seam_guard = 0
    plain = det.completed(rendered, posed)
    det.seam_guard = 3
    assert ((plain.index >= 0) & (guarded.index < 0)).sum() > 10
    assert ((guarded.index >= 0) <= (plain.index >= 0)).all()
    assert np.array_equal(guarded.images, plain.images)
    completed = det.predict(cut).point_scores
    det.reference_ = None          # the same registered render, not completed
    raw = det.predict(cut).point_scores
    assert np.median(completed) < 0.7 * np.median(raw)


def test_align_falls_back_to_own_frames_for_other_parts(bench):
    """A training cloud that does not register onto the first (another part: a unified fit)
    turns alignment off for the fit: every cloud is rendered in its own frame."""
    params = {**SMALL["uniad"], "epochs": 1}
    train = [s.points for c in CATEGORIES for s in load_dataset(bench / "real3d", c, "train")]
    det = detectors.create("uniad", **params).fit(train)
    assert det.align and det.template_ is None and det.frame_ is None and det.reference_ is None


def record_training(monkeypatch, key: str) -> dict:
    """Patch UniAD's ``_train`` to record, under the fitted detector's parameter ``key``, the
    number of training images and the point counts of the training clouds."""
    seen = {}
    cls = type(detectors.create("uniad"))
    original = cls._train

    def recording(self, features, view_of, clouds, renders):
        seen[getattr(self, key)] = (len(features[0]), [len(c.points) for c in clouds])
        return original(self, features, view_of, clouds, renders)

    monkeypatch.setattr(cls, "_train", recording)
    return seen


def test_partial_views_train_on_completed_cuts_of_the_training_clouds(bench, monkeypatch):
    """partial_views=K: every training cloud also gives K single-view cuts, registered, rendered
    and completed as a partial test scan is, so a good partial scan's seams look normal: its
    points score lower than with the complete clouds only. Seeded: the same cuts every fit."""
    from pointad.geometry.visibility import visible_from
    params = {**SMALL["uniad"], "epochs": 10}
    train = [s.points for s in load_dataset(bench / "real3d", "bottle", "train")]
    good = next(s for s in load_dataset(bench / "real3d", "bottle", "test") if s.label == 0)
    cut = good.points[visible_from(good.points, [1.0, 0.3, 0.2])]
    seen = record_training(monkeypatch, "partial_views")
    plain = detectors.create("uniad", **params).fit(train)
    cuts = detectors.create("uniad", partial_views=3, **params).fit(train)
    n_images, sizes = seen[3]
    assert seen[0][0] == 3 * len(train)               # 3 views per complete cloud
    assert len(sizes) > len(train) and n_images == 3 * len(sizes)
    assert all(0 < n < len(train[0]) for n in sizes[len(train):])  # the cuts are partial
    assert np.median(cuts.predict(cut).point_scores) < np.median(plain.predict(cut).point_scores)
    again = detectors.create("uniad", partial_views=3, **params).fit(train)
    np.testing.assert_array_equal(again.predict(cut).point_scores,
                                  cuts.predict(cut).point_scores)
    with pytest.raises(InputError, match="partial_views"):
        detectors.create("pradot", partial_views=-1)
    with pytest.raises(InputError, match="seam_guard"):
        detectors.create("hetnet", seam_guard=1.5)


def test_rescans_train_on_fresh_samplings_of_the_training_clouds(bench, monkeypatch):
    """rescans=K: every training cloud also gives K re-scans (a random 55-100 % of its points,
    noise of up to 0.2 point spacings), rendered as a test scan is, so sampling a good part
    afresh (thinner, noisier) raises its scores far less than with the training clouds only
    (measured: 0.3 against 1.0 of about 5). Seeded."""
    from pointad.geometry import point_spacing
    params = {**SMALL["uniad"], "epochs": 10}
    train = [s.points for s in load_dataset(bench / "real3d", "bottle", "train")]
    good = next(s for s in load_dataset(bench / "real3d", "bottle", "test") if s.label == 0)
    rng = np.random.default_rng(7)  # a fresh sampling: 60 % of the points, 0.2 spacings noise
    fresh = good.points[rng.random(len(good.points)) < 0.6]
    fresh = fresh + rng.normal(0, 0.2 * point_spacing(good.points), fresh.shape)
    seen = record_training(monkeypatch, "rescans")
    plain = detectors.create("uniad", **params).fit(train)
    more = detectors.create("uniad", rescans=2, **params).fit(train)
    n_images, sizes = seen[2]
    assert len(sizes) == 3 * len(train) and n_images == 3 * len(sizes)  # 3 views each
    copies = np.reshape(sizes[len(train):], (len(train), 2))
    assert np.all(copies >= 0.5 * np.array([len(t) for t in train])[:, None])
    assert np.all(copies < np.array([len(t) for t in train])[:, None])  # thinned

    def rise(det):  # how much the fresh sampling raises the good scan's median point score
        return (np.median(det.predict(fresh).point_scores)
                - np.median(det.predict(good.points).point_scores))

    assert 0 < rise(more) < 0.5 * rise(plain)
    again = detectors.create("uniad", rescans=2, **params).fit(train)
    np.testing.assert_array_equal(again.predict(fresh).point_scores,
                                  more.predict(fresh).point_scores)
    with pytest.raises(InputError, match="rescans"):
        detectors.create("fader", rescans=-1)
