"""Build the synthetic benchmark: part designs, scans, defects, both layouts and the manifest.

One category is one product: its design is drawn once from the seed and every sample of the
category is that same part, scanned in another pose, with other surface samples and sensor noise,
and (test samples) a defect. So a detector that learns the normal part from the training scans
can find the defects, as on the real benchmarks.

Two presets (``preset=``, ``pnas bench make --preset``):

``"standard"``
    The eight part families of :data:`pointad.synthbench.parts.CATEGORIES`, both layouts:
    Real3D-AD test scans complete, uniformly dense, in a uniformly random rotation; defects of
    1-7 % of the points with sizes relative to the part (:data:`SIZES`, :data:`SCANNER`).
``"realistic"``
    Calibrated to look like Real3D-AD, not easier (:mod:`.realistic` has every number): thin and
    branching parts with three compact ones; test scans with their own varying density, mostly
    partial views (1-3 directions), a pose within 25 degrees and 10 % of the part's size of the
    canonical one, noise of 0.1-0.3 point spacings and a few outliers; defects of 0.5-5 % of the
    points, 1-5 spacings high or deep. The Real3D-AD layout only (:data:`REALISTIC_SIZES`).

Seeds: every random draw comes from ``numpy.random.default_rng([seed, crc32(category), stream,
index])``, so a sample does not depend on which other categories or layouts are built, and the
same seed gives byte-identical files.
"""
from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pointad import __version__
from pointad.errors import InputError
from pointad.geometry.rotations import random_rotation
from pointad.io import write_json
from pointad.parallel import run_tasks, worker_count
from pointad.synthbench.layout import (
    write_mvtec3d_sample,
    write_real3d_template,
    write_real3d_test,
    write_text_file,
)
from pointad.synthbench.parts import CATEGORIES, FAMILIES, posed, resting_rotation
from pointad.synthbench.realistic import (
    REALISTIC,
    REALISTIC_CATEGORIES,
    REALISTIC_KINDS,
    REALISTIC_SIZES,
    realistic_kinds,
    realistic_template,
    realistic_test,
)
from pointad.synthbench.scan import scan_depth, scan_full
from pointad.synthesis.defects import DEFECTS as DEFECT_REGISTRY
from pointad.synthesis.defects import FRACTION_RANGE
from pointad.synthesis.defects import apply as apply_defect
from pointad.validation import check_number, check_seed

LAYOUTS = ("real3d", "mvtec3d")
# The benchmark's defect kinds (pointad.synthesis.defects has more): a fixed list, so that a kind
# registered later does not change the benchmark.
DEFECTS = ("bulge", "dent", "crack", "scratch", "hole", "chipped_edge", "bend", "pnas")
PRESETS = ("standard", "realistic")
GOOD = "good"

# Everything that sets the size of a build, in one place. n_points: points of a 360-degree scan;
# resolution: (H, W) of a depth scan; n_validation is MVTec 3D-AD only (Real3D-AD has none).
SIZES: dict[str, dict[str, Any]] = {
    # Big enough that a per-category I-AUROC means something (8 test clouds), small enough for CI.
    "small": dict(n_train=2, n_validation=1, n_good=4, n_defective=4, n_points=3000,
                  resolution=(64, 64)),
    "default": dict(n_train=4, n_validation=2, n_good=6, n_defective=12, n_points=20000,
                    resolution=(128, 128)),
}

# The virtual sensors (mm, degrees). Noise ~ a good structured-light sensor at this range.
SCANNER: dict[str, Any] = dict(
    full_sigma=0.02,         # Gaussian noise of the 360-degree scans, per coordinate
    depth_sigma=0.02,        # noise along each ray of the depth scans
    dropout=0.005,           # fraction of pixels randomly lost
    min_cos=0.1,             # grazing returns below this |cos| are lost
    camera="pinhole",
    cone_deg=30.0,           # view directions within this angle of vertical
    distance=300.0,          # sensor to part centre
    fill=(0.7, 0.9),         # fraction of the image the part spans, drawn per scan
    tilt_deg=10.0,           # tilt of a part on the holder (any turn about the vertical)
    background=True,         # the sample holder plane under the part
)

