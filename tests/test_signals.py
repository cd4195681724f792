"""pointad.signals: the 1D detectors (mmae, mae, window-knn), their masks, the ECG data (synthetic,
WFDB, PTB-XL layout), scan rows as signals, the 1D evaluation and ``pnas signals eval``."""
import json

import numpy as np
import pytest

import pointad.signals as signals
from pointad.errors import InputError
from pointad.metrics import auroc
from pointad.signals.ecg import KINDS, simulate_ecg, synthetic_ecg
from pointad.signals.masking import covering_masks, random_masks

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# A tiny MMAE for 5-s recordings at 100 Hz: windows of 10 segments of 10 steps.
TINY = dict(segment_length=10, n_segments=10, mask_ratio=0.5, local_window=3, dim=16, depth=1,
            heads=2, steps=60, batch_size=16, n_maskings=4, device="cpu")


@pytest.fixture(scope="module")
def ecg():
    return synthetic_ecg(n_train=12, n_test_normal=4, n_per_kind=2, duration=5.0, seed=3)


@pytest.fixture(scope="module")
def tiny(ecg):
    return signals.create("mmae", **TINY).fit(ecg.train)


# -- masks ------------------------------------------------------------------------------------
def test_random_masks_cover_what_they_claim():
    rng = np.random.default_rng(0)
    m = random_masks(rng, 200, 20, 0.5, 4)
    assert (m.global_.sum(1) == 10).all()              # exactly round(0.5 * 20) per window
    assert (m.local.sum(1) == 2).all()                 # round(0.5 * 4) inside the region
    assert m.start.min() >= 0 and m.start.max() <= 16  # the region fits
    assert len(set(m.start.tolist())) > 10             # and moves
    expected = m.global_.copy()
    for b in range(200):
        expected[b, m.start[b]:m.start[b] + 4] |= m.local[b]
    assert np.array_equal(m.hidden, expected)          # hidden = global OR local, in place
    assert np.array_equal(m.local_hidden[np.arange(200)],
                          np.stack([m.hidden[b, m.start[b]:m.start[b] + 4] for b in range(200)]))
    # The region is masked more densely than the rest: 1 - (1 - 0.5)(1 - 0.5) on average.
    region = m.local_hidden.mean()
    assert 0.68 < region < 0.82 and abs(m.global_.mean() - 0.5) < 1e-12
    plain = random_masks(rng, 10, 20, 0.5, 0)          # the MAE: no local scale
    assert plain.local.shape == (10, 0) and np.array_equal(plain.hidden, plain.global_)


def test_covering_masks_hide_every_segment_equally_often():
    m = covering_masks(np.random.default_rng(1), 8, 20, 0.5, 4)
    assert (m.global_.sum(1) == 10).all()
    assert (m.global_.sum(0) == 4).all()  # 8 maskings, 2 chunks: every segment 4 times
    m3 = covering_masks(np.random.default_rng(1), 6, 30, 0.33, 0)
    assert (m3.global_.sum(0) == 2).all() and (m3.global_.sum(1) == 10).all()
    again = covering_masks(np.random.default_rng(1), 8, 20, 0.5, 4)
    assert np.array_equal(again.hidden, m.hidden) and np.array_equal(again.start, m.start)


def test_encoder_and_decoder_see_no_hidden_segment():
    import torch

    from pointad.device import seeded
    from pointad.signals.mmae import build_net
    with seeded(0):
        net = build_net(5, 2, 12, 4, 16, 2, 2, 2.0).eval()
    m = random_masks(np.random.default_rng(2), 3, 12, 0.5, 4)
    hidden, start = torch.from_numpy(m.hidden), torch.from_numpy(m.start)
    local_hidden = torch.from_numpy(m.local_hidden)
    x = torch.randn(3, 12, 10, generator=torch.Generator().manual_seed(0))
    changed = x.clone()
    changed[hidden] = 100.0  # rewrite every hidden segment
    with torch.no_grad():
        enc, pad = net.encode(x, hidden, start, local_hidden)
        enc2, _ = net.encode(changed, hidden, start, local_hidden)
        out, out2 = net(x, hidden, start, local_hidden), net(changed, hidden, start, local_hidden)
    assert torch.allclose(enc[~pad], enc2[~pad], atol=1e-6)
    assert torch.allclose(out, out2, atol=1e-6)  # the decoder's output does not move either
    visible = x.clone()
    visible[~hidden] += 1.0  # a visible change must reach the output (the test can fail)
    with torch.no_grad():
        assert not torch.allclose(net(visible, hidden, start, local_hidden), out, atol=1e-3)


