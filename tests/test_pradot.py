"""``pradot``: prototypes learned by entropic optimal transport on depth-render features.

The OT machinery (:mod:`pointad.models2d.pradot`) is checked on small tensors: the Sinkhorn plan
has the marginals it claims and approaches the exact transport, the EMA moves the prototypes to
the barycentres the plan gives them, ``alpha = 0`` ignores position and ``alpha > 0`` does not,
and the score is the cost to the nearest prototype. The detector is checked on the small
synthetic benchmark (above chance per category and unified, on both layouts), for save/load,
seeding and parameter validation.
"""
import numpy as np
import pytest
import torch

import pointad.detectors as detectors
from pointad.datasets import load_dataset
from pointad.errors import InputError
from pointad.models2d.pradot import Prototypes, grid_positions, prototype_layout, sinkhorn_plan
from pointad.runner import evaluate

# CPU-test settings: 64 px renders (8 x 8 and 4 x 4 grids), 3 views, 4 local prototypes per cell.
SMALL = dict(size=64, views=3, epochs=5, batch_size=4, n_prototypes=4, progress=False,
             device="cpu")

pytestmark = pytest.mark.usefixtures("torch_one_thread")


# OT machinery ---------------------------------------------------------------------------------
def test_sinkhorn_plan_has_uniform_marginals_and_nearly_optimal_cost():
    import ot
    gen = torch.Generator().manual_seed(0)
    cost = torch.rand(60, 20, generator=gen, dtype=torch.float64)
    plan = sinkhorn_plan(cost, reg=0.01, iterations=500)
    assert plan.shape == (60, 20) and bool((plan >= 0).all())
    torch.testing.assert_close(plan.sum(1), torch.full((60,), 1 / 60, dtype=torch.float64),
                               rtol=1e-9, atol=0)  # POT's last update fixes the rows exactly
    torch.testing.assert_close(plan.sum(0), torch.full((20,), 1 / 20, dtype=torch.float64),
                               rtol=1e-3, atol=0)
    exact = float(ot.emd2(np.full(60, 1 / 60), np.full(20, 1 / 20), cost.numpy()))
    uniform = float(cost.mean())
    got = float((plan * cost).sum())
    assert exact <= got < exact + 0.02 < uniform  # entropic: slightly above the exact optimum
    # A larger regularisation spreads the plan: its cost moves toward the independent plan's.
    blurred = float((sinkhorn_plan(cost, reg=1.0, iterations=500) * cost).sum())
    assert got < blurred < uniform + 1e-9


def test_prototype_layouts_local_and_global():
    assert prototype_layout((8, 8), 4) == ((8, 8), 4)
    assert prototype_layout((8, 8), 0.5) == ((4, 4), 1)
    assert prototype_layout((3, 3), 0.2) == ((1, 1), 1)
    local = Prototypes(5, (8, 8), 4, alpha=0.3)
    assert len(local) == 256 and local.features.shape == (256, 5)
    # Local prototypes sit on the cell centres, 4 to a cell.
    torch.testing.assert_close(local.pos_proto[::4], grid_positions(8, 8))
    assert len(Prototypes(5, (8, 8), 0.5, alpha=0.3)) == 16
    assert float(local.d_pos.max()) == pytest.approx(1.0)


