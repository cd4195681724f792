"""Shared small fixtures: clouds with known geometry, built with seeded generators."""
from pathlib import Path

import numpy as np
import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "regression: compares a detector's metrics with seeded regression values "
        "(tests/regression.py; tools/regression_values.py regenerates them)")


def sphere_points(n=3000, radius=1.0, seed=0):
    """(n, 3) points on a sphere and their outward normals."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return p * radius, p.copy()


def ellipsoid_points(n=4000, radii=(3.0, 2.0, 1.0), seed=0):
    """(n, 3) points on an ellipsoid and exact outward normals."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    radii = np.asarray(radii)
    p = u * radii
    nrm = p / radii**2
    return p, nrm / np.linalg.norm(nrm, axis=1, keepdims=True)


def random_rotation(seed):
    """A uniform random (3, 3) rotation from ``seed`` (the library's one rotation sampler)."""
    from pointad.geometry.rotations import random_rotation as draw
    return draw(np.random.default_rng(seed))


@pytest.fixture
def torch_one_thread():
    """Run the test with one torch thread (restored afterwards)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def ellipsoid():
    return ellipsoid_points()


@pytest.fixture
def sphere():
    return sphere_points()


def load_script(path, name=None):
    """The Python file at ``path`` (a tool or an example, not a package module) as a module."""
    import importlib.util

    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOLS = Path(__file__).resolve().parents[1] / "tools"


def write_tiny_real3d(root, *, n_points, n_good, n_bad, fraction, categories=("box", "cylinder")):
    """A Real3D-AD layout at ``root`` from the built-in samples: 2 templates per category, then
    ``n_good`` good and ``n_bad`` PNAS-bulged test clouds with gt files. Returns ``root``."""
    from pointad.io import Cloud, write_cloud
    from pointad.samples import sample_cloud
    from pointad.synthesis import PNAS

    synth = PNAS(strength=0.04, fraction=fraction, sign="bump")
    for cat in categories:
        for i in range(2):
            write_cloud(root / cat / "train" / f"{i}_template.pcd",
                        Cloud(points=sample_cloud(cat, n_points, seed=i).points))
        for j in range(n_good + n_bad):
            base = sample_cloud(cat, n_points, seed=10 + j)
            if j < n_good:
                write_cloud(root / cat / "test" / f"{j:03d}_good.pcd", Cloud(points=base.points))
                continue
            s = synth(base.points, base.normals, seed=j)
            write_cloud(root / cat / "test" / f"{j:03d}_bulge.pcd", Cloud(points=s.points))
            write_cloud(root / cat / "gt" / f"{j:03d}_bulge.txt",
                        Cloud(points=s.points, labels=s.labels))
    return root


#: Categories of the small synthetic benchmark the detector tests share.
BENCH_CATEGORIES = ["bottle", "pipe_elbow"]


@pytest.fixture(scope="session")
def small_bench(tmp_path_factory):
    """The small synthetic benchmark (seed 0, :data:`BENCH_CATEGORIES`), built once per test
    process; the point and depth detector tests score their regression values on it."""
    from pointad.synthbench import make_benchmark
    out = tmp_path_factory.mktemp("bench") / "sb"
    make_benchmark(out, size="small", seed=0, categories=BENCH_CATEGORIES, progress=False)
    return out