def test_targets_are_normalised_per_segment_and_channel():
    import torch

    from pointad.signals.mmae import normalised_targets
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 3, 8 * 2, generator=g) * 5 + 3
    tokens[0, 0] = 0.01 * torch.randn(16, generator=g)  # nearly flat: the floor keeps it small
    t = normalised_targets(tokens, 8, 2, 0.1).reshape(2, 3, 8, 2)
    assert torch.allclose(t.mean(2), torch.zeros(2, 3, 2), atol=1e-5)
    assert torch.allclose(t[:, 1:].std(2, unbiased=False), torch.ones(2, 2, 2), atol=1e-4)
    assert t[0, 0].abs().max() < 0.2


# -- detectors -------------------------------------------------------------------------------
def test_registry():
    assert signals.available() == ["mae", "mmae", "window-knn"]
    with pytest.raises(InputError, match="unknown signal detector 'nope'"):
        signals.create("nope")
    with pytest.raises(InputError, match="bogus"):
        signals.create("mmae", bogus=1)
    with pytest.raises(InputError, match="local_window"):
        signals.create("mmae", local_window=0)
    with pytest.raises(InputError, match="mask_ratio"):
        signals.create("mae", mask_ratio=0.9)
    det = signals.create("mae", steps=5)
    assert "local_window" not in det.get_params() and det.local_window == 0
    assert type(det)(**det.get_params()).get_params() == det.get_params()


def test_aggregation_is_deterministic_by_seed(tiny, ecg):
    x = ecg.test[-1].signal
    a, b = tiny.predict(x), tiny.predict(x)
    assert np.array_equal(a.point_scores, b.point_scores) and a.score == b.score
    assert a.point_scores.shape == (len(x),) and np.isfinite(a.point_scores).all()
    twin = signals.create("mmae", **TINY).fit(ecg.train).predict(x)
    np.testing.assert_allclose(twin.point_scores, a.point_scores, rtol=0, atol=1e-5)
    other = signals.create("mmae", **{**TINY, "seed": 1}).fit(ecg.train).predict(x)
    assert not np.allclose(other.point_scores, a.point_scores, atol=1e-4)


def test_global_random_state_untouched(ecg):
    import torch
    torch.manual_seed(5)
    np.random.seed(6)
    before = torch.get_rng_state(), np.random.get_state()[1].copy()
    det = signals.create("mmae", **{**TINY, "steps": 3}).fit(ecg.train)
    det.predict(ecg.test[0].signal)
    assert torch.equal(before[0], torch.get_rng_state())
    assert np.array_equal(before[1], np.random.get_state()[1])


@pytest.mark.parametrize("name", ["mmae", "window-knn"])
def test_save_load_gives_identical_scores(name, tiny, ecg, tmp_path):
    det = tiny if name == "mmae" else signals.create("window-knn").fit(ecg.train)
    x = ecg.test[5].signal
    first = det.predict(x)
    path = det.save(tmp_path / "det")
    assert path.suffix == ".npz"
    loaded = signals.load(path)
    assert type(loaded) is type(det) and loaded.get_params() == det.get_params()
    again = loaded.predict(x)
    assert np.array_equal(again.point_scores, first.point_scores) and again.score == first.score
    with pytest.raises(InputError, match="exists"):
        det.save(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="junk.npz"):
        signals.load(tmp_path / "junk.npz")


def test_long_and_short_signals_and_channels(ecg):
    two = [np.stack([s[:, 0], -0.5 * s[:, 0]], 1) for s in ecg.train[:4]]
    det = signals.create("mmae", **{**TINY, "steps": 5}).fit(two)
    long = np.concatenate([two[0], two[1], two[2][:37]])  # not a multiple of the window
    res = det.predict(long)
    assert res.point_scores.shape == (len(long),) and np.isfinite(res.point_scores).all()
    short = det.predict(two[0][:25])  # shorter than one window (100), longer than a segment
    assert short.point_scores.shape == (25,)
    with pytest.raises(InputError, match="2 channels.*fitted on 1|1 channel.*fitted on 2"):
        det.predict(two[0][:, 0])


