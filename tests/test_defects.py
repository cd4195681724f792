"""Defect kinds (pointad.synthesis.defects): the result, the label rule, sizes, the registry, mixes.

Most checks run on surfaces built here with exact normals (a sampled box, a sphere, two parallel
sheets as a thin plate); the benchmark's scans (noisy, 360-degree and single-view) check the
kinds on the parts they are made for.
"""
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import cKDTree

from pointad.errors import InputError
from pointad.geometry import point_spacing
from pointad.synthesis import DefectMix, DefectResult, apply, available
from pointad.synthesis.defects import BUILTIN, DEFECTS, FRACTION_RANGE, register
from pointad.synthesis.defects.base import get_kind

KINDS = available()
BENCHMARK_KINDS = ("bulge", "dent", "crack", "scratch", "hole", "chipped_edge", "bend", "pnas")
MOVING = [k for k in KINDS if k != "hole"]
# Kinds whose peak is a target the fraction does not set (all but the hole and the bend).
RULED = [k for k in KINDS if k not in ("hole", "bend")]


def box(n=3000, extents=(40.0, 30.0, 10.0), seed=0):
    """(n, 3) points sampled uniformly on a box's surface and the exact outward normals."""
    rng = np.random.default_rng(seed)
    ext = np.asarray(extents)
    area = np.array([ext[1] * ext[2], ext[0] * ext[2], ext[0] * ext[1]]).repeat(2)
    face = rng.choice(6, n, p=area / area.sum())
    points = rng.uniform(-0.5, 0.5, (n, 3)) * ext
    normals = np.zeros((n, 3))
    axis, sign = face // 2, np.where(face % 2 == 0, 1.0, -1.0)
    points[np.arange(n), axis] = sign * ext[axis] / 2
    normals[np.arange(n), axis] = sign
    return points, normals


def sphere(n=3000, radius=20.0, seed=1):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u * radius, u.copy()


def sheets(n=3000, size=30.0, thickness=1.2, seed=2):
    """A thin plate as its two faces: squares at z = +-thickness / 2, normals +-z."""
    rng = np.random.default_rng(seed)
    points = np.c_[rng.uniform(-size / 2, size / 2, (n, 2)), np.zeros(n)]
    top = rng.random(n) < 0.5
    points[:, 2] = np.where(top, thickness / 2, -thickness / 2)
    normals = np.zeros((n, 3))
    normals[:, 2] = np.where(top, 1.0, -1.0)
    return points, normals


SURFACES = {"box": box(), "sphere": sphere()}


def moved(result, points):
    return np.linalg.norm(result.points - points, axis=1)


# ---------------------------------------------------------------- the result


@pytest.mark.parametrize("kind", KINDS)
def test_result_shapes_types_and_offsets(kind):
    points, normals = SURFACES["box"]
    r = apply(kind, points, normals, seed=3)
    n = len(points)
    assert isinstance(r, DefectResult) and r.kind == kind
    assert r.points.shape == r.offsets.shape == (n, 3)
    assert r.points.dtype == r.offsets.dtype == np.float64
    assert r.keep.shape == r.labels.shape == (n,)
    assert r.keep.dtype == r.labels.dtype == bool
    assert np.array_equal(r.offsets, r.points - points)
    assert r.labels.any() and r.params["seed"] == 3
    json.dumps(r.params)                                   # JSON-native parameters
    seen_points, seen_labels, seen_offsets = r.visible()
    assert np.array_equal(seen_points, r.points[r.keep])
    assert np.array_equal(seen_labels, r.labels[r.keep])
    assert np.array_equal(seen_offsets, r.offsets[r.keep])
    assert r.anomalous_fraction == pytest.approx(r.labels[r.keep].mean())


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_defect_other_seed_other_defect(kind):
    points, normals = SURFACES["box"]
    a = apply(kind, points, normals, seed=5)
    b = apply(kind, points, normals, seed=5)
    c = apply(kind, points, normals, seed=6)
    for field in ("points", "keep", "labels", "offsets"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert a.params == b.params
    assert not (np.array_equal(a.points, c.points) and np.array_equal(a.keep, c.keep)
                and np.array_equal(a.labels, c.labels))
    # A generator is used as is (and advanced); no seed to record then.
    rng = np.random.default_rng(5)
    d = apply(kind, points, normals, rng)
    assert np.array_equal(d.points, a.points) and "seed" not in d.params


# ---------------------------------------------------------------- the label rule


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("kind", KINDS)
def test_label_rule(kind, surface):
    points, normals = SURFACES[surface]
    for seed in (0, 1):
        r = apply(kind, points, normals, seed=seed)
        move = moved(r, points)
        assert (move[~r.labels] == 0).all()                 # unlabelled points never move
        lab = r.labels & r.keep
        if kind == "hole":
            assert r.peak == 0 and (move == 0).all() and (~r.keep).any()
            assert r.labels[~r.keep].all()                  # the removed patch is labelled
            rim, _ = cKDTree(points[~r.keep]).query(points[lab])
            assert rim.max() <= r.params["rim_mm"] + 1e-9   # the kept ones: its rim
            continue
        if kind == "bend":
            # The rigidly turned tip, every point of it; the far end moves by the peak.
            assert (move[lab] > 0).all() and move.max() == pytest.approx(r.peak)
            idx = np.flatnonzero(lab)[:: max(1, lab.sum() // 40)]
            before = np.linalg.norm(points[idx, None] - points[None, idx], axis=2)
            after = np.linalg.norm(r.points[idx, None] - r.points[None, idx], axis=2)
            np.testing.assert_allclose(after, before, atol=1e-9)
            continue
        assert r.keep.all()
        assert move[lab].min() >= 0.5 * r.peak * (1 - 1e-9), (move[lab].min(), r.peak)
        if kind == "chipped_edge":
            # The plane can push a point beyond d by the seed's distance to the edge line.
            assert move.max() >= r.peak * (1 - 1e-9)
        else:
            assert move.max() <= r.peak * (1 + 1e-9)
            assert move.max() >= 0.8 * r.peak


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "bend"])
def test_defect_stays_on_one_face_of_a_thin_plate(kind):
    """A bend turns the whole tip (both faces); every other kind stays on the seed's face."""
    points, normals = sheets()
    for seed in range(3):
        r = apply(kind, points, normals, seed=seed)
        faces = set(np.sign(normals[r.labels, 2]).astype(int).tolist())
        assert len(faces) == 1, (seed, faces)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "hole"])