_ATTEMPTS = 8           # draws of a defect before giving up on its kind
_MIN_FRACTION = 0.005   # a defect labelling fewer of the part's points is drawn again

README = """Synthetic 3D anomaly-detection benchmark made by pointad {version}
(pointad.synthbench.make_benchmark, preset={preset!r}, size={size!r}, seed={seed}).

Nothing here was downloaded: parts, scans and defects are procedural and rebuilt exactly
from the seed. benchmark.json lists every sample: category, split, defect kind, fraction of
anomalous points, pose, camera and the drawn defect parameters.

{preset_text}

Categories: {categories}
Defect kinds: {defects}

real3d/ - Real3D-AD layout, {real3d_scans}, coordinates in MILLIMETRES:
    real3d/<cls>/train/NNN_template.pcd   normal templates in the canonical pose (xyz)
    real3d/<cls>/test/NNN_good.pcd        normal test scans, {test_pose}
    real3d/<cls>/test/NNN_<defect>.pcd    anomalous test scans, {test_pose}
    real3d/<cls>/gt/NNN_<defect>.txt      "x y z label" per line: the points of the .pcd,
                                           in the same order; label 1 = anomalous

{mvtec3d}"""

README_MVTEC3D = """\
mvtec3d/ - MVTec 3D-AD layout, single-view organized scans, coordinates in METRES
(camera coordinates: z along the optical axis, as the real dataset):
    mvtec3d/<cls>/train/good/xyz/NNN.tiff
    mvtec3d/<cls>/validation/good/xyz/NNN.tiff
    mvtec3d/<cls>/test/<defect>/xyz/NNN.tiff   (H, W, 3) float32 x y z; 0 0 0 = missing pixel
    mvtec3d/<cls>/test/<defect>/gt/NNN.png     uint8, 255 = anomalous pixel (removed
                                               pixels of a hole included); all 0 for good
The scans include the plane the part rests on (like the sample holder), missing pixels
where rays miss, grazing returns and random dropouts, and noise along each ray.
No rgb/ images are written.

"""

_STANDARD_TEXT = """\
Preset "standard": complete, uniformly dense 360-degree test scans in a uniformly
random rotation, noise 0.02 mm; defects of 1-7 % of the points, sized relative to the part.
(--preset realistic is calibrated to look like Real3D-AD and is harder.)"""

_REALISTIC_TEXT = """\
Preset "realistic", calibrated to look like Real3D-AD (not easier): thin and
branching parts (stool, heatsink, wing, mug, fork) with compact ones. Templates: complete
uniform 360-degree scans, noise 0.1-0.3 point spacings. Test scans: fresh samples with
their own density (x0.6-1.4, and a smooth spatial modulation of depth 0.3-0.7), {partial} % cut
to a partial view (the points seen from 1-3 directions within 60 degrees of +z), a pose
within 25 degrees (random axis) and a shift within 10 % of the part's largest extent of
the canonical one, noise 0.1-0.3 point spacings, and 0.05-0.2 % outlier points 3-12
spacings off the surface (labelled normal). Defects: 0.5-5 % of a test cloud's points
(kept within 0.3-6 %), 1-5 point spacings high or deep (a hole: missing points),
applied before the view is cut (a defect may be partly hidden; the labels are those of
the kept points). benchmark.json holds each scan's pose, views, density, noise and
outlier count. This preset writes no mvtec3d/ layout."""

# What README.txt says of each preset.
README_PRESETS = {
    "standard": dict(preset_text=_STANDARD_TEXT, real3d_scans="360-degree scans",
                     test_pose="random rotation", mvtec3d=README_MVTEC3D),
    "realistic": dict(preset_text=_REALISTIC_TEXT,
                      real3d_scans="mostly partial test scans",
                      test_pose="small random pose", mvtec3d=""),
}

