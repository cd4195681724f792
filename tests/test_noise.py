"""Perlin noise: parity with the C `noise` package, the torch backend, seeds and validation."""
# `noise` is the test oracle, from the test extras (`bash tools/setup.sh --test`): a set-up
# without it is broken, so the import fails rather than skipping the parity tests.
import noise
import numpy as np
import pytest
import torch

from pointad.errors import InputError
from pointad.noise import perlin2, perlin3

CASES = [  # (coordinate scale, octaves, persistence, lacunarity, base, repeat)
    (1.0, 1, 0.5, 2.0, 0, 1024),
    (10.0, 4, 0.5, 2.0, 0, 1024),
    (100.0, 6, 0.7, 2.0, 1, 1024),
    (3000.0, 3, 0.5, 2.0, 0, 1024),   # beyond the period: the wrap path
    (20.0, 3, 0.4, 2.5, 1, 1000),     # non-power-of-two lacunarity and period
    (50.0, 2, 0.5, 1.7, 0, 37),       # short period: wraps in every octave
]


@pytest.mark.parametrize("scale,octaves,persistence,lacunarity,base,repeat", CASES)
def test_perlin2_matches_pnoise2(scale, octaves, persistence, lacunarity, base, repeat):
    rng = np.random.default_rng(octaves)
    x, y = rng.normal(size=(2, 40, 25)) * scale
    ours = perlin2(x, y, octaves, persistence, lacunarity, base, repeat=repeat)
    ref = np.vectorize(lambda a, b: noise.pnoise2(a, b, octaves, persistence, lacunarity,
                                                  repeat, repeat, base))(x, y)
    assert ours.shape == x.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scale,octaves,persistence,lacunarity,base,repeat", CASES)
def test_perlin3_matches_pnoise3(scale, octaves, persistence, lacunarity, base, repeat):
    rng = np.random.default_rng(octaves + 10)
    x, y, z = rng.normal(size=(3, 1000)) * scale
    ours = perlin3(x, y, z, octaves, persistence, lacunarity, base, repeat=repeat)
    ref = np.array([noise.pnoise3(a, b, c, octaves, persistence, lacunarity, repeat, repeat,
                                  repeat, base) for a, b, c in zip(x, y, z)])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scale,octaves,persistence,lacunarity,base,repeat", CASES)
def test_torch_backend_matches_numpy(scale, octaves, persistence, lacunarity, base, repeat):
    rng = np.random.default_rng(3)
    x, y, z = rng.normal(size=(3, 3000)) * scale
    kw = dict(octaves=octaves, persistence=persistence, lacunarity=lacunarity, base=base,
              repeat=repeat)
    t2 = perlin2(torch.tensor(x), torch.tensor(y), **kw)
    t3 = perlin3(torch.tensor(x), torch.tensor(y), torch.tensor(z), **kw)
    assert isinstance(t2, torch.Tensor) and t2.dtype == torch.float32
    np.testing.assert_allclose(t2.numpy(), perlin2(x, y, **kw), atol=1e-6, rtol=0)
    np.testing.assert_allclose(t3.numpy(), perlin3(x, y, z, **kw), atol=1e-6, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_backend_on_cuda_matches_cpu():
    rng = np.random.default_rng(4)
    x, y, z = rng.normal(size=(3, 100_000)) * 40
    cpu = perlin3(x, y, z, octaves=4)
    gpu = perlin3(*(torch.tensor(a, device="cuda") for a in (x, y, z)), octaves=4)
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu, atol=1e-6, rtol=0)


def test_broadcasting_and_scalars():
    x = np.linspace(0, 5, 7)
    out = perlin2(x[:, None], 0.5, octaves=2)
    assert out.shape == (7, 1)
    np.testing.assert_allclose(out[:, 0], [noise.pnoise2(float(a), 0.5, 2) for a in x], atol=1e-6)


def test_zero_at_lattice_points_and_bounded():
    ints = np.arange(-5, 6, dtype=float)
    assert np.all(perlin2(ints, ints[::-1]) == 0)
    values = perlin2(*np.random.default_rng(0).uniform(-100, 100, size=(2, 20000)), octaves=5)
    assert np.abs(values).max() <= 1.0 and values.std() > 0.1


def test_seed_gives_independent_reproducible_fields():
    x, y = np.random.default_rng(1).uniform(0, 30, size=(2, 5000))
    a = perlin2(x, y, octaves=3, seed=7)
    assert np.array_equal(a, perlin2(x, y, octaves=3, seed=7))
    b = perlin2(x, y, octaves=3, seed=8)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.1  # unrelated, not shifted copies
    assert not np.allclose(a, perlin2(x, y, octaves=3))  # seed=None is Ken Perlin's table


@pytest.mark.parametrize("kwargs,word", [
    (dict(octaves=0), "octaves"), (dict(octaves=2.5), "octaves"),
    (dict(persistence=0), "persistence"),
    (dict(lacunarity=-1), "lacunarity"), (dict(base=256), "base"), (dict(repeat=0), "repeat"),
    (dict(seed=-3), "seed"), (dict(persistence=float("nan")), "persistence"),
])
def test_invalid_parameters_are_named(kwargs, word):
    with pytest.raises(InputError, match=word):
        perlin2(np.zeros(3), np.zeros(3), **kwargs)
