"""The viz package: viewer callbacks, off-screen renders, field replay, views and colours."""
import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from pointad.errors import InputError
from pointad.samples import sample_cloud
from pointad.synthesis import PNAS
from pointad.synthesis.region import soft_mask
from viz.colors import (
    ANOMALY_COLOR,
    BACKGROUND,
    NORMAL_COLOR,
    SIGNED_CMAP,
    label_colors,
    scalar_colors,
    shade,
    signed_colors,
)
from viz.field import replay_field
from viz.offscreen import offscreen_problem
from viz.viewer import SLIDERS, ViewerState
from viz.views import (
    OBLIQUE_TILT,
    camera_frame,
    oblique_direction,
    parse_view,
    project_to_view,
    view_direction,
)


@pytest.fixture(scope="module")
def flange():
    return sample_cloud("flange", n_points=6000)


@pytest.fixture
def state(flange):
    return ViewerState(flange, PNAS(sign="bump"), seed=3, name="flange")


# --- the viewer's callbacks, without a window ---------------------------------------------

SLIDER_VALUES = {"scale": 3.5, "octaves": 6, "persistence": 0.7, "lacunarity": 2.5,
                 "strength": 0.05, "fraction": 0.04, "seed": 17}


@pytest.mark.parametrize("name", list(SLIDERS))
def test_slider_callback_regenerates_with_the_slider_value(state, flange, name):
    value = SLIDER_VALUES[name]
    lo, hi, _ = SLIDERS[name]
    assert lo <= value <= hi
    before = state.sample.points.copy()
    sample = state.set_param(name, value)
    assert sample is state.sample
    got = sample.params["seed"] if name == "seed" else sample.params["config"][name]
    assert got == value
    # The shown sample is exactly what PNAS makes from those params.
    again = PNAS(**sample.params["config"])(flange.points, flange.normals,
                                           seed=sample.params["seed"])
    np.testing.assert_array_equal(sample.points, again.points)
    assert not np.array_equal(before, sample.points)


def test_integer_sliders_round_and_bad_values_leave_the_state(state):
    state.set_param("octaves", 2.6)
    assert state.sample.params["config"]["octaves"] == 3
    state.set_param("seed", 4.4)
    assert state.sample.params["seed"] == 4
    config, sample = dict(state.config), state.sample
    with pytest.raises(InputError, match="scale"):
        state.set_param("scale", -1.0)
    with pytest.raises(InputError, match="unknown parameter"):
        state.set_param("colour", 1)
    assert state.config == config and state.sample is sample


def test_projection_choice_and_cycle(state):
    state.set_projection("pca")
    assert state.sample.params["projection"] == "pca"
    with pytest.raises(InputError, match="organized"):
        state.set_projection("grid")
    seen = {state.next_projection().params["config"]["projection"] for _ in range(6)}
    assert "grid" not in seen and {"cylindrical", "spherical", "volume"} <= seen


def test_pick_puts_the_defect_at_the_point(state, flange):
    far = int(np.argmax(np.linalg.norm(flange.points - flange.points[state.sample.params[
        "center"]], axis=1)))
    sample = state.pick(far)
    assert sample.params["center"] == far
    # The labelled points gather around the picked point (the defect radius is a few mm).
    dist = np.linalg.norm(flange.points[sample.labels] - flange.points[far], axis=1)
    assert dist.max() < 2.5 * sample.params["support_radius"]
    assert dist.max() < 0.25 * sample.params["object_diameter"]
    # A click: the nearest shown point is picked.
    assert state.pick_nearest(state.display_points()[10] + 1e-6).params["center"] == 10
    with pytest.raises(InputError):
        state.pick(len(flange.points))


