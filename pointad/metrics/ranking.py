"""Threshold-free ranking metrics of per-element anomaly scores: ROC / AUROC, PR / AP, F1-max.

``labels``: (N,) bool or 0/1, 1 = anomalous; ``scores``: (N,) float, higher = more anomalous.
Each metric sweeps the threshold over every distinct score (``score >= t`` is flagged), with tied
scores forming a single threshold, so the numbers equal scikit-learn's ``roc_auc_score``
and ``average_precision_score``. Cost is one sort, O(N log N): 10M points take one to two seconds.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from pointad.metrics._checks import labels_and_scores


def _ranked_counts(labels: np.ndarray,
                   scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative counts at each distinct score, thresholds descending.

    ``labels`` (N,) bool, ``scores`` (N,) float64 -> ``(fps, tps, thresholds)``, each (T,) with T
    the number of distinct scores: ``fps[i]`` / ``tps[i]`` = normal / anomalous elements with
    ``score >= thresholds[i]``.
    """
    order = np.argsort(scores)[::-1]  # order inside a tie is irrelevant: only block ends are kept
    s = scores[order]
    # Last index of each block of equal scores ("!=" rather than diff(): inf - inf would be NaN).
    last = np.append(np.flatnonzero(s[1:] != s[:-1]), s.size - 1)
    tps = np.cumsum(labels[order], dtype=np.int64)[last]
    fps = (last + 1) - tps
    return fps, tps, s[last]


def roc_curve(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: ``(fpr, tpr, thresholds)``, each (T + 1,), thresholds decreasing.

    Point i flags ``score >= thresholds[i]``; the first point is (0, 0) at threshold +inf. Every
    distinct score is a point (scikit-learn's ``roc_curve(..., drop_intermediate=False)``).
    """
    y, s = labels_and_scores(labels, scores, "ROC curve")
    fps, tps, thr = _ranked_counts(y, s)
    fpr = np.concatenate([[0.0], fps / fps[-1]])
    tpr = np.concatenate([[0.0], tps / tps[-1]])
    return fpr, tpr, np.concatenate([[np.inf], thr])


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (trapezoids, ties as one threshold) = ``roc_auc_score``.

    Equals P(score of a random anomalous element > score of a random normal one), ties counting 1/2.
    """
    y, s = labels_and_scores(labels, scores, "AUROC")
    fps, tps, _ = _ranked_counts(y, s)
    # Twice the area in integer units (normal count x anomalous count), summed exactly; one
    # rounding at the final division instead of one per trapezoid.
    fps0 = np.concatenate([[0], fps])
    tps0 = np.concatenate([[0], tps])
    twice_area = int(np.sum(np.diff(fps0) * (tps0[1:] + tps0[:-1])))
    return twice_area / (2 * int(fps[-1]) * int(tps[-1]))


def precision_recall_curve(labels: ArrayLike,
                           scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PR curve ``(precision, recall, thresholds)`` in scikit-learn's layout.

    ``precision``, ``recall``: (T + 1,), ``thresholds``: (T,) increasing; point i flags
    ``score >= thresholds[i]``, and the last point is (precision 1, recall 0) with no threshold.
    """
    y, s = labels_and_scores(labels, scores, "precision-recall curve")
    fps, tps, thr = _ranked_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return (np.concatenate([precision[::-1], [1.0]]), np.concatenate([recall[::-1], [0.0]]),
            thr[::-1].copy())


def average_precision(labels: ArrayLike, scores: ArrayLike) -> float:
    """Average precision sum_n (R_n - R_{n-1}) P_n over thresholds = ``average_precision_score``.

    A step (not trapezoid) sum, so it does not reward interpolating between operating points.
    """
    y, s = labels_and_scores(labels, scores, "average precision")
    fps, tps, _ = _ranked_counts(y, s)
    recall_step = np.diff(np.concatenate([[0], tps])) / tps[-1]
    return float(np.sum(recall_step * (tps / (tps + fps))))


def f1_max(labels: ArrayLike, scores: ArrayLike) -> float:
    """Best F1 = 2PR / (P + R) over all thresholds of the PR curve."""
    y, s = labels_and_scores(labels, scores, "F1-max")
    fps, tps, _ = _ranked_counts(y, s)
    # F1 = 2 TP / (2 TP + FP + FN) and TP + FN = number of anomalous elements: no 0/0 possible.
    return float(np.max(2 * tps / (tps + fps + tps[-1])))
