"""1D signals: anomaly detectors for time series (ECG, scan-line height profiles) behind the
same protocol as the 3D detectors, and the data they read.

- :func:`create` / :func:`available` / :func:`load`: the detectors by name: ``mmae`` (the
  multi-scale masked autoencoder of MMAE-ECG), ``mae`` (single-scale masked autoencoder) and
  ``window-knn`` (nearest training window), each a :class:`SignalDetector`: ``fit(list of (T,)
  or (T, C) normal signals)``, ``predict(signal) -> SignalPrediction(point_scores, score)``,
  ``save(path)``.
- :mod:`pointad.signals.ecg`: synthetic ECG with injected anomalies and per-sample labels.
- :mod:`pointad.signals.wfdb_io`: WFDB records with beat annotations, and the PTB-XL layout.
- :mod:`pointad.signals.profiles`: the rows of an organized scan as signals.

Middle layer: imports the foundation and base layers only (torch inside the functions).
"""
from pointad.signals.base import SignalDetector, SignalPrediction, as_signal
from pointad.signals.data import SignalSample, SignalSet, window_samples
from pointad.signals.registry import SIGNAL_DETECTORS, available, create, load, register

__all__ = ["SIGNAL_DETECTORS", "SignalDetector", "SignalPrediction", "SignalSample", "SignalSet",
           "as_signal", "available", "create", "load", "register", "window_samples"]