def test_toggles_and_colours(state, flange):
    assert state.show_synthesized
    assert not np.array_equal(state.display_points(), flange.points)
    assert state.toggle("synthesized") is False
    np.testing.assert_array_equal(state.display_points(), flange.points)
    assert state.toggle("normals") is True
    assert state.color_by == "signed"  # the default: signed displacement
    state.set_color_by("label")
    colors = state.colors()
    assert (colors[state.sample.labels] == ANOMALY_COLOR).all()
    assert (colors[~state.sample.labels] == NORMAL_COLOR).all()
    state.set_color_by("displacement")
    mag = np.linalg.norm(state.sample.displacement, axis=1)
    np.testing.assert_array_equal(state.colors(), scalar_colors(mag, "viridis", vmin=0.0))
    with pytest.raises(InputError, match="no scores"):
        state.set_color_by("score")
    with pytest.raises(InputError):
        state.toggle("lights")


def test_signed_displacement_colours_are_a_diverging_map_symmetric_about_zero(flange):
    import matplotlib

    cmap = matplotlib.colormaps[SIGNED_CMAP]
    mid = np.round(np.asarray(cmap(0.5)[:3]) * 255)
    # The range is [-peak, peak]: 0 is the middle colour, +-x sit at mirrored map positions.
    v = np.array([-2.0, -1.0, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(signed_colors(v),
                                  scalar_colors([0.0, 0.25, 0.5, 0.625, 1.0], SIGNED_CMAP, 0, 1))
    np.testing.assert_array_equal(signed_colors(v)[2], mid)
    np.testing.assert_array_equal(signed_colors([0.0, 0.0])[0], mid)  # nothing moved: middle
    # A one-sided field (a bump) keeps 0 in the middle: untouched points are the neutral colour.
    bump = ViewerState(flange, PNAS(sign="bump", strength=0.04), seed=3, units="mm")
    dent = ViewerState(flange, PNAS(sign="dent", strength=0.04), seed=3, units="mm")
    assert bump.color_by == "signed"
    sb, sd = bump.signed_displacement(), dent.signed_displacement()
    assert sb.min() >= 0 and sb.max() > 0 and sd.max() <= 0
    # The same seed and centre: the dent is the bump mirrored, and so are its colours.
    np.testing.assert_allclose(sd, -sb, atol=1e-12)
    assert (bump.colors()[sb == 0] == mid).all() and (dent.colors()[sd == 0] == mid).all()
    for s, vals in ((bump, sb), (dent, sd)):
        leg = s.legend()
        assert leg.cmap == SIGNED_CMAP and leg.vmin == -leg.vmax == -np.abs(vals).max()
        assert "mm" in leg.title and "displacement" in leg.title
        expected = scalar_colors(vals, SIGNED_CMAP, leg.vmin, leg.vmax)
        np.testing.assert_array_equal(s.colors(), expected)
    peak = sb.argmax()
    warm, cool = bump.colors()[peak].astype(int), dent.colors()[peak].astype(int)
    assert warm[0] > warm[2] + 100 and cool[2] > cool[0] + 100  # red bump, blue dent
    # The signed values are the displacement field pnas generate writes (along the normal).
    np.testing.assert_allclose(np.abs(sb), np.linalg.norm(bump.sample.displacement, axis=1),
                               atol=1e-12)
    # Every colouring but plain has a legend that names what it shows.
    bump.set_color_by("label")
    assert [c[0] for c in bump.legend().categories] == ["normal", "anomalous"]
    bump.set_color_by("displacement")
    assert "magnitude" in bump.legend().title and bump.legend().vmin == 0
    bump.set_color_by("plain")
    assert bump.legend() is None


def test_scores_colouring_and_checks(flange):
    scores = np.linspace(0, 1, len(flange.points))
    s = ViewerState(flange, scores=scores)
    s.set_color_by("score")
    np.testing.assert_array_equal(s.colors(), scalar_colors(scores, "inferno"))
    with pytest.raises(InputError, match="points"):
        ViewerState(flange, scores=scores[:-1])


def test_detector_scores_follow_the_shown_cloud(tmp_path):
    import pointad.detectors as detectors

    det = detectors.create("raw", align_points=500, icp_iterations=5)
    det.fit([sample_cloud("sphere", 1500, seed=i).points for i in (1, 2)])
    det.save(tmp_path / "raw.npz")
    cloud = sample_cloud("sphere", 1500, seed=0)
    s = ViewerState(cloud, PNAS(strength=0.06, fraction=0.05, sign="bump"),
                    detector=detectors.load(tmp_path / "raw.npz"))
    s.set_color_by("score")
    synth_scores = s.point_scores().copy()
    np.testing.assert_allclose(synth_scores, det.predict(s.sample.points).point_scores)
    # The detector finds the synthesized defect: labelled points score higher.
    assert synth_scores[s.sample.labels].mean() > 2 * synth_scores[~s.sample.labels].mean()
    s.toggle("synthesized")
    np.testing.assert_allclose(s.point_scores(), det.predict(cloud.points).point_scores)


def test_save_writes_the_sample_and_a_sidecar_that_regenerates_it(state, flange, tmp_path):
    from pointad.io import read_cloud

    state.pick(123)
    state.set_param("scale", 3.0)
    cloud_path, json_path = state.save(tmp_path)
    assert cloud_path.name == "flange_pnas_3.ply" and json_path.name == "flange_pnas_3.json"
    meta = json.loads(json_path.read_text())
    assert meta["config"]["scale"] == 3.0 and meta["center"] == 123
    assert meta["output"] == "flange_pnas_3.ply"
    written = read_cloud(cloud_path)
    np.testing.assert_array_equal(written.labels.astype(bool), state.sample.labels)
    again = PNAS(**meta["config"]).regenerate(flange.points, meta, normals=flange.normals)
    np.testing.assert_allclose(written.points, again.points, atol=1e-5)
    with pytest.raises(InputError, match="exists"):
        state.save(tmp_path)


def test_normals_are_estimated_once(flange):
    from pointad.io import Cloud

    s = ViewerState(Cloud(points=flange.points), seed=1)
    normals = s.normals
    s.set_param("seed", 2)
    assert s.normals is normals and s.sample.normals is not None
    # Estimated outward normals agree with the exact ones almost everywhere.
    assert np.mean((normals * flange.normals).sum(axis=1) > 0.5) > 0.99


def test_viewer_shows_a_chosen_defect_kind(flange, tmp_path):
    from pointad.io import read_cloud
    from pointad.synthesis import apply, available

    s = ViewerState(flange, seed=4, name="flange", kind="ridge", defect_params={"height": 5.0})
    fraction = s.config["fraction"]
    again = apply("ridge", flange.points, flange.normals, seed=4, fraction=fraction, height=5.0)
    np.testing.assert_array_equal(s.sample.labels, again.labels)
    np.testing.assert_array_equal(s.display_points(), again.points)
    s.set_color_by("label")
    assert (s.colors()[again.labels] == ANOMALY_COLOR).all() and "ridge" in s.describe()
    # The seed and fraction sliders drive the kind; the other sliders leave it as it is.
    s.set_param("seed", 6)
    again = apply("ridge", flange.points, flange.normals, seed=6, fraction=fraction, height=5.0)
    np.testing.assert_array_equal(s.sample.labels, again.labels)
    with pytest.raises(InputError, match="draws its own place"):
        s.pick(10)
    # A hole: removed points are hidden on the synthesized cloud, shown on the original.
    s.set_kind("hole")
    hole = apply("hole", flange.points, flange.normals, seed=6, fraction=fraction)
    np.testing.assert_array_equal(s.sample.labels, hole.labels)
    assert len(s.display_points()) == hole.keep.sum() < len(flange.points)
    assert len(s.colors()) == len(s.display_normals()) == hole.keep.sum()
    s.toggle("synthesized")
    assert len(s.display_points()) == len(s.colors()) == len(flange.points)
    s.toggle("synthesized")
    # Save: <name>_<kind>_<seed> with the generate writer.
    cloud_path, json_path = s.save(tmp_path)
    assert cloud_path.name == "flange_hole_6.ply"
    meta = json.loads(json_path.read_text())
    assert meta["kind"] == "hole" and meta["seed"] == 6
    assert meta["mix"]["common"] == {"fraction": fraction, "height": 5.0}
    assert len(read_cloud(cloud_path)) == hole.keep.sum()
    # The d key cycles through every kind; pnas is the 3D-PNAS synthesizer (with params given,
    # the registry's pnas kind).
    seen = []
    for _ in available():
        s.next_kind()
        seen.append(s.kind_name())
    assert sorted(seen) == sorted(available()) and s.kind_name() == "hole"
    s.set_kind("pnas")  # with a height given: the registry's pnas kind, not the synthesizer
    assert s.kind == "pnas" and s.sample.kind == "pnas"
    plain = ViewerState(flange, seed=4, kind="pnas")
    assert plain.kind is None and "config" in plain.sample.params
    with pytest.raises(InputError, match="unknown defect kind"):
        ViewerState(flange, kind="blister")


# --- off-screen rendering -------------------------------------------------------------

needs_gl = pytest.mark.skipif(offscreen_problem() is not None,
                              reason=str(offscreen_problem()))


@needs_gl
def test_offscreen_render_shows_the_label_colour_on_the_defect_only(flange):
    from viz.viewer import Viewer

    state = ViewerState(flange, PNAS(sign="bump", fraction=0.04), seed=3)
    state.set_color_by("label")
    viewer = Viewer(state, view="defect", off_screen=True, window_size=(320, 240),
                    shading="flat", legend=False)
    viewer.scene.set_text("")  # no overlay: every pixel is a point or the background
    img = viewer.screenshot()
    assert img.shape == (240, 320, 3)
    red = (img == ANOMALY_COLOR).all(axis=-1)
    background = (img == BACKGROUND).all(axis=-1)
    grey = (img == NORMAL_COLOR).all(axis=-1)
    assert (red | background | grey).all()  # flat colours: nothing blended
    assert red.sum() > 300 and grey.sum() > 3000

    px = viewer.scene.world_to_pixels(state.sample.points)
    reach = viewer.scene.point_size + 1.5
    rows, cols = np.mgrid[0:240, 0:320]
    pixels = np.stack([cols.ravel(), rows.ravel()], axis=1)
    # Every red pixel lies under a projected anomalous point ...
    d_anom, _ = cKDTree(px[state.sample.labels]).query(pixels[red.ravel()])
    assert d_anom.max() <= reach
    # ... most anomalous points facing the camera show red where they project ...
    d = view_direction("defect", flange.points, flange.normals, state.sample.labels)
    facing = state.sample.labels & (state.sample.normals @ d > 0.5)
    c, r = np.clip(np.round(px[facing]).astype(int), 0, [319, 239]).T
    assert red[r, c].mean() > 0.7
    # ... and far from every projected point there is only background.
    d_any, _ = cKDTree(px).query(pixels)
    far = (d_any > reach).reshape(240, 320)
    assert far.sum() > 5000 and background[far].all()

    # The same scene without a defect (zero strength labels nothing) has no red at all.
    state.set_param("strength", 0.0)
    viewer.refresh()
    viewer.scene.set_text("")
    assert not (viewer.screenshot() == ANOMALY_COLOR).all(axis=-1).any()
    viewer.close()


def _angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a)
                                              / np.linalg.norm(b), -1, 1))))


