"""Evaluation metrics: ranking metrics against scikit-learn, AUPRO against hand-computed curves and
slow literal reference implementations."""
import numpy as np
import pytest
from scipy import ndimage
from sklearn import metrics as skm

from pointad.errors import InputError
from pointad.metrics import (
    aupro,
    aupro_images,
    aupro_points,
    auroc,
    average_precision,
    f1_max,
    precision_recall_curve,
    pro_curve,
    roc_curve,
)
from pointad.metrics.pro import area_under_curve
from pointad.metrics.regions import region_ids_from_masks, region_ids_from_points

# ----------------------------------------------------------------------------- ranking metrics

def _ranking_data(seed, ties):
    rng = np.random.default_rng(seed)
    n = 2000
    labels = rng.random(n) < 0.3
    scores = rng.normal(size=n) + 0.8 * labels
    if ties:
        scores = np.round(scores, 1)  # ~60 distinct values: large tied blocks mixing both classes
    return labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_auroc_and_ap_equal_sklearn(seed, ties):
    labels, scores = _ranking_data(seed, ties)
    assert abs(auroc(labels, scores) - skm.roc_auc_score(labels, scores)) < 1e-12
    assert abs(average_precision(labels, scores)
               - skm.average_precision_score(labels, scores)) < 1e-12


@pytest.mark.parametrize("ties", [False, True])
def test_curves_equal_sklearn(ties):
    labels, scores = _ranking_data(5, ties)
    fpr, tpr, thr = roc_curve(labels.astype(int), scores)
    ref = skm.roc_curve(labels, scores, drop_intermediate=False)
    for ours, theirs in zip((fpr, tpr, thr), ref):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)
    for ours, theirs in zip(precision_recall_curve(labels, scores),
                            skm.precision_recall_curve(labels, scores)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)


def test_auroc_small_hand_case():
    # Anomalous scores {3, 2}, normal {2, 1}: pairs (3>2, 3>1, 2=2 tie -> 1/2, 2>1) -> 3.5 / 4.
    assert auroc([1, 1, 0, 0], [3.0, 2.0, 2.0, 1.0]) == 0.875
    # AP: thresholds 3 (R=1/2, P=1), 2 (R=1, P=2/3), 1 (R=1) -> 1/2 * 1 + 1/2 * 2/3 = 5/6.
    assert abs(average_precision([1, 1, 0, 0], [3.0, 2.0, 2.0, 1.0]) - 5 / 6) < 1e-15


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ties", [False, True])
def test_f1_max_equals_brute_force(seed, ties):
    labels, scores = _ranking_data(seed, ties)
    labels, scores = labels[:400], scores[:400]
    best = 0.0
    for t in np.unique(scores):
        pred = scores >= t
        tp = np.sum(pred & labels)
        p, r = tp / pred.sum(), tp / labels.sum()
        best = max(best, 0.0 if tp == 0 else 2 * p * r / (p + r))
    assert abs(f1_max(labels, scores) - best) < 1e-12


@pytest.mark.parametrize("fn", [auroc, average_precision, f1_max, roc_curve,
                                precision_recall_curve])
