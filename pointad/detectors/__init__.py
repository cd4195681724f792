"""Anomaly detectors behind one protocol and one registry.

    det = pointad.detectors.create("raw")
    det.fit(train_clouds)              # list of (N_i, 3) normal clouds (or Clouds/Samples)
    res = det.predict(points)          # res.point_scores (N,), res.score (float)
    det.save("raw.npz"); det = pointad.detectors.load("raw.npz")
    pointad.detectors.available()

Detector modules are imported when first created or loaded (:mod:`pointad.detectors.registry`).
"""
from pointad.detectors.base import Detector, Prediction
from pointad.detectors.registry import available, create, load, register
from pointad.io import CloudInput  # re-exported: defined next to Cloud (the renderer takes it too)

__all__ = ["CloudInput", "Detector", "Prediction", "available", "create", "load", "register"]
