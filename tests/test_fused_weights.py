"""tools/fused_weights.py: the P-AUROC of every point weight of fused, recomputed from a
report's saved scores of fused and of its two parts."""
import json

import numpy as np
import pytest

from conftest import TOOLS, load_script
from pointad.metrics import auroc


@pytest.fixture(scope="module")
def tool():
    return load_script(TOOLS / "fused_weights.py")


def _parts(seed, n=600):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.1).astype(np.int8)
    point = rng.normal(size=n) + 1.5 * labels * rng.random(n)
    depth = 3.0 * rng.normal(size=n) + 5.0 * labels * rng.random(n) + 10.0
    return point, depth, labels


def _mix(point, depth, w, scale=((0.2, 2.0), (10.0, 6.0))):
    (l1, s1), (l2, s2) = scale
    return w * (point - l1) / s1 + (1 - w) * (depth - l2) / s2


def test_the_curve_is_the_auroc_of_each_mix_on_the_parts_own_scale(tool):
    point, depth, labels = _parts(0)
    fused = _mix(point, depth, 0.3)
    curve, residual = tool.weight_curve(point, depth, fused, labels, 0.3)
    assert residual < 1e-9
    for k, g in enumerate(tool.WEIGHT_GRID):
        assert curve[k] == pytest.approx(auroc(labels, _mix(point, depth, g)), abs=1e-12)
    assert curve[3] == pytest.approx(auroc(labels, fused))     # the weight it used
    assert curve[-1] == pytest.approx(auroc(labels, point))    # 1: the point part alone
    assert curve[0] == pytest.approx(auroc(labels, depth))
    with pytest.raises(Exception, match="one part only"):
        tool.weight_curve(point, depth, _mix(point, depth, 1.0), labels, 1.0)


def _write(folder, method, categories, notes=None):
    """A report's files of one method (the real layout: pointad.runner.save_scores), each
    category's points as one test cloud."""
    from pointad.runner import CategoryScores, save_scores

    saved = {}
    for name, (scores, labels) in categories.items():
        anomalous = int(labels.any())
        saved[name] = CategoryScores(
            sample_ids=np.array([f"{name}_0"]), paths=np.array([f"{name}_0.pcd"]),
            defects=np.array(["bulge" if anomalous else "good"]),
            object_labels=np.array([anomalous], dtype=np.int8),
            object_scores=np.array([scores.max()]), offsets=np.array([0, len(scores)]),
            point_scores=scores, labels=labels.astype(np.int8))
    save_scores(folder / f"{method}_real3d.scores.npz", saved)
    if notes is not None:
        (folder / f"{method}_real3d.json").write_text(json.dumps({"notes": notes}))


def test_the_command_prints_each_category_and_the_mean(tool, tmp_path, capsys):
    (pa, da, ya), (pb, db, yb) = _parts(1), _parts(2)
    _write(tmp_path, "patchcore-ms", {"a": (pa, ya), "b": (pb, yb)})
    _write(tmp_path, "hetnet", {"a": (da, ya), "b": (db, yb)})
    _write(tmp_path, "fused", {"a": (_mix(pa, da, 0.4), ya), "b": (_mix(pb, db, 1.0), yb)},
           notes={"a": ["fused: point weight 0.4 (chosen on synthetic defects)"],
                  "b": ["fused: point weight 1 (chosen on synthetic defects)"]})
    assert tool.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    row_a = next(line for line in out if line.startswith("a "))
    values = [float(v) for v in row_a.split()[2:]]
    assert values[4] == pytest.approx(auroc(ya, _mix(pa, da, 0.4)), abs=1e-3)
    assert values[10] == pytest.approx(auroc(ya, pa), abs=1e-3)
    assert any(line.startswith("b ") and "one part only" in line for line in out)
    assert out[-1].startswith("mean over the 1 categories with both parts")


def test_a_missing_run_is_one_line_and_exit_2(tool, tmp_path, capsys):
    assert tool.main([str(tmp_path), "--point", "btf"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "btf_real3d.scores.npz" in err[0] and "not found" in err[0]