def _luminance(img):
    return img[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114]


@pytest.fixture(scope="module")
def bump_state(flange):
    return ViewerState(flange, PNAS(sign="bump", strength=0.05, fraction=0.05), seed=3,
                       units="mm")


@needs_gl
def test_default_camera_is_oblique_and_faces_the_defect(bump_state):
    from viz.viewer import Viewer

    s = bump_state
    viewer = Viewer(s, off_screen=True, window_size=(320, 240), shading="flat", legend=False)
    n = view_direction("defect", s.points, s.normals, s.sample.labels)  # straight on
    cam = viewer.scene.plotter.camera
    toward = np.asarray(cam.GetPosition()) - np.asarray(cam.GetFocalPoint())
    np.testing.assert_allclose(toward / np.linalg.norm(toward), viewer.direction, atol=1e-9)
    # Oblique: OBLIQUE_TILT (50) degrees off the defect's normal, so the relief shows ...
    assert _angle(toward, n) == pytest.approx(OBLIQUE_TILT, abs=1e-6)
    assert 30 <= OBLIQUE_TILT <= 65
    # ... and facing it: every defect point faces the camera, and they are seen (label colour).
    assert (s.sample.normals[s.sample.labels] @ viewer.direction > 0.1).all()
    s.set_color_by("label")
    viewer.refresh()
    viewer.scene.set_text("")
    red = (viewer.screenshot() == ANOMALY_COLOR).all(axis=-1)
    px = viewer.scene.world_to_pixels(s.sample.points[s.sample.labels])
    centre = np.median(px, axis=0)
    assert red.sum() > 300 and np.all(np.abs(centre - [160, 120]) < [150, 110])
    s.set_color_by("signed")
    viewer.close()


