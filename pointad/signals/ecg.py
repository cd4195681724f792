"""Synthetic ECG with injected anomalies and per-sample labels (no download, seeded).

**The generator** (our own, not neurokit2: the labels need the exact place of every wave, and it
is deterministic and fast). Each beat is a sum of five Gaussian waves around its R peak, as in
McSharry et al.'s ECGSYN: P (-0.20 s), Q (-0.03 s), R (0), S (+0.03 s) and T (+0.28 s, moved
with sqrt(RR)), with per-recording amplitudes (gain 0.8-1.2), heart rate 55-85 bpm, RR
variability (respiratory sinus arrhythmia plus 2 % jitter), baseline wander (0.15-0.35 Hz) and
white noise (0.02 mV). ``leads`` > 1 gives the same beats seen through other per-wave gains
(lead II, V1-like and V5-like projections).

**Anomaly kinds and their label rules** (a time step is labelled 1 iff the rule says so):

- ``ectopic``: a premature ventricular beat at 55-70 % of the RR interval, without a P wave,
  with a wide (x3) QRS of opposite-sign S and an inverted, wide T, followed by a compensatory
  pause. Labelled: from 0.10 s before its R peak to 0.45 s after the R peak of the normal beat
  it replaces (the premature beat and the pause after it).
- ``st_shift``: 3-5 consecutive beats whose ST segment is raised or lowered by 0.15-0.30 mV
  (from the J point, R + 0.04 s, to the end of the T wave, R + 0.45 s, with 20 ms ramps).
  Labelled: where the shift is at least half its peak.
- ``noise_burst``: 0.3-1.0 s of strong high-frequency noise (std 0.15-0.30 mV, muscle artefact).
  Labelled: the burst's span.
- ``dropped_beat``: one beat left out (a sinus pause: its P, QRS and T are missing).
  Labelled: from 0.25 s before the missing R peak to 0.45 s after it.

Each anomalous recording holds one kind, one event (``st_shift``: one run of beats), placed at
random away from the first and last second. A normal and an anomalous recording of one seed
are the same recording but for the anomaly (the tests check that labels sit where it changed the
signal).
"""
from __future__ import annotations

import numpy as np

from pointad.errors import InputError
from pointad.signals.data import SignalSample, SignalSet
from pointad.validation import check_number, check_seed

KINDS = ("ectopic", "st_shift", "noise_burst", "dropped_beat")

# wave: (time offset s, amplitude mV, width s)
_WAVES = {"P": (-0.20, 0.15, 0.025), "Q": (-0.03, -0.15, 0.010), "R": (0.0, 1.0, 0.012),
          "S": (0.03, -0.25, 0.012), "T": (0.28, 0.30, 0.050)}
# per-lead gains of P, Q, R, S, T (lead II, a V1-like and a V5-like projection)
_LEADS = np.array([[1.0, 1.0, 1.0, 1.0, 1.0], [0.5, 0.3, 0.4, 2.2, -0.3],
                   [0.8, 0.6, 1.4, 0.6, 1.2]])
_BEFORE, _AFTER = 0.25, 0.45  # a beat's extent around its R peak (s)


def _gauss(t, centre, amp, width):
    return amp * np.exp(-0.5 * ((t - centre) / width) ** 2)


def _beat(t, r, rr, gains, amp, kind="normal"):
    """One beat's waves at R peak time ``r`` (s) on times ``t`` -> (T, leads)."""
    out = np.zeros((len(t), len(gains)))
    sel = np.abs(t - r) < 0.8
    tt = t[sel]
    for j, (name, (off, a, w)) in enumerate(_WAVES.items()):
        a = a * amp[j]
        if name == "T":
            off = off * np.sqrt(rr)
        if kind == "ectopic":
            if name == "P":
                continue
            if name in ("Q", "R", "S"):
                w = w * 3
            if name == "S":
                a = -a * 2
            if name == "T":
                a, w = -1.5 * a, w * 1.5
        out[sel] += _gauss(tt, r + off, a, w)[:, None] * gains[:, j][None]
    return out