def test_direction_of_the_move(kind):
    points, normals = SURFACES["box"]
    r = apply(kind, points, normals, seed=2)
    lab = r.labels
    along = np.einsum("ij,ij->i", r.offsets[lab], normals[lab])
    if kind in ("bulge", "ridge"):
        assert (along > 0).all()
    if kind in ("dent", "trench", "crack", "scratch", "chipped_edge", "pitting", "flat_spot"):
        assert (along < 0).all()                            # into the material
    if kind == "shear":
        np.testing.assert_allclose(along, 0.0, atol=1e-9)   # in the (flat) tangent plane
    if kind in ("ripple", "skewed_crater"):
        assert (along > 0).any() and (along < 0).any()      # crests and troughs; rim and bowl


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "bend"])
def test_fraction_is_honoured(kind):
    points, normals = SURFACES["box"]
    for target in (0.02, 0.05):
        got = np.mean([apply(kind, points, normals, seed=s, fraction=target).anomalous_fraction
                       for s in (0, 1)])
        assert target / 2 <= got <= 2 * target, (target, got)


def test_default_fraction_is_drawn_in_the_range():
    points, normals = SURFACES["box"]
    for seed in range(4):
        fraction = apply("bulge", points, normals, seed=seed).params["target_fraction"]
        assert FRACTION_RANGE[0] <= fraction <= FRACTION_RANGE[1]


@pytest.mark.parametrize("kind", MOVING)
def test_height_in_spacings_is_honoured(kind):
    points, normals = SURFACES["box"]
    spacing = point_spacing(points)
    for height in (5.0, (4.0, 6.0)):
        lo, hi = (height, height) if isinstance(height, float) else height
        for seed in (0, 1):
            r = apply(kind, points, normals, seed=seed, height=height, fraction=0.03)
            assert lo - 1e-9 <= r.peak / spacing <= hi + 1e-9
            assert lo - 1e-9 <= r.params["height_spacings"] <= hi + 1e-9
            top = moved(r, points).max() / spacing
            # A groove's deepest point can fall between samples; a chip can push past d.
            slack = 1.5 if kind == "chipped_edge" else 0.0
            assert 0.85 * lo <= top <= hi * (1 + 1e-9) + slack, (height, top)


def test_hole_accepts_and_ignores_height():
    points, normals = SURFACES["box"]
    a = apply("hole", points, normals, seed=1)
    b = apply("hole", points, normals, seed=1, height=(2, 3))
    assert np.array_equal(a.keep, b.keep) and np.array_equal(a.labels, b.labels)