@needs_gl
def test_shading_varies_inside_the_part_and_shows_the_relief(bump_state):
    """Colour by a constant: eye-dome lighting still varies over the part (and changes where
    the bump is); flat points are one colour."""
    from scipy.ndimage import binary_erosion

    from viz.viewer import Viewer

    s = bump_state
    s.set_color_by("plain")
    images = {}
    for shading in ("edl", "flat"):
        viewer = Viewer(s, off_screen=True, window_size=(320, 240), shading=shading)
        assert viewer.scene.legend_actor is None  # plain colours: nothing to explain
        moved = np.linalg.norm(s.sample.displacement, axis=1) > 0
        labels_px = viewer.scene.world_to_pixels(s.sample.points[s.sample.labels])
        moved_px = viewer.scene.world_to_pixels(
            np.r_[s.sample.points[moved], s.points[moved]])
        reach = int(viewer.scene.point_size) + 4
        for strength in (0.05, 0.0):  # the same camera, with and without the bump
            s.set_param("strength", strength)
            viewer.refresh()
            viewer.scene.set_text("")
            images[shading, strength] = viewer.screenshot()
        s.set_param("strength", 0.05)
        viewer.close()
    s.set_color_by("signed")
    img = images["edl", 0.05]
    part = ~(img == BACKGROUND).all(axis=-1)
    inside = binary_erosion(part, iterations=3)  # no silhouette edge
    assert inside.sum() > 5000
    assert _luminance(img)[inside].std() > 10.0
    flat = images["flat", 0.05]
    flat_inside = binary_erosion(~(flat == BACKGROUND).all(axis=-1), iterations=3)
    assert _luminance(flat)[flat_inside].std() < 1e-9
    # The bump itself changes the shading where it is, with no colour to tell it.
    diff = np.abs(_luminance(img) - _luminance(images["edl", 0.0]))
    boxes = []
    for px, pad in ((labels_px, 0), (moved_px, reach)):  # the defect; all that moved
        c, r = np.round(px).astype(int).T
        box = np.zeros_like(inside)
        box[max(r.min() - pad, 0):r.max() + pad + 1, max(c.min() - pad, 0):c.max() + pad + 1] = 1
        boxes.append(box)
    assert diff[boxes[0] & inside].mean() > 5.0
    # Elsewhere next to nothing changed (eye-dome lighting scales with the depth range, which
    # the bump moves a little).
    assert diff[~boxes[1] & inside].mean() < 1.0