def simulate_ecg(duration: float = 10.0, fs: float = 100.0, *, kind: str | None = None,
                 leads: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic recording: ``(signal (T, leads) mV, labels (T,) bool)``; ``kind`` None for
    a normal one, else one of :data:`KINDS` (see the module docstring for the label rules)."""
    duration = check_number(duration, "duration", low=3)
    fs = check_number(fs, "fs", low=50)
    leads = check_number(leads, "leads", low=1, high=len(_LEADS), integer=True)
    seed = check_seed(seed)
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown ECG anomaly kind {kind!r}; available: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    n = int(round(duration * fs))
    t = np.arange(n) / fs
    gains = _LEADS[:leads]  # (leads, 5 waves)
    amp = rng.uniform(0.8, 1.2) * rng.uniform(0.85, 1.15, size=5)
    rr0 = 60.0 / rng.uniform(55, 85)
    resp, phase = rng.uniform(0.2, 0.33), rng.uniform(0, 2 * np.pi)
    beats: list[float] = []
    r = rng.uniform(0.1, rr0)
    while r < duration + 1.0:
        beats.append(r)
        rr = rr0 * (1 + 0.04 * np.sin(2 * np.pi * resp * r + phase) + 0.02 * rng.normal())
        r += rr
    peaks = np.array(beats)
    labels = np.zeros(n, bool)
    inner = np.flatnonzero((peaks > 1.0) & (peaks < duration - 1.2))
    event = int(rng.choice(inner)) if len(inner) else -1  # the anomalous beat (-1: none fits)
    if kind is not None and event < 0:
        raise InputError(f"duration {duration} s is too short for an anomaly")
    wander = 0.1 * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t + rng.uniform(0, 2 * np.pi))
    background = wander[:, None] + rng.normal(0, 0.02, size=(n, leads))
    signal = np.zeros((n, leads))
    kinds = ["normal"] * len(peaks)
    times = peaks.copy()
    if kind == "ectopic":
        rr_prev = peaks[event] - peaks[event - 1]
        times[event] = peaks[event - 1] + rng.uniform(0.55, 0.70) * rr_prev
        kinds[event] = "ectopic"
        labels |= (t >= times[event] - 0.10) & (t <= peaks[event] + _AFTER)
    elif kind == "dropped_beat":
        kinds[event] = "dropped"
        labels |= (t >= peaks[event] - _BEFORE) & (t <= peaks[event] + _AFTER)
    for i, (r, k) in enumerate(zip(times, kinds)):
        if k == "dropped":
            continue
        rr = peaks[i] - peaks[i - 1] if i else rr0
        signal += _beat(t, r, rr, gains, amp, "ectopic" if k == "ectopic" else "normal")
    if kind == "st_shift":
        run = int(rng.integers(3, 6))
        shift = rng.choice([-1, 1]) * rng.uniform(0.15, 0.30)
        ramp = 0.02
        profile = np.zeros(n)
        for r in peaks[event:event + run]:
            a, b = r + 0.04, r + _AFTER
            up = np.clip((t - a) / ramp, 0, 1) * np.clip((b - t) / ramp, 0, 1)
            profile = np.maximum(profile, up)
        signal += (shift * profile)[:, None] * np.linspace(1, 0.6, leads)[None]
        labels |= profile >= 0.5
    elif kind == "noise_burst":
        length = rng.uniform(0.3, 1.0)
        start = rng.uniform(1.0, duration - 1.0 - length)
        span = (t >= start) & (t < start + length)
        signal[span] += rng.normal(0, rng.uniform(0.15, 0.30), size=(int(span.sum()), leads))
        labels |= span
    return signal + background, labels


def synthetic_ecg(n_train: int = 60, n_test_normal: int = 20, n_per_kind: int = 10, *,
                  kinds=KINDS, duration: float = 10.0, fs: float = 100.0, leads: int = 1,
                  seed: int = 0) -> SignalSet:
    """A synthetic ECG dataset: ``n_train`` normal training recordings, and a test split of
    ``n_test_normal`` normal recordings and ``n_per_kind`` recordings of each anomaly kind.
    Recording ``i`` of the dataset uses seed ``seed * 100003 + i`` (deterministic)."""
    n_train = check_number(n_train, "n_train", low=1, integer=True)
    n_test_normal = check_number(n_test_normal, "n_test_normal", low=0, integer=True)
    n_per_kind = check_number(n_per_kind, "n_per_kind", low=0, integer=True)
    seed = check_seed(seed)
    for k in kinds:
        if k not in KINDS:
            raise InputError(f"unknown ECG anomaly kind {k!r}; available: {', '.join(KINDS)}")
    counter = iter(range(10 ** 9))

    def draw(kind):
        return simulate_ecg(duration, fs, kind=kind, leads=leads,
                            seed=(seed * 100003 + next(counter)) % (2 ** 63))

    train = [draw(None)[0] for _ in range(n_train)]
    test = []
    for i in range(n_test_normal):
        s, lab = draw(None)
        test.append(SignalSample(s, lab, 0, "good", f"good_{i}"))
    for k in kinds:
        for i in range(n_per_kind):
            s, lab = draw(k)
            test.append(SignalSample(s, lab, 1, k, f"{k}_{i}"))
    return SignalSet("synthetic-ecg", train, test, fs)