@pytest.mark.parametrize("name", ["mmae", "window-knn"])
def test_bad_input_gets_a_clear_error(name, ecg):
    det = signals.create(name, **(TINY | {"steps": 2} if name == "mmae" else {}))
    x = ecg.train[0]
    with pytest.raises(InputError, match="not fitted"):
        det.predict(x)
    nan = x.copy()
    nan[7, 0] = np.nan
    with pytest.raises(InputError, match="training signal 1: NaN or inf at time step 7"):
        det.fit([x, nan])
    with pytest.raises(InputError, match="training signal 0: 3 time steps, too short"):
        det.fit([x[:3]])
    with pytest.raises(InputError, match="at least one"):
        det.fit([])
    with pytest.raises(InputError, match="list of training signals"):
        det.fit(x)
    with pytest.raises(InputError, match="channels?, but the detector was fitted"):
        det.fit([x, np.hstack([x, x])])
    det.fit([x])
    for bad, match in [(nan, "NaN"), (x[:3], "too short"), (np.hstack([x, x]), "2 channels"),
                       ("ecg", "numeric"), (np.zeros((4, 2, 2)), "shape")]:
        with pytest.raises(InputError, match=match):
            det.predict(bad)


def test_window_knn_finds_noise_bursts(ecg):
    det = signals.create("window-knn", window=30, stride=5).fit(ecg.train)
    chosen = [s for s in ecg.test if s.kind in ("good", "noise_burst")]
    preds = [det.predict(s.signal) for s in chosen]
    labels = np.concatenate([s.labels for s in chosen])
    assert auroc(labels, np.concatenate([p.point_scores for p in preds])) > 0.9
    assert auroc([s.label for s in chosen], [p.score for p in preds]) == 1.0


# -- data -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_anomalies_are_labelled_where_injected(kind):
    for seed in range(4):
        normal, none = simulate_ecg(6.0, kind=None, seed=seed)
        x, labels = simulate_ecg(6.0, kind=kind, seed=seed)
        assert not none.any() and labels.any()
        change = np.abs(x - normal)[:, 0]
        # Where the anomaly changed the signal by at least half its peak change, it is labelled;
        # and labels form one run (one event; st_shift: the ST segments of up to 5 beats).
        assert not ((change >= 0.5 * change.max()) & ~labels).any()
        runs = np.count_nonzero(np.diff(labels.astype(int)) == 1)
        assert runs <= (5 if kind == "st_shift" else 1)  # st_shift: one run per shifted beat
        if kind == "noise_burst":  # exactly the burst
            assert np.array_equal(change > 0, labels)
        if kind == "dropped_beat":  # 0.25 s before to 0.45 s after the missing R peak
            assert labels.sum() in (70, 71)  # 0.70 s; R peaks fall between samples
    a, _ = simulate_ecg(kind="ectopic", leads=3, seed=1)
    b, _ = simulate_ecg(kind="ectopic", leads=3, seed=1)
    assert a.shape == (1000, 3) and np.array_equal(a, b)
    with pytest.raises(InputError, match="unknown ECG anomaly kind 'flutter'"):
        simulate_ecg(kind="flutter")


def test_synthetic_dataset_layout():
    ds = synthetic_ecg(n_train=3, n_test_normal=2, n_per_kind=1, seed=0)
    assert len(ds.train) == 3 and [s.kind for s in ds.test] == ["good", "good", *KINDS]
    assert [s.label for s in ds.test] == [0, 0, 1, 1, 1, 1]
    assert all(s.labels.any() == bool(s.label) for s in ds.test)
    again = synthetic_ecg(n_train=3, n_test_normal=2, n_per_kind=1, seed=0)
    assert all(np.array_equal(a.signal, b.signal) for a, b in zip(ds.test, again.test))


def _write_record(tmp_path, name, beats, fs=100, n=2000):
    import wfdb
    t = np.arange(n) / fs
    sig = np.stack([np.sin(2 * np.pi * t), 0.5 * np.cos(2 * np.pi * t)], 1)
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["II", "V1"], p_signal=sig,
                fmt=["16", "16"], write_dir=str(tmp_path))
    samples, symbols = zip(*beats)
    wfdb.wrann(name, "atr", np.array(samples), list(symbols), write_dir=str(tmp_path))
    return sig