def test_ranking_rejects_bad_input(fn):
    with pytest.raises(InputError, match="undefined when all labels are equal"):
        fn([0, 0, 0], [0.1, 0.5, 0.2])
    with pytest.raises(InputError, match="undefined when all labels are equal"):
        fn([True, True], [0.1, 0.5])
    with pytest.raises(InputError, match="NaN"):
        fn([0, 1, 1], [0.1, np.nan, 0.2])
    with pytest.raises(InputError, match="3 elements but scores has 2"):
        fn([0, 1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="0/1"):
        fn([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="empty"):
        fn([], [])


def test_auroc_message_names_auroc():
    with pytest.raises(InputError, match="AUROC is undefined when all labels are equal"):
        auroc(np.zeros(5), np.arange(5.0))


# --------------------------------------------------------------------------------------- AUPRO

def test_aupro_perfect_detector_is_one():
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[2:4, 2:5] = 255
    mask[6, 6] = 1
    assert aupro_images([mask.astype(float)], [mask]) == 1.0
    assert aupro_images([mask.astype(float)], [mask], num_thresholds=100) == 1.0


def _two_region_case():
    """11 x 11 image: region A = 1 pixel, region B = 20 pixels, 100 normal (OK) pixels.

    Scores: A 1.0 | 20 OK at 0.8 | 10 B at 0.7 | 20 OK at 0.6 | 10 B at 0.5 | 60 OK at 0.0.
    """
    mask = np.zeros((11, 11), dtype=bool)
    mask[0, 0] = True                 # A
    mask[5:7, 0:10] = True            # B: 2 x 10
    scores = np.zeros((11, 11))
    scores[0, 0] = 1.0
    scores[5, 0:10] = 0.7
    scores[6, 0:10] = 0.5
    ok = np.flatnonzero(~mask.ravel())
    scores.ravel()[ok[:20]] = 0.8
    scores.ravel()[ok[20:40]] = 0.6
    return scores, mask


def test_aupro_weighs_regions_not_pixels():
    scores, mask = _two_region_case()
    ids, n = region_ids_from_masks([mask])
    assert n == 2 and sorted(np.bincount(ids)[1:]) == [1, 20]
    # Each OK pixel adds 1/100 to the FPR; A's pixel adds 1/(1*2) = 0.5 to the PRO, each B pixel
    # 1/(20*2) = 0.025. Curve: (0,0) (0,0.5) (0.2,0.5) (0.2,0.75) (0.4,0.75) (0.4,1) (1,1) (1,1).
    fpr, pro = pro_curve(scores.ravel(), ids, n)
    np.testing.assert_allclose(fpr, [0, 0, 0.2, 0.2, 0.4, 0.4, 1, 1], atol=1e-15)
    np.testing.assert_allclose(pro, [0, 0.5, 0.5, 0.75, 0.75, 1, 1, 1], atol=1e-15)
    # Area to 0.3: 0.2 * 0.5 = 0.1, then 0.2 -> 0.3 at 0.75 (interpolated between (0.2, 0.75) and
    # (0.4, 0.75)): 0.075. Total 0.175, normalized 0.175 / 0.3.
    assert abs(aupro_images([scores], [mask]) - 0.175 / 0.3) < 1e-9


def test_aupro_all_ties_is_the_diagonal():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:3, 1:3] = True
    mask[5, 5] = True
    ids, n = region_ids_from_masks([mask])
    fpr, pro = pro_curve(np.full(36, 0.7), ids, n)
    np.testing.assert_allclose(fpr, [0, 1, 1])
    np.testing.assert_allclose(pro, [0, 1, 1])
    # Under the diagonal up to 0.3: 0.5 * 0.3 * 0.3 = 0.045; normalized 0.045 / 0.3 = 0.15.
    assert abs(aupro_images([np.full((6, 6), 0.7)], [mask]) - 0.15) < 1e-12
    # Up to FPR 1: the whole triangle, 0.5.
    assert abs(aupro_images([np.full((6, 6), 0.7)], [mask], fpr_limit=1.0) - 0.5) < 1e-12


def test_defect_free_image_only_adds_normal_pixels():
    scores, mask = _two_region_case()
    clean_scores, clean_mask = np.zeros((10, 10)), np.zeros((10, 10), dtype=bool)
    ids, n = region_ids_from_masks([mask, clean_mask])
    assert n == 2 and np.all(ids[121:] == 0)
    # 100 more OK pixels at score 0: N_ok = 200, each OK pixel adds 1/200 to the FPR.
    # Curve: (0,0) (0,0.5) (0.1,0.5) (0.1,0.75) (0.2,0.75) (0.2,1) (1,1) (1,1).
    # Area to 0.3: 0.1 * 0.5 + 0.1 * 0.75 + 0.1 * 1 = 0.225; normalized 0.225 / 0.3 = 0.75.
    assert abs(aupro_images([scores, clean_scores], [mask, clean_mask]) - 0.75) < 1e-9
    # The same clean image scored 0.9 (above every B pixel, below A): 100 OK pixels at 0.9 come
    # right after A: (0,0.5) (0.5,0.5) ... -> area to 0.3 = 0.3 * 0.5 = 0.15, normalized 0.5.
    assert abs(aupro_images([scores, np.full((10, 10), 0.9)], [mask, clean_mask]) - 0.5) < 1e-9


def test_regions_are_eight_connected_and_numbered_globally():
    _, n = region_ids_from_masks([np.array([[1, 0], [0, 1]])])
    assert n == 1  # diagonal neighbours are one region
    _, n = region_ids_from_masks([np.array([[0, 1], [1, 0]])])
    assert n == 1
    _, n = region_ids_from_masks([np.array([[1, 0, 1]])])
    assert n == 2  # a gap of one pixel separates
    ids, n = region_ids_from_masks([np.array([[1, 0, 1]]), np.array([[0, 1]])])
    assert n == 3 and ids.tolist() == [1, 0, 2, 0, 3]


def test_area_interpolates_at_the_limit():
    x, y = [0.0, 0.2, 0.5, 1.0], [0.0, 0.4, 1.0, 1.0]
    # 0 -> 0.2: 0.5 * 0.4 * 0.2 = 0.04; y at 0.3 = 0.4 + 0.6 * 0.1 / 0.3 = 0.6;
    # 0.2 -> 0.3: 0.5 * (0.4 + 0.6) * 0.1 = 0.05. Total 0.09.
    assert abs(area_under_curve(x, y, 0.3) - 0.09) < 1e-15
    # The area is continuous as the limit crosses a sample.
    assert abs(area_under_curve(x, y, 0.2) - 0.04) < 1e-15
    assert abs(area_under_curve(x, y, 0.2 + 1e-9) - 0.04) < 1e-9
    # Non-finite points are dropped.
    assert abs(area_under_curve(x + [np.nan], y + [1.0], 0.3) - 0.09) < 1e-15


def test_aupro_interpolates_a_tied_block_straddling_the_limit():
    # One region of 10 pixels, 10 OK pixels. 2 OK at 0.9 -> (0.2, 0); a tie at 0.5 of 3 OK and
    # 6 region pixels -> (0.5, 0.6); the rest at 0.1 -> (1, 1).
    scores = np.array([0.9] * 2 + [0.5] * 3 + [0.1] * 5 + [0.5] * 6 + [0.1] * 4)
    ids = np.array([0] * 10 + [1] * 10)
    fpr, pro = pro_curve(scores, ids, 1)
    np.testing.assert_allclose(fpr, [0, 0.2, 0.5, 1, 1], atol=1e-15)
    np.testing.assert_allclose(pro, [0, 0, 0.6, 1, 1], atol=1e-15)
    # y at 0.3 = 0.6 * 0.1 / 0.3 = 0.2; area 0.5 * 0.2 * 0.1 = 0.01; normalized 0.01 / 0.3.
    assert abs(aupro(scores, ids, 1) - 0.01 / 0.3) < 1e-12
    # At a sample (0.5): 0.5 * 0.6 * 0.3 = 0.09; normalized 0.18.
    assert abs(aupro(scores, ids, 1, fpr_limit=0.5) - 0.18) < 1e-12


def test_sampled_thresholds_hand_case():
    # OK scores 0.1 .. 0.4, one region {0.25, 0.45}; K = 4 -> pos [0, 1, 2, 3], thresholds
    # 0.1 .. 0.4, FPR = 1 - (pos + 1) / 4 = [0.75, 0.5, 0.25, 0], overlap (> t) = [1, 1, 0.5, 0.5].
    # With (1, 1) and reversed: (0,0.5) (0.25,0.5) (0.5,1) (0.75,1) (1,1).
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.25, 0.45])
    ids = np.array([0, 0, 0, 0, 1, 1])
    fpr, pro = pro_curve(scores, ids, 1, num_thresholds=4)
    np.testing.assert_allclose(fpr, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(pro, [0.5, 0.5, 1, 1, 1])
    # 0 -> 0.25: 0.125; y at 0.3 = 0.5 + 0.5 * 0.05 / 0.25 = 0.6; 0.25 -> 0.3: 0.5 * 1.1 * 0.05
    # = 0.0275. Total 0.1525, normalized 0.1525 / 0.3.
    assert abs(aupro(scores, ids, 1, num_thresholds=4) - 0.1525 / 0.3) < 1e-12
    # The exact curve counts ">=": (0,0.5) (0.25,0.5) (0.5,0.5) (0.5,1) ... -> 0.3 * 0.5 / 0.3.
    assert abs(aupro(scores, ids, 1) - 0.5) < 1e-12


def _random_case(seed, n_images=3, shape=(24, 32)):
    """Random maps and masks with several blob-shaped regions (and one defect-free image)."""
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for i in range(n_images):
        mask = ndimage.gaussian_filter(rng.normal(size=shape), 2.0) > 0.12
        if i == n_images - 1:
            mask[:] = False
        amap = np.round(rng.random(shape) + 0.6 * mask, 2)  # rounding makes many ties
        maps.append(amap)
        masks.append(mask)
    return maps, masks


def _integrate_literally(x, y, limit):
    """Trapezoids over the points with x <= limit plus the piece up to the limit."""
    area = 0.0
    for i in range(1, len(x)):
        if x[i] <= limit:
            area += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1])
        else:
            if x[i - 1] < limit:
                y_lim = y[i - 1] + (y[i] - y[i - 1]) * (limit - x[i - 1]) / (x[i] - x[i - 1])
                area += 0.5 * (y[i - 1] + y_lim) * (limit - x[i - 1])
            break
    return area