@needs_gl
def test_legend_shows_the_map_and_its_title(bump_state):
    from viz.scene import LEGEND_WIDTH
    from viz.viewer import Viewer

    s = bump_state
    viewer = Viewer(s, off_screen=True, window_size=(480, 320))
    leg = s.legend()
    bar = viewer.scene.legend_actor
    assert bar is not None and bar.GetTitle() == leg.title and "(mm)" in bar.GetTitle()
    assert bar.GetLookupTable().GetRange() == pytest.approx((leg.vmin, leg.vmax))
    assert leg.vmin == -leg.vmax < 0
    viewer.scene.set_text("")
    img = viewer.screenshot().astype(int)

    def blue(a):  # a dent's colours: the bump does not use them
        a = a.astype(int)
        return (a[..., 2] > a[..., 0] + 80).sum()

    def red(a):
        a = a.astype(int)
        return (a[..., 0] > a[..., 2] + 80).sum()

    split = int(480 * (1 - LEGEND_WIDTH))
    # The bar shows the whole map, its blue half too, in the strip kept for it at the right.
    assert blue(img[:, split:]) > 300 and red(img[:, split:]) > 300
    assert blue(img[:, :split]) == 0 and red(img[:, :split]) > 300  # the bump: red only
    viewer.show_legend = False
    viewer.refresh()
    assert viewer.scene.legend_actor is None and blue(viewer.screenshot()) == 0
    viewer.show_legend = True
    # Label colours get a two-entry legend; plain colours none.
    s.set_color_by("label")
    viewer.refresh()
    lut = viewer.scene.legend_actor.GetLookupTable()
    assert lut.GetNumberOfTableValues() == 2 and lut.GetAnnotation(1) == "anomalous"
    s.set_color_by("plain")
    viewer.refresh()
    assert viewer.scene.legend_actor is None
    s.set_color_by("signed")
    viewer.close()