def test_wfdb_record_round_trip_with_labels(tmp_path):
    from pointad.signals.wfdb_io import load_wfdb_dir, read_wfdb
    beats = [(100, "N"), (300, "V"), (500, "N"), (700, "A"), (900, "+"), (1500, "N")]
    sig = _write_record(tmp_path, "r1", beats)
    x, labels, fs = read_wfdb(tmp_path / "r1")
    assert fs == 100 and x.shape == (2000, 2)
    np.testing.assert_allclose(x, sig, atol=2e-3)  # 16-bit samples
    expected = np.zeros(2000, bool)
    expected[275:346] = True  # V at 300: 0.25 s before, 0.45 s after
    expected[675:746] = True  # A at 700; N and the rhythm mark '+' label nothing
    assert np.array_equal(labels, expected)
    _, only_v, _ = read_wfdb(tmp_path / "r1", abnormal=("V",))
    assert only_v.sum() == 71
    # Windows of 2 s: the first half of the record gives normal training windows only
    # (0-2 s holds V: left out), the second half the test windows, labelled by their samples.
    _write_record(tmp_path, "r2", [(1300, "V"), (1800, "N")])
    ds = load_wfdb_dir(tmp_path, window_s=2.0)
    assert ds.fs == 100 and all(w.shape == (200, 2) for w in ds.train)
    assert len(ds.train) == 3 + 5  # r1's windows 1 and 3 hold abnormal beats
    assert [w.label for w in ds.test] == [0] * 5 + [0, 1, 0, 0, 0]
    assert ds.test[6].labels.sum() == 71 and ds.test[6].name == "r2[200:400]"
    with pytest.raises(InputError, match="no WFDB header"):
        read_wfdb(tmp_path / "missing")
    with pytest.raises(InputError, match="no WFDB records"):
        load_wfdb_dir(tmp_path / "empty")


def test_ptbxl_layout(tmp_path):
    import wfdb

    from pointad.signals.wfdb_io import load_ptbxl
    rows = []
    rng = np.random.default_rng(0)
    codes = ["{'NORM': 100.0, 'SR': 0.0}", "{'IMI': 50.0}", "{'NORM': 80.0}",
             "{'NORM': 100.0}", "{'NORM': 100.0}", "{'AFIB': 100.0}"]
    folds = [1, 2, 3, 9, 10, 10]
    (tmp_path / "records100" / "00000").mkdir(parents=True)
    for i, (code, fold) in enumerate(zip(codes, folds), 1):
        name = f"{i:05d}_lr"
        wfdb.wrsamp(name, fs=100, units=["mV"] * 2, sig_name=["I", "II"],
                    p_signal=rng.normal(size=(1000, 2)), fmt=["16", "16"],
                    write_dir=str(tmp_path / "records100" / "00000"))
        rows.append(f'{i},"{code}",{fold},records100/00000/{name},records500/00000/{i:05d}_hr')
    (tmp_path / "ptbxl_database.csv").write_text(
        "ecg_id,scp_codes,strat_fold,filename_lr,filename_hr\n" + "\n".join(rows) + "\n")
    ds = load_ptbxl(tmp_path)
    assert len(ds.train) == 1 and ds.train[0].shape == (1000, 2)  # NORM 80 and IMI left out
    assert [s.label for s in ds.test] == [0, 0, 1] and all(s.labels is None for s in ds.test)
    with pytest.raises(InputError, match="no ptbxl_database.csv"):
        load_ptbxl(tmp_path / "records100")


def test_scan_rows_fill_gaps_and_skip_empty_rows():
    from pointad.signals.profiles import scan_rows
    image = np.zeros((3, 6, 3))
    image[0, :, 2] = [1, 2, 0, 0, 5, 6]
    image[0, :, 0] = 1.0
    image[0, 2:4] = 0.0  # all-zero pixels are missing (MVTec 3D-AD)
    image[2, :, :] = 1.0
    image[2, 1] = 0.0
    rows_out, rows, valid = scan_rows(image)
    assert rows.tolist() == [0, 2] and valid.sum() == 4 + 5
    np.testing.assert_allclose(rows_out[0][:, 0], [1, 2, 3, 4, 5, 6])
    assert rows_out[1].shape == (6, 1) and np.allclose(rows_out[1], 1.0)
    assert scan_rows(image, channels="xyz")[0][0].shape == (6, 3)
    with pytest.raises(InputError, match="channels"):
        scan_rows(image, channels="rgb")


