"""The two virtual scanners of the benchmark: a 360-degree surface sampler and a depth camera.

``scan_full`` imitates Real3D-AD: a complete cloud of the part, uniformly sampled on its surface,
with exact face normals and small Gaussian noise. ``scan_depth`` imitates MVTec 3D-AD: one view
from a structured-light sensor above the part, an organized (H, W, 3) xyz image in camera
coordinates with missing pixels where nothing is measured.

The realistic preset (:mod:`.realistic`) uses two more: ``scan_varying``, a 360-degree scan
whose density varies smoothly over the part and whose noise is set in point spacings, and
``visible_from``, the points of such a scan that a sensor sees from given directions (ray cast
against the part), which cuts it to a partial view.

Everything here is in millimetres; the MVTec 3D-AD writer converts to metres (see :mod:`.layout`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from pointad.errors import InputError
from pointad.geometry.units import point_spacing
from pointad.validation import check_choice, check_number

CAMERAS = ("pinhole", "orthographic")


@dataclass(eq=False)
class FullScan:
    """A 360-degree scan of N points.

    Attributes:
        points: (N, 3) float64, mm, on the surface plus Gaussian noise.
        normals: (N, 3) float64 unit outward normals of the faces the points were sampled on.
        faces: (N,) int64 index of the mesh triangle of each point.
        surface: (N, 3) float64, the same points before the noise (exactly on the surface).
    """

    points: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    surface: np.ndarray | None = None


@dataclass(eq=False)
class DepthScan:
    """A single-view organized scan of H x W pixels, in camera coordinates (mm).

    The camera looks along +z; x to the right, y down the image. Pixel (i, j) is row i, column j.

    Attributes:
        xyz: (H, W, 3) float32, the measured point of each pixel; all zeros where missing.
        normals: (H, W, 3) float32 unit normals of the hit triangles, facing the sensor; zeros
            where missing.
        triangle: (H, W) int64 index of the part's triangle seen at each pixel; -1 where the
            pixel is missing or sees the background plane.
        valid: (H, W) bool, a point was measured (part or background).
        camera: the sensor: ``model``, ``focal_px`` (pinhole) or ``pixel_mm`` (orthographic),
            ``principal_point`` (cx, cy) in pixels, ``rotation`` (3, 3) with
            ``x_camera = rotation @ (x_world - position)``, ``position`` (3,) mm, ``direction``
            (3,) unit vector from the part towards the sensor, in world coordinates.
    """

    xyz: np.ndarray
    normals: np.ndarray
    triangle: np.ndarray
    valid: np.ndarray
    camera: dict = field(default_factory=dict)

    @property
    def on_part(self) -> np.ndarray:
        """(H, W) bool: measured pixels that see the part (not the background)."""
        return self.triangle >= 0


def _tensor(array: np.ndarray) -> Any:
    """An open3d tensor holding a copy of ``array`` (open3d's stubs do not type this
    constructor for numpy arrays)."""
    import open3d as o3d  # slow to import; only the scanners need it

    return o3d.core.Tensor(array)  # type: ignore[call-overload]


def scan_full(mesh: trimesh.Trimesh, n_points: int, rng: np.random.Generator,
              sigma: float = 0.02) -> FullScan:
    """Sample ``n_points`` points uniformly on the surface of ``mesh`` (area-weighted), seeded.

    Args:
        mesh: a closed triangle mesh, mm.
        n_points: number of points (>= 1).
        rng: numpy Generator; the same state gives the same scan.
        sigma: standard deviation of the isotropic Gaussian noise added to each coordinate, mm.

    Returns:
        A :class:`FullScan`; normals are the exact outward face normals (noise-free).
    """
    check_number(n_points, "n_points", low=1, integer=True)
    check_number(sigma, "sigma", low=0)
    surface, faces = _surface_samples(mesh, n_points, rng)
    # Drawn even when sigma is 0, so a noise-free scan has exactly the noisy scan's surface points.
    points = surface + rng.normal(0.0, sigma, size=surface.shape)
    normals = np.asarray(mesh.face_normals, dtype=np.float64)[faces]
    return FullScan(points=points, normals=normals, faces=faces, surface=surface)


def _surface_samples(mesh: trimesh.Trimesh, n_points: int, rng: np.random.Generator):
    """``n_points`` points drawn uniformly on the surface (area-weighted): (points, faces)."""
    area = np.asarray(mesh.area_faces, dtype=np.float64)
    cdf = np.cumsum(area)
    # Inverse CDF instead of rng.choice(p=...): the same draws whatever numpy does with p.
    faces = np.searchsorted(cdf, rng.random(n_points) * cdf[-1], side="right")
    faces = np.minimum(faces, len(area) - 1).astype(np.int64)
    uv = rng.random((n_points, 2))
    flip = uv.sum(axis=1) > 1.0
    uv[flip] = 1.0 - uv[flip]  # fold the square onto the triangle: uniform barycentrics
    tri = np.asarray(mesh.triangles, dtype=np.float64)[faces]
    points = tri[:, 0] + uv[:, :1] * (tri[:, 1] - tri[:, 0]) + uv[:, 1:] * (tri[:, 2] - tri[:, 0])
    return points, faces


def scan_varying(mesh: trimesh.Trimesh, n_points: int, rng: np.random.Generator, *,
                 density: float = 1.0, modulation: float = 0.0, wavelength: float | None = None,
                 sigma_spacings: float = 0.0, modes: int = 3) -> tuple[FullScan, dict]:
    """A 360-degree scan whose point density varies smoothly over the part, noise in spacings.

    Candidates are drawn uniformly on the surface and each is kept with the probability
    ``1 - modulation * (1 + g(x)) / 2``, where ``g`` in [-1, 1] is the mean of ``modes`` plane
    waves of length ``wavelength`` in random directions and phases: a low-frequency field, so
    some regions of the part are up to ``1 / (1 - modulation)`` times denser than others. About
    ``density * n_points`` points are kept. Then the point spacing ``s`` is measured
    (:func:`pointad.geometry.point_spacing`, on the noise-free points) and Gaussian noise of
    ``sigma_spacings * s`` is added to each coordinate.

    Args:
        mesh: a closed triangle mesh, mm.
        n_points: points of a uniform scan (``density`` 1, ``modulation`` 0 keeps exactly these).
        rng: numpy Generator; the same state gives the same scan.
        density: factor on the expected number of points, > 0.
        modulation: depth of the spatial density variation, [0, 1).
        wavelength: length of the waves, mm; None = the largest extent of the part.
        sigma_spacings: noise per coordinate in point spacings, >= 0.
        modes: number of plane waves.

    Returns:
        ``(scan, info)``: a :class:`FullScan` (``surface`` holds the noise-free points) and a
        dict of ``spacing_mm``, ``sigma_mm``, ``candidates`` and ``wavelength_mm``.
    """
    check_number(n_points, "n_points", low=1, integer=True)
    check_number(density, "density", low=0, low_open=True)
    check_number(modulation, "modulation", low=0, high=1, high_open=True)
    check_number(sigma_spacings, "sigma_spacings", low=0)
    check_number(modes, "modes", low=1, integer=True)
    if wavelength is None:
        wavelength = float(mesh.extents.max())
    check_number(wavelength, "wavelength", low=0, low_open=True)
    waves = rng.normal(size=(modes, 3))
    waves /= np.linalg.norm(waves, axis=1, keepdims=True)
    phases = rng.uniform(0.0, 2 * np.pi, size=modes)
    n_candidates = max(1, int(round(n_points * density / (1.0 - 0.5 * modulation))))
    surface, faces = _surface_samples(mesh, n_candidates, rng)
    field = np.cos(surface @ waves.T * (2 * np.pi / wavelength) + phases).mean(axis=1)
    accept = rng.random(n_candidates) < 1.0 - modulation * 0.5 * (1.0 + field)
    if accept.sum() < 2:  # a degenerate draw: keep everything rather than an empty scan
        accept[:] = True
    surface, faces = surface[accept], faces[accept]
    spacing = point_spacing(surface)
    sigma = float(sigma_spacings) * spacing
    points = surface + rng.normal(0.0, sigma, size=surface.shape)
    normals = np.asarray(mesh.face_normals, dtype=np.float64)[faces]
    info = {"spacing_mm": spacing, "sigma_mm": sigma, "candidates": n_candidates,
            "wavelength_mm": float(wavelength)}
    return FullScan(points=points, normals=normals, faces=faces, surface=surface), info


def visible_from(mesh: trimesh.Trimesh, points: np.ndarray, normals: np.ndarray, directions, *,
                 distance: float = 300.0, min_cos: float = 0.1) -> np.ndarray:
    """Which surface points a sensor sees from at least one of ``directions``: (N,) bool.

    A sensor sits ``distance`` mm from the centre of the part's bounding box along each unit
    direction (from the part towards the sensor). A point is seen when its face turns towards the
    sensor by ``cos >= min_cos`` (grazing returns are lost, as in :func:`scan_depth`) and the ray
    from it to the sensor leaves the part without hitting it (ray cast against ``mesh``).

    Args:
        mesh: the part, mm, in the pose of ``points``.
        points: (N, 3) points on the surface (noise-free, e.g. ``FullScan.surface``).
        normals: (N, 3) unit outward normals of their faces.
        directions: (V, 3) view directions.
        distance: sensor-to-part-centre distance, mm; it must put the sensors outside the part.
        min_cos: the least cosine between a face's normal and the ray to the sensor, [0, 1].
    """
    import open3d as o3d  # slow to import; only the scanners need it

    check_number(distance, "distance", low=0, low_open=True)
    check_number(min_cos, "min_cos", low=0, high=1)
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(_tensor(np.asarray(mesh.vertices, dtype=np.float32)),
                        _tensor(np.asarray(mesh.faces, dtype=np.uint32)))
    centre = mesh.bounds.mean(axis=0)
    # Rays start a hair off the surface so they do not hit the face they start on.
    origins = points + 1e-4 * float(np.linalg.norm(mesh.extents)) * normals
    seen = np.zeros(len(points), dtype=bool)
    for view in directions:
        sensor = centre + distance * view / np.linalg.norm(view)
        ray = sensor - origins
        length = np.linalg.norm(ray, axis=1)
        ray /= length[:, None]
        facing = np.einsum("ij,ij->i", ray, normals) >= min_cos
        rays = np.concatenate([origins, ray], axis=1).astype(np.float32)
        t_hit = scene.cast_rays(_tensor(rays), nthreads=0)["t_hit"].numpy()
        seen |= facing & ~(t_hit < length)  # inf (no hit) or beyond the sensor: clear
    return seen


def cone_direction(rng: np.random.Generator, cone_deg: float) -> np.ndarray:
    """A unit vector (3,) drawn uniformly on the spherical cap within ``cone_deg`` of +z."""
    cos_t = rng.uniform(np.cos(np.deg2rad(cone_deg)), 1.0)
    phi = rng.uniform(0.0, 2 * np.pi)
    sin_t = np.sqrt(max(0.0, 1.0 - cos_t**2))
    return np.array([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t])


def scan_depth(mesh: trimesh.Trimesh, rng: np.random.Generator, resolution=(128, 128), *,
               camera: str = "pinhole", cone_deg: float = 30.0, direction=None, roll=None,
               distance: float = 300.0, fill: float = 0.8, background: bool = True,
               sigma: float = 0.02, dropout: float = 0.005, min_cos: float = 0.1) -> DepthScan:
    """Scan ``mesh`` from one viewpoint above it by ray casting; an MVTec 3D-AD-like xyz image.

    The sensor looks at the centre of the part's bounding box from ``distance`` mm away, from a
    direction drawn within ``cone_deg`` of the world +z axis (the part rests on z = 0), with a
    random roll about its axis, and is zoomed so that the part spans ``fill`` of the image.

    Args:
        mesh: the part in world coordinates, mm (see :func:`pointad.synthbench.parts.posed`).
        rng: numpy Generator: direction, roll, noise and dropout are drawn from it.
        resolution: (H, W) pixels.
        camera: ``"pinhole"`` (perspective, rays from the sensor centre) or ``"orthographic"``
            (parallel rays).
        cone_deg: half-angle of the cone of view directions around +z, degrees.
        direction: (3,) vector from the part towards the sensor, instead of a random one.
        roll: rotation of the image about the optical axis, radians; None = random.
        distance: sensor-to-part-centre distance, mm.
        fill: fraction of the shorter image side the part's projection spans, (0, 1].
        background: add the plane z = (lowest point of the part) under it, like the sample
            holder of MVTec 3D-AD.
        sigma: standard deviation of the sensor noise along each ray, mm.
        dropout: fraction of pixels randomly lost (missing data), [0, 1).
        min_cos: returns at grazing angles, ``|cos(ray, normal)| < min_cos``, are dropped as
            structured-light sensors lose them.

    Returns:
        A :class:`DepthScan` (mm, camera coordinates).
    """
    import open3d as o3d  # slow to import; only this scanner needs it

    height, width = _resolution(resolution)
    check_choice(camera, "camera", CAMERAS)
    check_number(cone_deg, "cone_deg", low=0, high=89)
    check_number(distance, "distance", low=0, low_open=True)
    check_number(fill, "fill", low=0, high=1, low_open=True)
    check_number(sigma, "sigma", low=0)
    check_number(dropout, "dropout", low=0, high=1, high_open=True)
    check_number(min_cos, "min_cos", low=0, high=1)

    view = (cone_direction(rng, cone_deg) if direction is None
            else np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction))
    roll = rng.uniform(0.0, 2 * np.pi) if roll is None else float(roll)
    rotation = _camera_rotation(view, roll)
    target = mesh.bounds.mean(axis=0)
    position = target + distance * view

    def to_cam(p):
        return (np.asarray(p, dtype=np.float64) - position) @ rotation.T

    vertices = to_cam(mesh.vertices)
    if vertices[:, 2].min() <= 0:
        raise InputError(f"distance {distance} mm puts the sensor inside the part; increase it")
    origins, dirs, cam = _rays(vertices, height, width, camera, fill)

    scene = o3d.t.geometry.RaycastingScene()
    part_id = scene.add_triangles(_tensor(vertices.astype(np.float32)),
                                  _tensor(np.asarray(mesh.faces, dtype=np.uint32)))
    plane = None
    if background:
        plane = _background_plane(mesh, target, distance)
        scene.add_triangles(_tensor(to_cam(plane[0]).astype(np.float32)),
                            _tensor(plane[1].astype(np.uint32)))
    rays = np.concatenate([origins, dirs], axis=-1).astype(np.float32)
    hit = scene.cast_rays(_tensor(rays), nthreads=0)
    t_hit = hit["t_hit"].numpy().astype(np.float64)
    geometry = hit["geometry_ids"].numpy().astype(np.int64)
    primitive = hit["primitive_ids"].numpy().astype(np.int64)

    valid = np.isfinite(t_hit)
    is_part = valid & (geometry == part_id)
    # Exact depth in float64 from the hit triangle's plane (the ray caster works in float32).
    normals = np.zeros((height, width, 3))
    support = np.zeros((height, width, 3))
    face_normals = np.asarray(mesh.face_normals, dtype=np.float64) @ rotation.T
    normals[is_part] = face_normals[primitive[is_part]]
    support[is_part] = vertices[np.asarray(mesh.faces)[primitive[is_part], 0]]
    on_plane = valid & ~is_part
    if plane is not None:
        normals[on_plane] = np.array([0.0, 0.0, 1.0]) @ rotation.T
        support[on_plane] = to_cam(plane[0][0])
    denom = np.einsum("hwk,hwk->hw", dirs, normals)
    ok = valid & (np.abs(denom) > 1e-12)
    t_exact = t_hit.copy()
    t_exact[ok] = np.einsum("hwk,hwk->hw", support - origins, normals)[ok] / denom[ok]

    # Structured light loses returns at grazing incidence; then noise and random dropouts.
    valid &= np.abs(denom) >= min_cos
    # Always drawn: a noise-free scan then loses the same pixels as a noisy one of the same seed.
    noise = rng.normal(0.0, sigma, size=(height, width))
    lost = rng.random((height, width)) < dropout
    valid &= ~lost
    depth = np.where(valid, t_exact + noise, 0.0)
    xyz = np.where(valid[..., None], origins + depth[..., None] * dirs, 0.0)
    facing = np.where(denom[..., None] > 0, -normals, normals)  # normals face the sensor
    facing[~valid] = 0.0
    triangle = np.where(valid & is_part, primitive, -1)
    cam.update(rotation=rotation, position=position, direction=view, roll=roll,
               distance=float(distance))
    return DepthScan(xyz=xyz.astype(np.float32), normals=facing.astype(np.float32),
                     triangle=triangle, valid=valid, camera=cam)


def _resolution(resolution) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in resolution)
    except (TypeError, ValueError):
        raise InputError(f"resolution must be (H, W), got {resolution!r}") from None
    if height < 2 or width < 2 or (height, width) != tuple(resolution):
        raise InputError(f"resolution must be two integers >= 2, got {resolution!r}")
    return height, width


def _camera_rotation(view: np.ndarray, roll: float) -> np.ndarray:
    """World-to-camera rotation (3, 3): the camera z axis points along ``-view`` (at the part)."""
    z = -view
    ref = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = ref - (ref @ z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    # Roll the image about the optical axis.
    x, y = np.cos(roll) * x + np.sin(roll) * y, -np.sin(roll) * x + np.cos(roll) * y
    return np.stack([x, y, z])  # rows: camera axes in world coordinates


def _rays(vertices, height, width, camera, fill):
    """Ray origins and unit directions (H, W, 3) in camera coordinates, and the intrinsics."""
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64),
                             np.arange(width, dtype=np.float64), indexing="ij")
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    if camera == "pinhole":
        # Why tangents: the pinhole image of a vertex is (f x / z, f y / z) from the centre.
        tan = vertices[:, :2] / vertices[:, 2:3]
        focal = fill * 0.5 * min(height, width) / max(np.abs(tan).max(), 1e-9)
        dirs = np.stack([(cols - cx) / focal, (rows - cy) / focal, np.ones_like(rows)], axis=-1)
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        origins = np.zeros_like(dirs)
        cam = {"model": "pinhole", "focal_px": float(focal), "principal_point": (cx, cy)}
    else:
        lo, hi = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
        pixel = (hi - lo).max() / fill / min(height, width)
        mid = 0.5 * (lo + hi)
        origins = np.stack([mid[0] + (cols - cx) * pixel, mid[1] + (rows - cy) * pixel,
                            np.zeros_like(rows)], axis=-1)
        dirs = np.zeros_like(origins)
        dirs[..., 2] = 1.0
        cam = {"model": "orthographic", "pixel_mm": float(pixel), "principal_point": (cx, cy),
               "centre_mm": mid}
    return origins, dirs, cam


def _background_plane(mesh, target, distance):
    """Two triangles of the plane z = lowest point of the part, wide enough to fill any view."""
    z = float(mesh.bounds[0, 2])
    half = 4.0 * distance
    corners = np.array([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]])
    corners += [target[0], target[1], z]
    return corners, np.array([[0, 1, 2], [0, 2, 3]])