# --- field replay ---------------------------------------------------------------------

@pytest.mark.parametrize("mode,projection", [("local", "auto"), ("local", "pca"),
                                             ("local", "spherical"), ("paper", "auto"),
                                             ("paper", "tangent"), ("paper", "cylindrical")])
def test_replayed_field_reproduces_the_sample(flange, mode, projection):
    synth = PNAS(mode=mode, projection=projection, resolution=64)
    sample = synth(flange.points, flange.normals, seed=5)
    field = replay_field(flange.points, flange.normals, sample.params)
    if mode == "local":
        n_labelled = int(round(synth.fraction * len(flange.points)))
        np.testing.assert_array_equal(soft_mask(field.potential, n_labelled),
                                      sample.soft_labels[field.indices])
        outside = np.setdiff1d(np.arange(len(flange.points)), field.indices)
        assert (sample.soft_labels[outside] == 0).all()
    else:
        np.testing.assert_array_equal(field.potential, sample.soft_labels)
        assert field.image.shape == (64, 64)
    assert field.coords.shape == (len(field.indices), 2)
    assert 0 <= field.image.min() and field.image.max() <= 1


def test_replayed_field_refuses_volume_and_other_clouds(flange):
    sample = PNAS(projection="volume")(flange.points, flange.normals, seed=1)
    with pytest.raises(InputError, match="2D"):
        replay_field(flange.points, flange.normals, sample.params)
    sample = PNAS()(flange.points, flange.normals, seed=1)
    with pytest.raises(InputError, match="points"):
        replay_field(flange.points[:-1], flange.normals[:-1], sample.params)


# --- views and colours ----------------------------------------------------------------

def test_views():
    assert parse_view("defect") == "defect"
    assert parse_view(" 30, -20 ") == (30.0, -20.0)
    for bad in ("front", "1,2,3", "0,95", "a,b"):
        with pytest.raises(InputError):
            parse_view(bad)
    np.testing.assert_allclose(view_direction((90, 0), np.zeros((2, 3))), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(view_direction((0, 90), np.zeros((2, 3))), [0, 0, 1], atol=1e-12)
    for d in ([1, 2, 3], [0, 0, 1], [0, 0, -1]):
        frame = camera_frame(np.array(d, float))
        np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(frame[2], np.array(d) / np.linalg.norm(d))
    # Nearer points get larger depth; screen coordinates are the in-plane components.
    uv, depth = project_to_view(np.array([[0, 0, 0], [0, 0, 5.0], [2, 0, 0]]), [0, 0, 1])
    assert depth[1] > depth[0] and np.allclose(np.abs(uv[2]), [2, 0])
    # A defect view faces the region: along its mean normal.
    pts = np.random.default_rng(0).normal(size=(50, 3))
    nrm = np.tile([0, 1.0, 0], (50, 1))
    np.testing.assert_allclose(view_direction("defect", pts, nrm, np.arange(50) < 5), [0, 1, 0])
    # A region covering half the part (a paper-mode field) has no side: the default view.
    np.testing.assert_allclose(view_direction("defect", pts, nrm, np.arange(50) < 25),
                               view_direction((30, 25), pts))


def test_oblique_view_tilts_the_defect_view_outward():
    # A flat disc in the xy plane, normals +z, the defect at its +x rim.
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-1, 1, (400, 2)), np.zeros(400)]
    nrm = np.tile([0, 0, 1.0], (400, 1))
    focus = pts[:, 0] > 0.8
    d = oblique_direction(pts, nrm, focus)
    assert _angle(d, [0, 0, 1]) == pytest.approx(OBLIQUE_TILT)
    assert d[0] > 0.5 and abs(d[1]) < 0.1  # from the rim's side: nothing in between
    np.testing.assert_allclose(view_direction("oblique", pts, nrm, focus), d)
    assert parse_view("oblique") == "oblique"
    # A defect in the middle of the face: tilted toward +x (the normal is vertical).
    centre = np.linalg.norm(pts, axis=1) < 0.2
    d = oblique_direction(pts, nrm, centre, tilt=30)
    assert _angle(d, [0, 0, 1]) == pytest.approx(30) and d[0] > 0.4
    # A side wall (normal horizontal, defect straight out along it): tilted up, toward +z.
    wall = np.tile([1.0, 0, 0], (400, 1))
    d = oblique_direction(pts, wall, focus)
    assert d[2] > 0.7 and _angle(d, [1, 0, 0]) == pytest.approx(OBLIQUE_TILT)
    # No defect to face: the default view.
    np.testing.assert_allclose(oblique_direction(pts, nrm, None), view_direction((30, 25), pts))