# -- evaluation and CLI ----------------------------------------------------------------------
def test_evaluate_signals_gives_runner_results(ecg, tmp_path):
    from pointad.runner import evaluate_signals, format_table, write_results
    res = evaluate_signals("window-knn", ecg, params={"window": 30})
    row = res["categories"][0]
    assert res["format"] == "signals" and row["n_test"] == len(ecg.test)
    assert set(res["mean_by_defect"]) == set(KINDS)
    labels = [s.label for s in ecg.test]
    scores = [signals.create("window-knn", window=30).fit(ecg.train).predict(s.signal).score
              for s in ecg.test]
    assert row["I-AUROC"] == pytest.approx(auroc(labels, scores))
    assert 0 <= row["AUPRO"] <= 1 and row["P-AUROC"] > 0.5
    assert "window-knn on synthetic-ecg (signals)" in format_table(res)
    json_path, csv_path = write_results(res, tmp_path)
    assert json.loads(json_path.read_text())["categories"][0]["I-AUROC"] == row["I-AUROC"]


def test_cli_signals_eval(tmp_path, capsys):
    from pointad.cli import main
    out = tmp_path / "res"
    assert main(["signals", "eval", "--synthetic-ecg", "-m", "window-knn", "--n-train", "4",
                 "--n-test", "2", "-p", "window=30", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "window-knn on synthetic-ecg" in printed and "noise_burst" in printed
    assert (out / "window-knn_signals.json").is_file()
    assert (out / "window-knn_signals.csv").is_file()
    # Bad input: one line on stderr, exit 2, and nothing overwritten.
    before = (out / "window-knn_signals.json").read_bytes()
    for argv, message in [
            (["--synthetic-ecg", "-m", "window-knn", "--out", str(out)], "exists"),
            (["--data", str(tmp_path / "none"), "-m", "mmae"], "not a directory"),
            (["--data", str(tmp_path), "-m", "mmae"], "no WFDB records"),
            (["--synthetic-ecg", "-m", "nope"], "unknown signal detector"),
            (["--synthetic-ecg", "-m", "mmae", "-p", "steps=-1", "--out", str(tmp_path / "o")],
             "steps must be >= 1")]:
        assert main(["signals", "eval", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert (out / "window-knn_signals.json").read_bytes() == before
    assert not (tmp_path / "o").exists()  # a failed run leaves no output folder behind


def _profiles(n, seed, bump=False):
    """Scan-line-like profiles: a ripple of random phase and noise; with ``bump``, a narrow
    bump of 1.5 ripple amplitudes labelled where it is at least half its peak."""
    rng = np.random.default_rng(seed)
    t = np.arange(200)
    out = []
    for _ in range(n):
        x = np.sin(2 * np.pi * t / 25 + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.05, 200)
        labels = np.zeros(200, bool)
        if bump:
            c = rng.uniform(30, 170)
            b = 1.5 * np.exp(-0.5 * ((t - c) / 3) ** 2)
            x, labels = x + b, b >= 0.75
        out.append((x, labels))
    return out


def test_mmae_and_mae_beat_chance_on_profiles():
    """Masked reconstruction finds what the normal signals do not explain: bumps on periodic
    profiles (a few seconds of training)."""
    train = [x for x, _ in _profiles(40, 0)]
    test = _profiles(6, 1) + _profiles(6, 2, bump=True)
    labels = np.concatenate([lab for _, lab in test])
    for name in ("mmae", "mae"):
        params = {k: v for k, v in TINY.items() if name == "mmae" or k != "local_window"}
        params["aggregate"] = "min"  # the better aggregation after a short training (mmae.py)
        det = signals.create(name, **{**params, "steps": 300, "lr": 5e-3})
        preds = [det.fit(train).predict(x) if i == 0 else det.predict(x)
                 for i, (x, _) in enumerate(test)]
        point = auroc(labels, np.concatenate([p.point_scores for p in preds]))
        window = auroc([0] * 6 + [1] * 6, [p.score for p in preds])
        assert point > 0.7 and window > 0.7, (name, point, window)


def test_mmae_beats_chance_on_synthetic_ecg_noise_bursts():
    """A tiny MMAE trained for a few seconds already localizes noise bursts in ECG (the README's
    table has the full-size numbers per anomaly kind)."""
    ds = synthetic_ecg(n_train=30, n_test_normal=4, n_per_kind=4, duration=5.0,
                       kinds=("noise_burst",), seed=3)
    det = signals.create("mmae", **{**TINY, "steps": 300, "lr": 5e-3}).fit(ds.train)
    preds = [det.predict(s.signal) for s in ds.test]
    labels = np.concatenate([s.labels for s in ds.test])
    assert auroc(labels, np.concatenate([p.point_scores for p in preds])) > 0.7