def test_spacing_argument_sets_the_unit_of_height():
    points, normals = SURFACES["box"]
    r = apply("ridge", points, normals, seed=0, height=2.0, spacing=1.5)
    assert r.peak == pytest.approx(3.0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input(kind):
    points, normals = SURFACES["box"]
    with pytest.raises(InputError, match="normals"):
        apply(kind, points, normals[:10], seed=0)
    with pytest.raises(InputError, match="fraction"):
        apply(kind, points, normals, seed=0, fraction=0.9)
    with pytest.raises(InputError, match="fraction"):
        apply(kind, points, normals, seed=0, fraction=0.0)
    with pytest.raises(InputError, match="height"):
        apply(kind, points, normals, seed=0, height=-1.0)


def test_bad_names_seeds_and_keywords():
    points, normals = SURFACES["box"]
    with pytest.raises(InputError, match="unknown defect kind 'teapot'.*bulge.*ripple"):
        apply("teapot", points, normals, seed=0)
    with pytest.raises(InputError, match="no parameter 'aspect'.*fraction"):
        apply("bulge", points, normals, seed=0, aspect=3.0)
    with pytest.raises(InputError, match="seed"):
        apply("bulge", points, normals, seed=-1)
    with pytest.raises(InputError, match="seed"):
        apply("bulge", points, normals, seed=1.5)
    with pytest.raises(InputError, match="height"):
        apply("bulge", points, normals, seed=0, height=(5.0, 2.0))
    with pytest.raises(InputError, match="height"):
        apply("bulge", points, normals, seed=0, height="high")
    with pytest.raises(InputError, match="aspect"):
        apply("ridge", points, normals, seed=0, aspect=0.5)
    with pytest.raises(InputError, match="points"):
        apply("bulge", np.zeros((10, 2)), np.zeros((10, 2)), seed=0)


# ---------------------------------------------------------------- the registry


def test_registry_lists_every_kind_by_its_module():
    assert KINDS[:len(BUILTIN)] == list(BUILTIN)
    assert set(BENCHMARK_KINDS) <= set(KINDS)
    for name, module in BUILTIN.items():
        fn = get_kind(name)
        assert fn.__name__ == name and fn.__module__ == module
        assert "Label rule" in sys.modules[module].__doc__      # each kind states its rule


def test_importing_the_kinds_needs_no_torch():
    code = ("import sys, importlib; import pointad.synthesis; "
            "from pointad.synthesis.defects import available, BUILTIN; available(); "
            "[importlib.import_module(m) for m in BUILTIN.values()]; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_registered_kind_is_applied_and_mixed():
    points, normals = SURFACES["box"]

    def lift(points, normals, rng, *, fraction=None, spacing=None, height=None):
        new = np.asarray(points, dtype=float).copy()
        labels = np.zeros(len(new), dtype=bool)
        labels[: max(1, int(0.02 * len(new)))] = True
        new[labels] += normals[labels]
        return DefectResult(points=new, keep=np.ones(len(new), bool), labels=labels,
                            offsets=new - points, kind="lift", params={}, peak=1.0)

    register(lift)
    try:
        assert "lift" in available()
        assert apply("lift", points, normals, seed=0).labels.sum() == 60
        assert DefectMix(["lift"])(points, normals, seed=0).kind == "lift"
    finally:
        DEFECTS._entries.pop("lift")
    assert "lift" not in available()


# ---------------------------------------------------------------- mixes


def test_mix_draws_only_kinds_of_positive_weight():
    points, normals = SURFACES["box"]
    mix = DefectMix({"bulge": 1.0, "dent": 0.0, "ridge": 2.0}, fraction=0.02)
    assert mix.kinds == ["bulge", "ridge"]
    drawn = [mix(points, normals, seed=s).kind for s in range(12)]
    assert set(drawn) == {"bulge", "ridge"}
    again = mix(points, normals, seed=3)
    assert again.kind == drawn[3] and again.params["seed"] == 3
    assert again.params["defects"][0]["target_fraction"] == 0.02


def test_several_defects_combine():
    points, normals = SURFACES["box"]
    mix = DefectMix(["bulge", "hole", "trench"], n_defects=3, fraction=0.02)
    r = mix(points, normals, seed=4)
    assert len(r.params["kinds"]) == 3 and r.kind == "+".join(r.params["kinds"])
    assert np.array_equal(r.offsets, r.points - points)
    assert (moved(r, points)[~r.labels] == 0).all()
    # The same defects applied by hand, each to the kept points the previous ones left.
    rng = np.random.default_rng(4)
    current, keep = points.copy(), np.ones(len(points), bool)
    labels, offsets = np.zeros(len(points), bool), np.zeros_like(points)
    for kind in r.params["kinds"]:
        rng.choice(3, p=np.full(3, 1 / 3))                 # the mix's draw of the kind
        sub = np.flatnonzero(keep)
        one = get_kind(kind)(current[sub], normals[sub], rng, fraction=0.02)
        current[sub] = one.points
        labels[sub] |= one.labels
        keep[sub] &= one.keep
        offsets[sub] += one.offsets
    assert np.array_equal(current, r.points) and np.array_equal(keep, r.keep)
    assert np.array_equal(labels, r.labels) and np.allclose(offsets, r.offsets)
    assert r.labels.sum() > max(1, 0.02 * len(points))


def test_mix_count_range_and_a_kind_that_does_not_fit():
    points, normals = SURFACES["box"]
    counts = {len(DefectMix("bulge", n_defects=(1, 3))(points, normals, seed=s).params["kinds"])
              for s in range(12)}
    assert counts == {1, 2, 3}

    def never(points, normals, rng, *, fraction=None, spacing=None, height=None):
        raise InputError("does not fit")

    register(never)
    try:
        r = DefectMix({"never": 10.0, "dent": 1.0})(points, normals, seed=0)
        assert r.kind == "dent" and r.params["defects"][0]["failed"] == ["never"]
        with pytest.raises(InputError, match="no defect kind of the mix fits.*does not fit"):
            DefectMix(["never"])(points, normals, seed=0)
    finally:
        DEFECTS._entries.pop("never")


@pytest.mark.parametrize("weights, n, match", [
    ({"teapot": 1.0}, 1, "unknown defect kind"), ({"bulge": 0.0}, 1, "positive weight"),
    ({"bulge": -1.0}, 1, "weight"), ([], 1, "at least one kind"), (["bulge"], 0, "n_defects"),
    (["bulge"], (3, 1), "n_defects"), (["bulge"], 1.5, "n_defects"),
])
def test_mix_rejects_bad_arguments(weights, n, match):
    with pytest.raises(InputError, match=match):
        DefectMix(weights, n_defects=n)


def test_mix_rejects_a_keyword_a_kind_does_not_take():
    with pytest.raises(InputError, match="'bulge' takes no parameter 'aspect'"):
        DefectMix(["ridge", "bulge"], aspect=4.0)
    assert DefectMix(["ridge", "trench"], aspect=4.0).common == {"aspect": 4.0}


# ---------------------------------------------------------------- the benchmark's scans


@pytest.fixture(scope="module")
def scans():
    """A clean and a noisy scan (same surface points) of each scanner: (noisy, normals, clean)."""
    from pointad.synthbench import CATEGORIES, scan_depth, scan_full

    mesh = CATEGORIES["flange"](np.random.default_rng(0))
    full = scan_full(mesh, 3000, np.random.default_rng(1), sigma=0.02)
    full_clean = scan_full(mesh, 3000, np.random.default_rng(1), sigma=0.0)
    gear = CATEGORIES["gear"](np.random.default_rng(2))
    depth = scan_depth(gear, np.random.default_rng(3), (72, 72), sigma=0.02)
    depth_clean = scan_depth(gear, np.random.default_rng(3), (72, 72), sigma=0.0)
    assert np.array_equal(depth.on_part, depth_clean.on_part)
    m = depth.on_part
    return {"full": (full.points, full.normals, full_clean.points),
            "depth": (depth.xyz[m].astype(float), depth.normals[m].astype(float),
                      depth_clean.xyz[m].astype(float))}


@pytest.mark.parametrize("scanner", ["full", "depth"])
@pytest.mark.parametrize("kind", KINDS)
def test_kinds_on_the_benchmark_scans(kind, scanner, scans):
    points, normals, clean = scans[scanner]
    r = apply(kind, points, normals, seed=7)
    assert 0.005 <= r.anomalous_fraction <= 0.1, r.anomalous_fraction
    # Unlabelled points do not move: relative to the clean scan only the sensor noise remains.
    assert np.array_equal(r.points[~r.labels], points[~r.labels])
    assert np.abs(r.points[~r.labels] - clean[~r.labels]).max() < 6 * 0.02
    if kind in ("hole", "bend"):
        return
    spacing = point_spacing(points)
    lab = r.labels & r.keep
    assert moved(r, points)[lab].min() >= 0.5 * r.peak * (1 - 1e-9)
    assert r.peak >= (1.0 if kind == "scratch" else 2.0) * spacing * (1 - 1e-9)   # visible


def test_benchmark_kinds_keep_their_parameter_names(scans):
    """The manifest of the benchmark records these (pointad.synthbench.make)."""
    points, normals, _ = scans["full"]
    keys = {"bulge": "peak_mm", "dent": "peak_mm", "pnas": "peak_mm", "crack": "depth_mm",
            "scratch": "depth_mm", "chipped_edge": "depth_mm", "hole": "rim_mm",
            "bend": "angle_deg"}
    for kind in BENCHMARK_KINDS:
        r = apply(kind, points, normals, np.random.default_rng(7))
        assert keys[kind] in r.params and "target_fraction" in r.params
        assert "seed" not in r.params and "height_spacings" not in r.params
    for target in (0.01, 0.05):
        r = apply("bulge", points, normals, seed=1, fraction=target)
        assert r.labels.sum() == round(target * len(points))
