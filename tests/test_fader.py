"""``fader`` (FADeR on depth renders): quality on the small synthetic benchmark, persistence and
seeding, parameter checks, and the parts of the method one by one: the deterministic saliency
mask, the mosaic hint, the attenuation on the skip connections and its label-free targets."""
import numpy as np
import pytest
import torch

import pointad.detectors as detectors
from pointad.datasets import load_dataset
from pointad.errors import InputError
from pointad.io import as_cloud_input
from pointad.models2d.fader import (
    FADeRNet,
    attenuation_targets,
    mosaic,
    mosaic_hint,
    saliency_mask,
)
from regression import evaluate_case  # tests/regression.py

# CPU-test settings: 64 px renders, 3 views, the narrow U-Net, 4 px mask cells.
SMALL = {"fader": dict(size=64, arch="small", epochs=60, lr=1e-3, batch_size=4, views=3,
                       patch=4, mosaic=8, progress=False, device="cpu")}
QUICK = {**SMALL["fader"], "epochs": 3}

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def bench(small_bench):
    return small_bench


@pytest.fixture(scope="module")
def bottle(bench):
    train = list(load_dataset(bench / "mvtec3d", "bottle", "train"))
    sample = next(s for s in load_dataset(bench / "mvtec3d", "bottle", "test") if s.label == 1)
    return train, sample


def test_fader_is_above_chance_on_the_small_benchmark(bench):
    results = evaluate_case(bench, "fader/mvtec3d", SMALL)
    assert results["mode"] == "per-category" and len(results["categories"]) == 2
    mean = results["mean"]
    assert mean["I-AUROC"] > 0.7 and mean["P-AUROC"] > 0.7, mean


def test_save_load_and_seeds(bottle, tmp_path):
    train, sample = bottle
    det = detectors.create("fader", **QUICK).fit(train)
    first = det.predict(sample)
    assert first.point_scores.shape == (len(sample.points),)
    assert np.isfinite(first.point_scores).all() and np.isfinite(first.score)
    loaded = detectors.load(det.save(tmp_path / "fader"))
    assert loaded.get_params() == det.get_params()
    again = loaded.predict(sample)
    assert np.array_equal(again.point_scores, first.point_scores)
    assert again.score == first.score
    twin = detectors.create("fader", **QUICK).fit(train).predict(sample)
    np.testing.assert_allclose(twin.point_scores, first.point_scores, rtol=1e-5, atol=1e-5)
    other = detectors.create("fader", **{**QUICK, "seed": 1}).fit(train).predict(sample)
    assert not np.allclose(other.point_scores, first.point_scores, rtol=0, atol=1e-5)
    # Without attenuation there are no gate modules in the saved state.
    plain = detectors.create("fader", **{**QUICK, "attenuation": False}).fit(train)
    assert plain.model_.gates is None
    assert not any("gates" in k for k in plain._get_model_state())
    assert any("gates" in k for k in det._get_model_state())


@pytest.mark.parametrize("bad, word", [
    ({"mask_ratio": 0}, "mask_ratio"), ({"mask_ratio": 1.0}, "mask_ratio"),
    ({"patch": 0}, "patch"), ({"mosaic": 1000}, "mosaic"),
    ({"attenuation": "maybe"}, "attenuation"),
    ({"size": 72}, "multiple of 16"), ({"arch": "huge"}, "arch"), ({"views": 4}, "views"),
    ({"epochs": 0}, "epochs"), ({"seed": -1}, "seed"),
])
def test_bad_parameters_raise_input_error(bad, word):
    with pytest.raises(InputError, match=word):
        detectors.create("fader", **bad)


