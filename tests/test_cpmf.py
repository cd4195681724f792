"""``cpmf``: multi-view render features of every point in a memory bank (no training); the
contract (save/load, seeds, bad input) is in tests/test_detector_contract.py."""
import numpy as np
import pytest
import torch

import pointad.detectors as detectors
from pointad.datasets import load_dataset
from pointad.errors import InputError
from pointad.io import as_cloud_input
from pointad.metrics import auroc
from pointad.ops import knn
from pointad.reductions import top_mean
from pointad.render import features_to_points
from pointad.runner import evaluate
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# CPU-test settings: 64 px renders, 3 views.
SMALL = dict(size=64, views=3, batch_size=4, progress=False, device="cpu")


@pytest.mark.parametrize("layout", ["mvtec3d", "real3d"])
def test_cpmf_is_above_chance_on_the_small_benchmark(small_bench, layout):
    """Measured when written (I-AUROC / P-AUROC): mvtec3d 0.81 / 0.86, real3d 1.00 / 0.84
    (unified: 0.81 / 0.91 and 0.97 / 0.87)."""
    mean = evaluate("cpmf", small_bench / layout, params=SMALL, progress=False)["mean"]
    assert mean["I-AUROC"] > 0.7 and mean["P-AUROC"] > 0.7, mean


def test_points_score_their_multi_view_features_against_the_training_bank():
    """What CPMF is, against a direct computation: a test point's score is the mean distance of
    its standardised multi-view feature (features_to_points of the backbone maps of its
    registered, completed render) to the k nearest of the bank, the bank a coreset of the
    training points' features; the object score the mean of the top fraction."""
    train = [sample_cloud("box", 1200, seed=s).points for s in (1, 2)]
    det = detectors.create("cpmf", k=2, coreset_ratio=1.0, **SMALL).fit(train)
    # coreset_ratio 1 keeps every training point's feature, standardised with their statistics
    clouds = [as_cloud_input(train[0])] + [det.posed(as_cloud_input(c)) for c in train[1:]]
    renders = [det.render(c) for c in clouds]  # the first training cloud is the template
    renders = [renders[0]] + [det.completed(r, c) for r, c in zip(renders[1:], clouds[1:])]
    raw = np.concatenate([features_to_points(det.features(det.images(r)), r) for r in renders])
    assert det.memory_.bank.shape == raw.shape
    mean, std = raw.mean(0), raw.std(0, ddof=1)
    np.testing.assert_allclose(det.mean_.numpy(), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(det.std_.numpy(), std, rtol=1e-4, atol=1e-5)
    bank = torch.as_tensor((raw - mean) / std, dtype=torch.float32)
    np.testing.assert_allclose(np.sort(det.memory_.bank.numpy(), axis=0),
                               np.sort(bank.numpy(), axis=0), rtol=1e-3, atol=1e-3)
    test = sample_cloud("box", 1200, seed=7).points
    cloud = det.posed(as_cloud_input(test))
    rendered = det.completed(det.render(cloud), cloud)
    query = features_to_points(det.features(det.images(rendered)), rendered)
    query = torch.as_tensor((query - mean) / std, dtype=torch.float32)
    expected = knn(query, bank, 2)[0].mean(1).double().numpy()
    got = det.predict(test)
    np.testing.assert_allclose(got.point_scores, expected, rtol=1e-3, atol=1e-3)
    assert got.score == pytest.approx(top_mean(got.point_scores, 0.01))


def test_a_bump_scores_above_the_rest_of_the_part():
    """A PNAS bump on a fresh sample of the part: its points rank above the others and the
    cloud above the same sample without it (measured, bump seeds 3-5: AUROC 0.85-0.94, object
    scores 5.4-9.8 against 4.6)."""
    train = [sample_cloud("cylinder", 2000, seed=s).points for s in (1, 2)]
    det = detectors.create("cpmf", **SMALL).fit(train)
    good = sample_cloud("cylinder", 2000, seed=5)
    plain = det.predict(good.points).score
    for seed in (3, 4, 5):
        bumped = PNAS(strength=0.08, fraction=0.05, sign="bump")(good.points, good.normals,
                                                                   seed=seed)
        got = det.predict(bumped.points)
        assert auroc(bumped.labels > 0, got.point_scores) > 0.8
        assert got.score > plain


def test_save_load_and_organized_scans(small_bench, tmp_path):
    train = list(load_dataset(small_bench / "mvtec3d", "bottle", "train"))
    det = detectors.create("cpmf", **SMALL).fit(train)
    sample = next(s for s in load_dataset(small_bench / "mvtec3d", "bottle", "test")
                  if s.label == 1)
    first = det.predict(sample)  # an organized scan: one view on its own grid
    assert first.point_scores.shape == (len(sample.points),)
    assert np.isfinite(first.point_scores).all() and (first.point_scores >= 0).all()
    loaded = detectors.load(det.save(tmp_path / "cpmf"))
    assert loaded.get_params() == det.get_params()
    again = loaded.predict(sample)
    assert np.array_equal(again.point_scores, first.point_scores) and again.score == first.score


@pytest.mark.parametrize("bad", [dict(k=0), dict(coreset_ratio=0), dict(coreset_ratio=1.5),
                                 dict(max_bank=0), dict(top_fraction=0), dict(views=4)])
def test_bad_parameters_raise_input_error(bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        detectors.create("cpmf", **bad)


def test_pnas_eval_runs_cpmf_from_the_command_line(small_bench, tmp_path, capsys):
    import json

    from pointad.cli import main
    code = main(["eval", "-m", "cpmf", "-d", str(small_bench / "real3d"), "-c", "bottle", "-q",
                 "-o", str(tmp_path), "-p", "size=32", "-p", "views=1", "-p", "k=2"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "cpmf_real3d.json").read_text())
    assert data["params"]["k"] == 2 and data["params"]["coreset_ratio"] == 0.1
    assert data["categories"][0]["P-AUROC"] > 0.5
