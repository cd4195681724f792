"""PNASAugment: on-the-fly synthetic anomalies from a dataset of normal clouds."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pointad.errors import InputError
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS, PNASAugment


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