def _slow_exact_aupro(maps, masks, limit=0.3):
    scores = np.concatenate([m.ravel() for m in maps])
    ok = np.concatenate([~(k.ravel() != 0) for k in masks])
    regions = []
    for amap, mask in zip(maps, masks):
        lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [amap[lab == r] for r in range(1, n + 1)]
    xs, ys = [0.0], [0.0]
    for t in np.unique(scores)[::-1]:
        xs.append(np.mean(scores[ok] >= t))
        ys.append(np.mean([np.mean(reg >= t) for reg in regions]))
    xs.append(1.0)
    ys.append(1.0)
    return _integrate_literally(xs, ys, limit) / limit


def _slow_sampled_aupro(maps, masks, k=100, limit=0.3):
    scores = np.concatenate([m.ravel() for m in maps])
    ok_sorted = np.sort(scores[np.concatenate([k_.ravel() == 0 for k_ in masks])])
    regions = []
    for amap, mask in zip(maps, masks):
        lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [amap[lab == r] for r in range(1, n + 1)]
    xs, ys = [1.0], [1.0]
    pos = np.linspace(0, len(ok_sorted) - 1, k).astype(int)
    for p in pos:
        t = ok_sorted[p]
        xs.append(1 - (p + 1) / len(ok_sorted))
        ys.append(np.mean([np.mean(reg > t) for reg in regions]))
    return _integrate_literally(xs[::-1], ys[::-1], limit) / limit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_aupro_equals_slow_reference(seed):
    maps, masks = _random_case(seed)
    _, n = region_ids_from_masks(masks)
    assert n >= 3
    for limit in (0.3, 0.05, 1.0):
        assert abs(aupro_images(maps, masks, fpr_limit=limit)
                   - _slow_exact_aupro(maps, masks, limit)) < 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_aupro_equals_slow_reference(seed):
    maps, masks = _random_case(seed)
    for k in (100, 7):
        assert abs(aupro_images(maps, masks, num_thresholds=k)
                   - _slow_sampled_aupro(maps, masks, k)) < 1e-9