README_GROUND_TRUTH = """\
Ground truth (pointad.synthesis.defects has the exact rules): bulge, dent, crack, scratch,
chipped_edge, pnas: a point is anomalous iff the defect moved it, by at least half of the
defect's peak (points that would move less are not moved). bend: the rigidly rotated tip.
hole: the removed patch (in the masks; absent from the clouds) and the kept points within
the rim width of it.
"""


def make_benchmark(out, size: str = "default", seed: int = 0, categories=None,
                   kinds=None, progress: bool = True, overwrite: bool = False,
                   preset: str = "standard", executor=None, resume: bool = False,
                   stop=None, partial: float | None = None) -> Path:
    """Write the benchmark into the directory ``out`` and return its path.

    Args:
        out: output directory; it must be empty or absent unless ``overwrite``.
        size: ``"small"`` (for tests) or ``"default"`` (for benchmarking); the numbers are in
            :data:`SIZES` (standard) and :data:`REALISTIC_SIZES` (realistic).
        seed: non-negative integer; the same seed gives byte-identical files.
        categories: part families (default: the preset's). Standard: names from
            :data:`pointad.synthbench.parts.CATEGORIES`, default all eight. Realistic: any of
            :data:`pointad.synthbench.parts.FAMILIES`, default :data:`REALISTIC_CATEGORIES`.
        kinds: layouts to write, from :data:`LAYOUTS` (``"real3d"``, ``"mvtec3d"``); default:
            both (standard), ``"real3d"`` (realistic, which writes no other).
        progress: show a tqdm progress bar.
        overwrite: allow a non-empty ``out``; the files an earlier build there listed in its
            ``benchmark.json`` are removed first (nothing else is touched).
        preset: ``"standard"`` or ``"realistic"`` (see the module docstring and
            :mod:`pointad.synthbench.realistic`).
        executor: a ``concurrent.futures``-style executor (:mod:`pointad.parallel`): each
            category of each layout is built there, in parallel; the files are the same bytes
            (every draw comes from the seed, the category and the sample).
        resume: continue an interrupted build in ``out``: each finished category of a layout
            left a checkpoint (``out/.partial/``, removed when the build completes) and is kept;
            the others are built again (their files replaced). The files are the bytes of an
            uninterrupted build. A checkpoint made with other settings (preset, size, seed,
            categories, layouts) is refused.
        stop: a callable checked before each category of a layout (serial) or each finished
            one (parallel); it raises to stop the build there (the CLI's SIGINT handling).
        partial: realistic preset only: the share of test scans cut to a partial view, in
            [0, 1] (default the preset's 0.85; 0 gives complete 360-degree test scans with
            everything else alike). Recorded as ``scanner["partial"]`` in ``benchmark.json``.

    Raises:
        InputError: unknown preset, size, category or layout, mvtec3d with the realistic preset,
            a bad seed, ``partial`` outside [0, 1] or with the standard preset, or a non-empty
            ``out`` without ``overwrite``.
    """
    if preset not in PRESETS:
        raise InputError(f"preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    realistic = preset == "realistic"
    sizes = REALISTIC_SIZES if realistic else SIZES
    if size not in sizes:
        raise InputError(f"size must be one of {', '.join(sizes)}; got {size!r}")
    check_seed(seed)
    scanner = dict(REALISTIC) if realistic else SCANNER
    if partial is not None:
        if not realistic:
            raise InputError("partial applies to the realistic preset only (the standard "
                             "preset's test scans are all complete)")
        try:
            check_number(partial, "partial", low=0, high=1)
        except InputError:
            raise InputError(f"partial must be a number in [0, 1] (the share of test scans cut "
                             f"to a partial view); got {partial!r}") from None
        scanner["partial"] = float(partial)
    if realistic:
        categories = _names(categories, FAMILIES, "category", default=REALISTIC_CATEGORIES)
        kinds = _names(kinds, LAYOUTS, "layout", default=("real3d",))
        if "mvtec3d" in kinds:
            raise InputError("the realistic preset writes the real3d layout only (MVTec 3D-AD "
                             "scans are single-view already); use --kinds real3d, or --preset "
                             "standard for mvtec3d")
    else:
        categories = _names(categories, CATEGORIES, "category")
        kinds = _names(kinds, LAYOUTS, "layout")
    params = sizes[size]
    out = Path(out)
    # The selection too: a resume with other categories or layouts would leave the first run's
    # folders behind, unlisted in benchmark.json.
    settings = {"preset": preset, "size": size, "seed": seed, "version": __version__,
                "categories": list(categories), "layouts": list(kinds)}
    share = scanner["partial"] if realistic else None  # the realistic preset's partial share
    if realistic:
        settings["partial"] = share
    done = _checkpoints(out, settings) if resume else {}
    if not resume:
        _prepare_out(out, overwrite)
    overwrite = overwrite or resume  # a resumed category replaces its partial files

    finished = [(layout, cat) for cat in categories for layout in kinds
                if (layout, cat) in done]
    plan = [(layout, cat) for cat in categories for layout in kinds if (layout, cat) not in done]
    per_layout = {"real3d": params["n_train"] + params["n_good"] + params["n_defective"],
                  "mvtec3d": params["n_train"] + params.get("n_validation", 0) + params["n_good"]
                  + params["n_defective"]}
    bar = tqdm(total=sum(per_layout[layout] for layout, _ in plan), unit="scan",
               desc="pnas bench", disable=not progress or None)
    built = {key: done[key] for key in finished}
    if executor is None:
        for layout, cat in plan:
            if stop is not None:
                stop()
            bar.set_postfix_str(f"{layout}/{cat}")
            built[(layout, cat)] = _build(out, layout, cat, seed, params, overwrite, realistic,
                                          bar, partial=share)
            _save_checkpoint(out, layout, cat, settings, built[(layout, cat)])
    else:
        tasks = (((layout, cat), _build, (out, layout, cat, seed, params, overwrite, realistic,
                                          None, share))
                 for layout, cat in plan)
        try:
            for (layout, cat), future in run_tasks(executor, tasks,
                                                   window=2 * worker_count(executor)):
                built[(layout, cat)] = future.result()  # a failure stops the build
                _save_checkpoint(out, layout, cat, settings, built[(layout, cat)])
                bar.update(per_layout[layout])
                if stop is not None:
                    stop()
        finally:
            bar.close()
    bar.close()
    samples = [s for cat in categories for layout in kinds for s in built[(layout, cat)]]

    files = [f for s in samples for f in s["files"]] + ["benchmark.json", "README.txt"]
    defect_kinds = list(REALISTIC_KINDS) if realistic else list(DEFECTS)
    manifest = {
        "generator": "pointad.synthbench", "pointad_version": __version__, "seed": seed,
        "preset": preset, "size": size, "size_params": params,
        "scanner": scanner, "categories": categories,
        "layouts": kinds, "defect_kinds": defect_kinds,
        "fraction_range": REALISTIC["fraction_range"] if realistic else FRACTION_RANGE,
        "units": {"real3d": "millimetres", "mvtec3d": "metres (camera coordinates)",
                  "manifest": "millimetres (poses, cameras, defect sizes)"},
        "samples": samples, "files": files,
    }
    write_json(out / "benchmark.json", manifest, overwrite=overwrite)
    write_text_file(out / "README.txt", README.format(
        version=__version__, preset=preset, size=size, seed=seed,
        categories=", ".join(categories), defects=", ".join(defect_kinds),
        **_readme_texts(preset, share)) + README_GROUND_TRUTH, overwrite=overwrite)
    _remove_checkpoints(out)
    return out


def _readme_texts(preset: str, partial: float | None) -> dict:
    """README.txt's preset paragraphs, with the realistic preset's share of partial scans."""
    texts = dict(README_PRESETS[preset])
    if partial is not None:
        texts["preset_text"] = texts["preset_text"].format(partial=f"{100 * partial:g}")
        if partial == 0:
            texts["real3d_scans"] = "complete (360-degree) test scans"
    return texts


_PARTIAL = ".partial"  # per-category checkpoints of a build in progress


def _save_checkpoint(out: Path, layout: str, cat: str, settings: dict, samples: list) -> None:
    write_json(out / _PARTIAL / f"{layout}-{cat}.json",
               {"settings": settings, "layout": layout, "category": cat, "samples": samples},
               overwrite=True)


def _checkpoints(out: Path, settings: dict) -> dict:
    """``(layout, category) -> manifest entries`` of the categories an interrupted build in
    ``out`` finished; InputError when there is nothing to resume or other settings made it."""
    folder = out / _PARTIAL
    if not folder.is_dir():
        raise InputError(f"{out}: no interrupted build to resume (no {_PARTIAL}/ checkpoints); "
                         "start it without --resume")
    done = {}
    for path in sorted(folder.glob("*.json")):
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            key, made = (saved["layout"], saved["category"]), saved["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(f"{path}: not a readable build checkpoint") from None
        if made != settings:
            raise InputError(f"{path}: made with other settings ({made}); resume with the "
                             f"same --preset, --size, --seed, --categories and --kinds, or "
                             f"start again")
        done[key] = saved["samples"]
    return done


def _remove_checkpoints(out: Path) -> None:
    folder = out / _PARTIAL
    if folder.is_dir():
        for path in folder.glob("*.json"):
            path.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()


# ---------------------------------------------------------------- the two layouts


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


def _build(out, layout: str, cat: str, seed: int, params, overwrite: bool, realistic: bool,
           bar=None, partial: float | None = None) -> list:
    """Write the scans of one category in one layout (a task of a parallel build); returns
    their manifest entries. ``partial``: the realistic preset's share of partial test scans."""
    mesh = FAMILIES[cat](_rng(seed, cat, "design"))
    bar = _NoBar() if bar is None else bar
    if realistic:
        return _real3d_realistic(out, cat, mesh, seed, params, overwrite, bar, partial)
    build = _real3d if layout == "real3d" else _mvtec3d
    return build(out, cat, mesh, seed, params, overwrite, bar)


def _real3d(out, cat, mesh, seed, params, overwrite, bar):
    samples = []
    for i in range(params["n_train"]):
        rng = _rng(seed, cat, "real3d-train", i)
        scan = scan_full(mesh, params["n_points"], rng, sigma=SCANNER["full_sigma"])
        files = write_real3d_template(out, cat, i, scan.points, overwrite=overwrite)
        samples.append(_entry(out, "real3d", cat, "train", GOOD, files, len(scan.points), 0.0,
                              {"rotation": np.eye(3), "translation": np.zeros(3)}))
        bar.update(1)
    # Test numbering is shuffled so an index does not give the defect away.
    names = [GOOD] * params["n_good"] + _defect_kinds(cat, params["n_defective"])
    names = [names[k] for k in _rng(seed, cat, "real3d-order").permutation(len(names))]
    for i, defect in enumerate(names):
        rng = _rng(seed, cat, "real3d-test", i)
        part, pose = posed(mesh, random_rotation(rng))
        scan = scan_full(part, params["n_points"], rng, sigma=SCANNER["full_sigma"])
        points, labels, info = scan.points, np.zeros(len(scan.points), dtype=bool), {}
        if defect != GOOD:
            defect, new, keep, lab, info = _apply(defect, scan.points, scan.normals, rng)
            points, labels = new[keep], lab[keep]
        files = write_real3d_test(out, cat, i, defect, points, labels, overwrite=overwrite)
        samples.append(_entry(out, "real3d", cat, "test", defect, files, len(points),
                              float(labels.mean()), pose, defect_params=info))
        bar.update(1)
    return samples


def _real3d_realistic(out, cat, mesh, seed, params, overwrite, bar, partial=None):
    """The Real3D-AD layout of the realistic preset (:mod:`.realistic`): same files and
    numbering as :func:`_real3d`, Real3D-AD-like scans and defects."""
    samples = []
    for i in range(params["n_train"]):
        rng = _rng(seed, cat, "real3d-train", i)
        points, info = realistic_template(mesh, params["n_points"], rng)
        files = write_real3d_template(out, cat, i, points, overwrite=overwrite)
        samples.append(_entry(out, "real3d", cat, "train", GOOD, files, len(points), 0.0,
                              {"rotation": np.eye(3), "translation": np.zeros(3)}, scan=info))
        bar.update(1)
    names = [GOOD] * params["n_good"] + realistic_kinds(cat, params["n_defective"])
    names = [names[k] for k in _rng(seed, cat, "real3d-order").permutation(len(names))]
    for i, requested in enumerate(names):
        rng = _rng(seed, cat, "real3d-test", i)
        defect, points, labels, pose, info, params_drawn = realistic_test(
            mesh, params["n_points"], rng, None if requested == GOOD else requested,
            DEFECT_REGISTRY, partial=partial)
        defect = defect or GOOD
        files = write_real3d_test(out, cat, i, defect, points, labels, overwrite=overwrite)
        samples.append(_entry(out, "real3d", cat, "test", defect, files, len(points),
                              float(labels.mean()), pose, scan=info,
                              defect_params=params_drawn or None))
        bar.update(1)
    return samples


def _mvtec3d(out, cat, mesh, seed, params, overwrite, bar):
    samples = []
    for split, count in (("train", params["n_train"]), ("validation", params["n_validation"])):
        for i in range(count):
            rng = _rng(seed, cat, f"mvtec3d-{split}", i)
            scan, pose = _depth_scan(mesh, rng, params["resolution"])
            files = write_mvtec3d_sample(out, cat, split, GOOD, i, scan.xyz, scan.valid,
                                         overwrite=overwrite)
            samples.append(_entry(out, "mvtec3d", cat, split, GOOD, files, int(scan.valid.sum()),
                                  0.0, pose, camera=scan.camera))
            bar.update(1)
    counters: dict[str, int] = {}
    for j, requested in enumerate([GOOD] * params["n_good"]
                                  + _defect_kinds(cat, params["n_defective"])):
        rng = _rng(seed, cat, "mvtec3d-test", j)
        scan, pose = _depth_scan(mesh, rng, params["resolution"])
        xyz, valid = scan.xyz.astype(np.float64), scan.valid.copy()
        mask = np.zeros(valid.shape, dtype=bool)
        defect, info = requested, {}
        if requested != GOOD:
            # The defect goes on the part's pixels only, never on the holder; the grid stays.
            pixels = np.flatnonzero(scan.on_part.reshape(-1))
            defect, new, keep, lab, info = _apply(requested, xyz.reshape(-1, 3)[pixels],
                                                  scan.normals.reshape(-1, 3)[pixels], rng)
            xyz.reshape(-1, 3)[pixels] = new
            valid.reshape(-1)[pixels[~keep]] = False      # a hole: those pixels are missing
            mask.reshape(-1)[pixels[lab]] = True          # removed pixels stay in the mask
        index = counters.get(defect, 0)
        counters[defect] = index + 1
        files = write_mvtec3d_sample(out, cat, "test", defect, index, xyz, valid, mask,
                                     overwrite=overwrite)
        # Two fractions: of every measured pixel (holder included) and of the part's pixels.
        fraction = float(mask[valid].mean()) if valid.any() else 0.0
        part = valid & scan.on_part
        part_fraction = float(mask[part].mean()) if part.any() else 0.0
        samples.append(_entry(out, "mvtec3d", cat, "test", defect, files, int(valid.sum()),
                              fraction, pose, camera=scan.camera, defect_params=info,
                              mask_pixels=int(mask.sum()), part_fraction=part_fraction))
        bar.update(1)
    return samples


def _depth_scan(mesh, rng, resolution):
    """A part on the holder in a random resting pose, scanned from a random view above it."""
    part, pose = posed(mesh, resting_rotation(rng, SCANNER["tilt_deg"]))
    scan = scan_depth(part, rng, resolution, camera=SCANNER["camera"],
                      cone_deg=SCANNER["cone_deg"], distance=SCANNER["distance"],
                      fill=float(rng.uniform(*SCANNER["fill"])),
                      background=SCANNER["background"], sigma=SCANNER["depth_sigma"],
                      dropout=SCANNER["dropout"], min_cos=SCANNER["min_cos"])
    return scan, pose


# ---------------------------------------------------------------- defects


def _defect_kinds(cat: str, n: int) -> list[str]:
    """The ``n`` defect kinds of a category: consecutive kinds, each category starting further
    on, so that every kind occurs even when each category has only a few defective samples."""
    names = list(DEFECTS)
    start = list(CATEGORIES).index(cat) * n
    return [names[(start + j) % len(names)] for j in range(n)]


def _apply(kind, points, normals, rng):
    """Apply a defect of ``kind``; draw it again (new seed point, sizes) while it labels fewer
    than 0.5 % of the points or cannot be placed (no sharp edge for a chip). After
    :data:`_ATTEMPTS` failures the kind falls back to ``bulge``, which always fits, and the
    manifest says so. Returns ``(kind, new_points, keep, labels, info)``."""
    best = None
    for _attempt in range(_ATTEMPTS):
        try:
            result = apply_defect(kind, points, normals, rng)
        except InputError:
            continue
        keep, labels = result.keep, result.labels
        fraction = labels[keep].mean() if keep.any() else 0.0
        if best is None or fraction > best[0]:
            best = (fraction, result.points, keep, labels, result.params)
        if fraction >= _MIN_FRACTION:
            break
    if best is None:
        result = apply_defect("bulge", points, normals, rng)
        return "bulge", result.points, result.keep, result.labels, {"requested": kind,
                                                                    **result.params}
    return kind, *best[1:]


# ---------------------------------------------------------------- bookkeeping


def _rng(seed: int, category: str, stream: str, index: int = 0) -> np.random.Generator:
    """The generator of one stream of one category: independent of everything else built."""
    return np.random.default_rng([seed, zlib.crc32(category.encode()),
                                  zlib.crc32(stream.encode()), index])


def _entry(out, layout, cat, split, defect, files, n_points, fraction, pose, **extra):
    entry = {"layout": layout, "category": cat, "split": split, "defect": defect,
             "files": [Path(f).relative_to(out).as_posix() for f in files],
             "n_points": n_points, "anomalous_fraction": fraction, "pose": pose}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def _names(values, allowed, what: str, default=None) -> list[str]:
    """A list of names from ``values`` (None = ``default``, or all of ``allowed``), each checked,
    no repeats."""
    if values is None:
        return list(allowed if default is None else default)
    if isinstance(values, str):
        values = [values]
    names = list(dict.fromkeys(values))
    if not names:
        raise InputError(f"no {what} given; choose from {', '.join(allowed)}")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise InputError(f"unknown {what} {unknown[0]!r}; choose from {', '.join(allowed)}")
    return names


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` without ``overwrite``; with it, remove an earlier build's
    files."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise InputError(f"{out}: output directory is not empty; use --overwrite "
                         "(overwrite=True) or another directory")
    manifest = out / "benchmark.json"
    if not manifest.is_file():
        return
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return  # not ours to interpret: leave everything, files are overwritten one by one
    root = out.resolve()
    # Only files the earlier build wrote, and only inside out: a stale sample of a bigger build
    # would otherwise stay and be read as part of this one.
    parents: set[Path] = set()
    for rel in listed:
        path = (out / str(rel)).resolve()
        if root in path.parents and path.is_file():
            path.unlink()
            parents.update(p for p in path.parents if root in p.parents)
    for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # rmdir only succeeds on empty folders, by design
            folder.rmdir()