def test_colours():
    c = label_colors([0, 1, 1, 0])
    assert c.dtype == np.uint8 and (c[1] == ANOMALY_COLOR).all() and (c[0] == NORMAL_COLOR).all()
    s = scalar_colors([0.0, 0.5, 1.0], "gray")
    np.testing.assert_array_equal(s[[0, 2]], [[0, 0, 0], [255, 255, 255]])
    assert (scalar_colors([3.0, 3.0], "gray") == 0).all()
    with pytest.raises(InputError):
        scalar_colors([0.0, np.nan])
    lit = shade(np.full((2, 3), 200, np.uint8), np.array([[0, 0, 1.0], [1.0, 0, 0]]), [0, 0, 1])
    np.testing.assert_array_equal(lit, [[200] * 3, [70] * 3])


def test_egl_is_chosen_only_without_a_display_or_a_user_setting(monkeypatch):
    import os
    import sys

    from viz.offscreen import EGL_WINDOW, prepare_environment

    monkeypatch.setattr(sys, "platform", "linux")
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "VTK_DEFAULT_OPENGL_WINDOW"):
        monkeypatch.delenv(var, raising=False)
    prepare_environment()
    assert os.environ["VTK_DEFAULT_OPENGL_WINDOW"] == EGL_WINDOW
    monkeypatch.setenv("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
    prepare_environment()
    assert os.environ["VTK_DEFAULT_OPENGL_WINDOW"] == "vtkOSOpenGLRenderWindow"
    monkeypatch.delenv("VTK_DEFAULT_OPENGL_WINDOW")
    monkeypatch.setenv("DISPLAY", ":0")
    prepare_environment()
    assert "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ


def test_score_heatmap_faces_a_defect_on_a_thin_plate_from_above(monkeypatch):
    """Dataset clouds carry no normals: the heatmap estimates them, so a defect on a plate's top
    face is seen from above (the centroid-to-defect direction alone would look along the plate,
    edge-on, as the first reports did on the realistic preset's thin parts)."""
    import viz.heatmap as heatmap

    rng = np.random.default_rng(0)
    n = 3000
    top = np.c_[rng.uniform(-50, 50, (n, 2)), np.full(n, 5.0)]
    bottom = np.c_[rng.uniform(-50, 50, (n, 2)), np.full(n, -5.0)]
    points = np.r_[top, bottom]
    labels = np.zeros(len(points), dtype=bool)
    labels[:n] = np.linalg.norm(top[:, :2] - [30.0, 0.0], axis=1) < 6
    seen = []
    monkeypatch.setattr(heatmap, "draw_points", lambda ax, p, c, d, **kw: seen.append(d))
    heatmap.score_figure(points, labels.astype(float), labels=labels)
    assert len(seen) == 2 and all(d[2] > 0.95 for d in seen), seen