def test_aupro_images_rejects_bad_input():
    amap, mask = np.zeros((4, 4)), np.zeros((4, 4), dtype=bool)
    with pytest.raises(InputError, match="no ground-truth mask has an anomalous pixel"):
        aupro_images([amap], [mask])
    with pytest.raises(InputError, match="no normal"):
        aupro_images([amap], [~mask])
    with pytest.raises(InputError, match="shape"):
        aupro_images([amap], [np.ones((4, 5))])
    with pytest.raises(InputError, match="empty"):
        aupro_images([], [])
    with pytest.raises(InputError, match="2 images but gt_masks has 1"):
        aupro_images([amap, amap], [mask])
    with pytest.raises(InputError, match="NaN"):
        aupro_images([np.full((4, 4), np.nan)], [~mask])
    mask[0, 0] = True
    with pytest.raises(InputError, match="fpr_limit"):
        aupro_images([amap], [mask], fpr_limit=0.0)
    with pytest.raises(InputError, match="num_thresholds"):
        aupro_images([amap], [mask], num_thresholds=1)


# ---------------------------------------------------------------------------------- point clouds

def test_two_blobs_on_a_plane_are_two_regions():
    rng = np.random.default_rng(0)
    u, v = np.meshgrid(np.arange(40) * 0.25, np.arange(40) * 0.25)
    uv = np.stack([u.ravel(), v.ravel()], 1) + rng.uniform(-0.05, 0.05, size=(1600, 2))
    rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # a random plane in 3D
    points = np.column_stack([uv, np.zeros(1600)]) @ rot.T + [5.0, -2.0, 1.0]
    blob_a = np.linalg.norm(uv - [2.5, 2.5], axis=1) < 1.2
    blob_b = np.linalg.norm(uv - [7.0, 6.5], axis=1) < 0.8
    labels = blob_a | blob_b
    ids, n = region_ids_from_points([points], [labels])  # radius = 3 x median spacing (0.25)
    assert n == 2
    assert sorted(np.bincount(ids)[1:]) == sorted([blob_a.sum(), blob_b.sum()])
    # A radius below the spacing leaves every anomalous point alone.
    _, n_small = region_ids_from_points([points], [labels], radius=0.1)
    assert n_small == labels.sum()
    # The detector that ranks blob B first (and blob A last, below the normal points).
    scores = np.where(blob_b, 2.0, np.where(blob_a, -1.0, rng.random(1600)))
    # PRO jumps to 0.5 at FPR 0 and stays there until FPR 1: AUPRO = 0.5.
    assert abs(aupro_points([points], [scores], [labels]) - 0.5) < 1e-12


