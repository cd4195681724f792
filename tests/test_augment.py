"""PNASAugment: on-the-fly synthetic anomalies from a dataset of normal clouds."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pointad.errors import InputError
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS, DefectMix, PNASAugment, apply


@pytest.fixture(scope="module")
def base():
    return [sample_cloud(name, n_points=1500, seed=i)
            for i, name in enumerate(["flange", "sphere", "box", "cylinder"] * 2)]


def test_probability_bounds(base):
    none = PNASAugment(base, probability=0.0)
    assert not any(none[i]["label"] for i in range(len(base)))
    np.testing.assert_array_equal(none[0]["points"].numpy(), base[0].points.astype(np.float32))
    every = PNASAugment(base, probability=1.0)
    items = [every[i] for i in range(len(base))]
    assert all(it["label"] for it in items)
    assert all(abs(it["labels"].float().mean().item() - 0.03) < 0.0075 for it in items)


def test_items_are_reproducible_and_change_with_epoch(base):
    ds = PNASAugment(base, PNAS(fraction=0.05), probability=0.7, seed=3)
    first = [ds[i] for i in range(len(base))]
    again = [ds[i] for i in range(len(base))]
    assert all(torch.equal(a["points"], b["points"]) for a, b in zip(first, again))
    assert 0 < sum(it["label"] for it in first) < len(base)
    ds.set_epoch(1)
    later = [ds[i] for i in range(len(base))]
    assert any(not torch.equal(a["points"], b["points"]) for a, b in zip(first, later))


def test_item_matches_the_synthesizer(base):
    synth = PNAS(octaves=2)
    item = PNASAugment(base, synth, probability=1.0, seed=5)[2]
    direct = synth(base[2].points, base[2].normals, seed=item["seed"])
    np.testing.assert_allclose(item["points"].numpy(), direct.points, atol=1e-5)
    assert torch.equal(item["labels"], torch.as_tensor(direct.labels))


def test_accepts_arrays_dicts_and_pairs_and_loads_in_batches(base):
    arrays = [c.points for c in base[:2]]
    dicts = [{"points": torch.tensor(c.points), "normals": c.normals} for c in base[:2]]
    pairs = [(c.points, c.normals) for c in base[:2]]
    for data in (arrays, dicts, pairs):
        item = PNASAugment(data, probability=1.0)[1]
        assert item["points"].shape == (1500, 3) and item["points"].dtype == torch.float32
        assert item["soft_labels"].shape == (1500,) and item["label"]
    loader = DataLoader(PNASAugment(pairs, probability=1.0), batch_size=2)
    batch = next(iter(loader))
    assert batch["points"].shape == (2, 1500, 3) and batch["labels"].dtype == torch.bool


def test_bad_arguments(base):
    with pytest.raises(InputError, match="probability"):
        PNASAugment(base, probability=1.5)
    with pytest.raises(InputError, match="points"):
        PNASAugment([{"xyz": np.zeros((5, 3))}], probability=1.0)[0]


# ---------------------------------------------------------------- defect kinds


def test_a_kind_name_gives_items_with_offsets_and_the_kind(base):
    ds = PNASAugment(base, "ridge", probability=1.0, seed=2)
    item = ds[1]
    assert item["kind"] == "ridge" and item["label"]
    assert item["points"].shape == (1500, 3) and item["offsets"].shape == (1500, 3)
    assert item["offsets"].dtype == torch.float32 and item["labels"].dtype == torch.bool
    direct = apply("ridge", base[1].points, base[1].normals, seed=item["seed"])
    np.testing.assert_allclose(item["points"].numpy(), direct.points, atol=1e-5)
    np.testing.assert_allclose(item["offsets"].numpy(), direct.offsets, atol=1e-5)
    assert torch.equal(item["labels"], torch.as_tensor(direct.labels))
    assert torch.equal(item["soft_labels"], item["labels"].float())
    moved = item["offsets"].norm(dim=1) > 0
    assert torch.equal(moved, item["labels"])                 # only labelled points move


def test_a_mix_draws_its_kinds_and_holes_shrink_items(base):
    ds = PNASAugment(base, DefectMix({"hole": 1.0, "dent": 1.0}), probability=1.0, seed=1)
    items = [ds[i] for i in range(len(base))]
    kinds = {it["kind"] for it in items}
    assert kinds == {"hole", "dent"}
    for it, cloud in zip(items, base):
        n = len(cloud.points)
        if it["kind"] == "hole":
            assert len(it["points"]) < n and it["offsets"].abs().max() == 0
        else:
            assert len(it["points"]) == n
        assert len(it["labels"]) == len(it["offsets"]) == len(it["points"])
    again = PNASAugment(base, DefectMix({"hole": 1.0, "dent": 1.0}), probability=1.0, seed=1)
    assert all(torch.equal(a["points"], again[i]["points"]) for i, a in enumerate(items))


def test_kinds_untouched_items_and_estimated_normals(base):
    ds = PNASAugment([c.points for c in base[:3]], "bulge", probability=0.0)
    item = ds[0]
    assert item["kind"] == "good" and item["seed"] == -1 and not item["label"]
    assert item["offsets"].abs().max() == 0
    # No normals with the cloud: the kinds get estimated ones (PNAS estimates its own).
    item = PNASAugment([c.points for c in base[:3]], "bulge", probability=1.0)[1]
    assert item["label"] and item["kind"] == "bulge"


def test_bad_synthesizers(base):
    with pytest.raises(InputError, match="unknown defect kind 'teapot'"):
        PNASAugment(base, "teapot")
    with pytest.raises(InputError, match="synthesizer"):
        PNASAugment(base, 42)