def _images(seed=0, size=32):
    """Two (5, size, size) renders-like images: a surface disc with a curved blob."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.4 * size) ** 2
    img = torch.zeros(2, 5, size, size)
    img[:, 0] = disc * (0.5 + 0.1 * torch.rand(2, size, size, generator=gen))
    img[:, 3] = disc.float()  # nz = 1: unit normals on the surface
    img[:, 4] = disc * 0.01 * torch.rand(2, size, size, generator=gen)
    img[0, 4, 8:12, 12:16] = 0.3  # a salient (curved) cell block in image 0
    return img, disc


def test_mask_is_deterministic_and_covers_the_salient_fraction():
    det = detectors.create("fader", size=32, arch="small", patch=4, mask_ratio=0.25)
    img, disc = _images()
    mask = det.mask_of(img)
    assert torch.equal(mask, det.mask_of(img.clone()))  # same image, same mask
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # The salient block is excised.
    assert bool((mask[0, 8:12, 12:16] == 1).all())
    cells_surface = torch.nn.functional.max_pool2d(disc[None, None].float(), 4)[0, 0] > 0
    n_surface = int(cells_surface.sum())
    for b in range(2):
        cells = mask[b, ::4, ::4] > 0
        # Exactly round(ratio * surface cells) cells, all of them on the surface ...
        assert int(cells.sum()) == round(0.25 * n_surface)
        assert not bool((cells & ~cells_surface).any())
        # ... and the most salient: every masked cell's mean curvature >= every kept one's.
        curv = torch.nn.functional.avg_pool2d((img[b, 4] * disc)[None, None], 4)[0, 0]
        count = torch.nn.functional.avg_pool2d(disc[None, None].float(), 4)[0, 0]
        mean = curv / count.clamp_min(1e-12)
        assert float(mean[cells].min()) >= float(mean[cells_surface & ~cells].max())
        # Whole cells: the mask is constant within each 4 x 4 cell.
        assert torch.equal(mask[b], cells.float().repeat_interleave(4, 0).repeat_interleave(4, 1))
    # A larger ratio excises a superset here (the ranking does not change).
    bigger = detectors.create("fader", size=32, arch="small", patch=4, mask_ratio=0.5)
    assert bool((bigger.mask_of(img) >= mask).all())
    # No surface, nothing excised.
    assert float(saliency_mask(torch.rand(1, 8, 8), torch.zeros(1, 8, 8, dtype=torch.bool),
                               0.5, 2).sum()) == 0


def test_mosaic_hint_only_touches_masked_pixels():
    x = torch.randn(2, 6, 16, 16, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 16, 16)
    mask[0, 4:8, 0:8] = 1
    mask[1, 10:16, 3:9] = 1
    hinted = mosaic_hint(x, mask, 4)
    keep = mask[:, None].expand_as(x) == 0
    assert torch.equal(hinted[keep], x[keep])
    changed = (hinted != x).any(1)
    assert bool((changed <= (mask > 0)).all()) and bool(changed[mask > 0].all())
    # Inside the mask: the 4 x 4 block means of the input.
    block = x[0, :, 4:8, 4:8].mean(dim=(1, 2))
    np.testing.assert_allclose(hinted[0, :, 5, 6].numpy(), block.numpy(), rtol=1e-5, atol=1e-6)
    assert mosaic(x, 4).shape == x.shape
    # The detector's own input: hint outside the mask equals the standardised image.
    det = detectors.create("fader", size=32, arch="small", patch=4, mosaic=8)
    img, _ = _images()
    target, hinted, m = det.prepare(img)
    assert target.shape == (2, 6, 32, 32)
    outside = m[:, None].expand_as(target) == 0
    assert torch.equal(hinted[outside], target[outside])
    assert not torch.equal(hinted, target)


def test_attenuation_scales_the_skips_and_off_is_identity():
    torch.manual_seed(0)
    net = FADeRNet(6, (8, 8, 8), attenuation=True)
    with torch.no_grad():
        for g in net.gates:  # a non-trivial gate
            torch.nn.init.normal_(g.fc2.weight, std=1.0)
            torch.nn.init.zeros_(g.fc2.bias)
    x, mask = torch.randn(2, 6, 16, 16), torch.zeros(2, 16, 16)
    with torch.no_grad():
        skips, _ = net.encode(x, mask)
        out, gates = net.attenuated(skips)
    assert len(gates) == 2 and [g.shape[-1] for g in gates] == [16, 8]
    for s, o, g in zip(skips, out, gates):
        assert bool(((g > 0) & (g < 1)).all()) and float(g.std()) > 1e-3
        torch.testing.assert_close(o, s * g)
        assert not torch.allclose(o, s)
    # Switched off (first pass) or not built: the skips pass unchanged, unit gates.
    net.attenuate = False
    out, gates = net.attenuated(skips)
    assert all(o is s for o, s in zip(out, skips)) and all(bool((g == 1).all()) for g in gates)
    plain = FADeRNet(6, (8, 8, 8), attenuation=False)
    assert plain.gates is None
    out, gates = plain.attenuated(skips)
    assert all(o is s for o, s in zip(out, skips))
    rec, _ = plain(x, mask)
    assert rec.shape == x.shape


def test_attenuation_targets_follow_the_errors():
    errors = torch.zeros(1, 8, 8)
    errors[0, :4, :4] = 2.0
    errors[0, 6, 6] = 1.0
    fine, coarse = attenuation_targets(errors, [(8, 8), (2, 2)])
    assert fine.shape == (1, 1, 8, 8) and coarse.shape == (1, 1, 2, 2)
    assert float(fine.min()) == 0 and float(fine.max()) == 1
    assert float(fine[0, 0, 0, 0]) == 0 and float(fine[0, 0, 6, 6]) == pytest.approx(0.5)
    assert float(coarse[0, 0, 0, 0]) == 0 and float(coarse[0, 0, 0, 1]) == 1


def test_trained_gates_attenuate_where_the_first_pass_erred(bottle):
    """The gates are trained on the first pass's errors: after fitting, the skip features of
    the training images' worst-reconstructed cells are attenuated more than the best ones'."""
    train, _ = bottle
    det = detectors.create("fader", **{**SMALL["fader"], "epochs": 30}).fit(train)
    images = torch.cat([det.images(det.render(as_cloud_input(s))) for s in train])
    x, hinted, mask = det.prepare(images)
    det.model_.attenuate = False
    errors = det._errors(x, hinted, mask)
    det.model_.attenuate = True
    with torch.no_grad():
        _, gates = det.model_(hinted, mask)
    target = attenuation_targets(errors, [gates[0].shape[-2:]])[0]
    hard, easy = target < 0.5, target > 0.9
    assert float(gates[0][hard].mean()) < float(gates[0][easy].mean()) - 0.05