def two_cluster_embeddings(n_images=6, grid=(4, 4), seed=0):
    """(n_images, h w, 3) embeddings: the left half of every image near (1, 0, 0), the right
    half near (0, 1, 0)."""
    gen = torch.Generator().manual_seed(seed)
    h, w = grid
    left = (torch.arange(w) < w // 2).repeat(h)
    centre = torch.where(left[:, None], torch.tensor([1.0, 0, 0]), torch.tensor([0, 1.0, 0]))
    return centre + 0.05 * torch.randn(n_images, h * w, 3, generator=gen), left


@pytest.mark.parametrize("distance", ["sqeuclidean", "cosine"])
def test_ema_moves_the_prototypes_to_the_plan_barycentres(distance):
    emb, left = two_cluster_embeddings()
    protos = Prototypes(3, (4, 4), 1, alpha=0.5, distance=distance)
    protos.features = torch.full((16, 3), 0.3) + torch.tensor([0, 0, 1.0])  # far from the data
    target = emb.mean(0)  # (16, 3): the mean feature of each cell
    before = float((protos.features - target).norm(dim=1).mean())
    # One step is exactly m p + (1 - m) (plan.T K) @ F, with the plan of the step's costs.
    start = protos.features.clone()
    cost = protos.cost(emb).reshape(-1, 16)
    plan = sinkhorn_plan(cost, 0.01, 100)
    # Each embedding sends all its mass, each prototype receives about its 1/K share (after
    # 100 iterations); the barycentres are the plan's column-normalised averages.
    torch.testing.assert_close(plan.sum(1) * len(plan), torch.ones(len(plan)))
    torch.testing.assert_close(plan.sum(0) * 16, torch.ones(16), rtol=0, atol=0.01)
    bary = (plan.T @ emb.reshape(-1, 3)) / plan.sum(0)[:, None]
    protos.step(emb, reg=0.01, iterations=100, momentum=0.9)
    torch.testing.assert_close(protos.features, 0.9 * start + 0.1 * bary)
    distances = [before]
    for _ in range(60):
        protos.step(emb, reg=0.01, iterations=100, momentum=0.9)
        distances.append(float((protos.features - target).norm(dim=1).mean()))
    assert distances[-1] < 0.05 < 0.5 < before
    assert all(b <= a + 1e-6 for a, b in zip(distances, distances[1:]))  # steadily closer
    # With alpha = 0.5 each cell's prototype takes its own cell's cluster.
    picked = protos.features.argmax(dim=1)
    assert torch.equal(picked, torch.where(left, 0, 1))


def test_alpha_zero_ignores_position_and_alpha_positive_does_not():
    emb, _ = two_cluster_embeddings(n_images=1)
    maps = {}
    for alpha in (0.0, 0.5):
        protos = Prototypes(3, (4, 4), 1, alpha=alpha)
        protos.features = emb[0].clone()  # the prototype of each cell: that cell's feature
        protos.fix_scale([emb])
        same = protos.score(emb)
        swapped = protos.score(emb.reshape(1, 4, 4, 3).flip(2).reshape(1, 16, 3))
        maps[alpha] = same, swapped
        # A feature at its own prototype's cell costs nothing.
        assert float(same.abs().max()) < 1e-6
    # alpha = 0: any prototype may match anywhere: mirrored features still cost nothing.
    assert float(maps[0.0][1].abs().max()) < 1e-6
    # alpha > 0: the left cluster's features on the right half are far from their prototypes.
    assert float(maps[0.5][1].min()) > 0.05


def test_score_is_the_cost_to_the_nearest_prototype():
    gen = torch.Generator().manual_seed(1)
    emb = torch.randn(3, 16, 4, generator=gen)
    protos = Prototypes(4, (4, 4), 0.5, alpha=0.3, distance="sqeuclidean")
    protos.init_from(emb, torch.Generator().manual_seed(0))
    protos.fix_scale([emb])
    feat = torch.cdist(emb, protos.features.expand(3, -1, -1)) ** 2
    assert protos.feat_scale == pytest.approx(float(feat.max()), rel=1e-5)
    brute = (0.7 * feat / protos.feat_scale + 0.3 * protos.d_pos).min(dim=-1).values
    torch.testing.assert_close(protos.score(emb), brute.reshape(3, 4, 4), rtol=1e-5, atol=1e-6)
    assert float(protos.score(emb).max()) <= 1.0 + 1e-6  # both terms scaled to [0, 1]


# The detector ---------------------------------------------------------------------------------
@pytest.mark.parametrize("unified", [False, True], ids=["per-category", "unified"])
@pytest.mark.parametrize("layout", ["mvtec3d", "real3d"])
def test_pradot_is_above_chance_on_the_small_benchmark(small_bench, layout, unified):
    """Measured when written (I-AUROC / P-AUROC): mvtec3d 0.81 / 0.82, unified 0.84 / 0.86;
    real3d 0.94 / 0.78 (align, the default), unified 0.88 / 0.76 (align turns itself off)."""
    results = evaluate("pradot", small_bench / layout, params=SMALL, unified=unified,
                       progress=False)
    assert results["mode"] == ("unified" if unified else "per-category")
    mean = results["mean"]
    assert mean["I-AUROC"] > 0.7 and mean["P-AUROC"] > 0.7, mean


def test_save_load_seeding_and_unorganized_inputs(small_bench, tmp_path):
    params = {**SMALL, "epochs": 2}
    train = list(load_dataset(small_bench / "mvtec3d", "bottle", "train"))
    det = detectors.create("pradot", **params).fit(train)
    assert len(det.sets_) == 4  # strides 8 and 16, alphas 0 and 0.3
    sample = next(s for s in load_dataset(small_bench / "mvtec3d", "bottle", "test")
                  if s.label == 1)
    first = det.predict(sample)
    assert first.point_scores.shape == (len(sample.points),)
    assert np.isfinite(first.point_scores).all() and np.isfinite(first.score)
    assert (first.point_scores >= 0).all()
    loaded = detectors.load(det.save(tmp_path / "pradot"))
    assert loaded.get_params() == det.get_params()
    again = loaded.predict(sample)
    assert np.array_equal(again.point_scores, first.point_scores)
    assert again.score == first.score
    twin = detectors.create("pradot", **params).fit(train).predict(sample)
    np.testing.assert_allclose(twin.point_scores, first.point_scores, rtol=1e-6, atol=1e-6)
    other = detectors.create("pradot", **{**params, "seed": 1}).fit(train).predict(sample)
    assert not np.allclose(other.point_scores, first.point_scores, rtol=0, atol=1e-6)
    plain = det.predict(sample.points)  # without its grid: an unorganized cloud, 3 views
    assert plain.point_scores.shape == first.point_scores.shape
    assert np.isfinite(plain.point_scores).all()


@pytest.mark.parametrize("bad", [dict(alphas=[1.5]), dict(alphas=[]), dict(alphas="0.3"),
                                 dict(alphas=[0.3, 0.3]), dict(strides=[0]),
                                 dict(n_prototypes=1.5), dict(n_prototypes=0),
                                 dict(momentum=1.0), dict(reg=0), dict(iterations=0),
                                 dict(distance="l1"), dict(views=4), dict(epochs=0)])
def test_bad_parameters_raise_input_error(bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        detectors.create("pradot", **bad)


def test_missing_backbone_level_is_refused():
    cloud = np.random.default_rng(0).normal(size=(500, 3))
    with pytest.raises(InputError, match="stride 32"):
        detectors.create("pradot", strides=[32], size=64, epochs=1, device="cpu").fit([cloud])
    with pytest.raises(InputError, match="not fitted"):
        detectors.create("pradot").predict(cloud)