@pytest.mark.parametrize("seed", [3, 4])
def test_points_on_a_grid_reproduce_images(seed):
    maps, masks = _random_case(seed)
    points, scores, labels = [], [], []
    for amap, mask in zip(maps, masks):
        rows, cols = np.indices(amap.shape)
        points.append(np.column_stack([cols.ravel(), rows.ravel(), np.zeros(amap.size)]))
        scores.append(amap.ravel())
        labels.append(mask.ravel())
    _, n_img = region_ids_from_masks(masks)
    _, n_pts = region_ids_from_points(points, labels, radius=1.5)  # sqrt(2) < 1.5 < 2
    assert n_img == n_pts
    for k in (None, 100):
        assert abs(aupro_points(points, scores, labels, radius=1.5, num_thresholds=k)
                   - aupro_images(maps, masks, num_thresholds=k)) < 1e-12


def test_aupro_points_rejects_bad_input():
    points = np.random.default_rng(0).random((10, 3))
    labels = np.zeros(10, dtype=bool)
    labels[:3] = True
    with pytest.raises(InputError, match="9 labels but the cloud has 10"):
        aupro_points([points], [np.zeros(10)], [labels[:9]])
    with pytest.raises(InputError, match="scores_list"):
        aupro_points([points], [np.zeros(9)], [labels])
    with pytest.raises(InputError, match="no cloud has an anomalous point"):
        aupro_points([points], [np.zeros(10)], [np.zeros(10)])
    with pytest.raises(InputError, match="radius"):
        aupro_points([points], [np.zeros(10)], [labels], radius=-1.0)
