"""Rigid alignment of one cloud to another: PCA pre-alignment, then ICP (open3d).

PCA axes have sign ambiguities, so the four proper (determinant +1) sign combinations are each
refined by ICP and the one with the smallest trimmed residual wins. Returns 4 x 4 transforms that
map the source into the target's frame.
"""
from __future__ import annotations

import numpy as np

from pointad.geometry.frames import principal_frame
from pointad.geometry.units import object_diameter, point_spacing

_SIGN_FLIPS = [np.diag(d) for d in ([1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1])]


def subsample(points: np.ndarray, max_points: int, seed: int = 0) -> np.ndarray:
    """At most ``max_points`` rows of (N, 3) ``points``, chosen uniformly with a seed."""
    if len(points) <= max_points:
        return points
    rng = np.random.default_rng(seed)
    return points[np.sort(rng.choice(len(points), max_points, replace=False))]


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 4 x 4 rigid transform to (N, 3) points."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def pca_candidates(source: np.ndarray, target: np.ndarray) -> list[np.ndarray]:
    """The four 4 x 4 transforms that map the source's principal frame onto the target's."""
    cs, axes_s = principal_frame(source)
    ct, axes_t = principal_frame(target)
    out = []
    for flip in _SIGN_FLIPS:
        rot = axes_t.T @ flip @ axes_s
        m = np.eye(4)
        m[:3, :3] = rot
        m[:3, 3] = ct - rot @ cs
        out.append(m)
    return out


def trimmed_residual(points: np.ndarray, index, keep: float = 0.9) -> float:
    """Mean of the smallest ``keep`` fraction of the distances from (N, 3) ``points`` to their
    nearest neighbour in ``index`` (a :class:`pointad.ops.NeighbourIndex`), robust to partial
    overlap and to the defects themselves."""
    return _trimmed_mean(index.query(points, 1)[0][:, 0], keep)


def _trimmed_mean(distances: np.ndarray, keep: float = 0.9) -> float:
    d = np.sort(distances)
    return float(d[: max(1, int(keep * len(d)))].mean())


def icp(source: np.ndarray, target: np.ndarray, starts: list, distances: list, *,
        iterations: int = 30) -> list[np.ndarray]:
    """Each 4 x 4 pose of ``starts`` refined by point-to-point ICP (Open3D) taking (N, 3)
    ``source`` onto (M, 3) ``target``: one run of at most ``iterations`` per correspondence
    distance of ``distances`` in turn (coarse to fine; units of the clouds). Returns the
    refined 4 x 4 poses, in the order of ``starts``."""
    import open3d as o3d

    reg = o3d.pipelines.registration
    pcd_src = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(source, float)))
    pcd_dst = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(target, float)))
    criteria = reg.ICPConvergenceCriteria(max_iteration=iterations)
    method = reg.TransformationEstimationPointToPoint()
    refined = []
    for start in starts:
        matrix = np.asarray(start, dtype=np.float64)
        for distance in distances:
            matrix = np.asarray(reg.registration_icp(pcd_src, pcd_dst, distance, matrix, method,
                                                     criteria).transformation)
        refined.append(matrix)
    return refined


def _schedule(target: np.ndarray, coarse: bool) -> list[float]:
    """ICP correspondence distances for the (subsampled) ``target``: 20 % and 5 % of its
    diameter when ``coarse``, then five times its point spacing (the fine run)."""
    fine = [5.0 * point_spacing(target)]
    if not coarse:
        return fine
    diameter = object_diameter(target)
    return [0.2 * diameter, 0.05 * diameter] + fine


def align(source: np.ndarray, target: np.ndarray, *, max_points: int = 5000,
          iterations: int = 50, pca: bool = True, seed: int = 0,
          target_index=None, coarse: bool = False, symmetries=None,
          target_spacing: float | None = None) -> np.ndarray:
    """4 x 4 rigid transform taking (N, 3) ``source`` onto (M, 3) ``target``.

    Both clouds are subsampled to ``max_points`` for speed; the ICP correspondence distance is
    five times the target's point spacing. ``pca=False`` starts from the identity only
    (already roughly aligned data, e.g. scans from a fixed sensor). ``target_index``: a
    :class:`pointad.ops.NeighbourIndex` of ``target`` to reuse across calls. ``coarse``: each
    start first runs ICP with correspondences up to 20 % and then 5 % of the target's diameter
    before the fine run (a partial view or a pose of tens of degrees, where the fine run alone
    settles in a wrong minimum). The start with the smallest trimmed residual wins.

    ``symmetries`` (the target's near-symmetries, 4 x 4 transforms,
    :func:`pointad.geometry.symmetry.near_symmetries`): the winner composed with each symmetry
    is judged with the winner by :func:`best_pose`, the fewest source points far from the
    target (the two such poses it prefers refined by the fine run first). A defect is far from
    the target under every such pose, a small feature that breaks a symmetry (a keyway, a
    handle) only under the wrong ones; the trimmed residual alone cannot tell them apart.
    ``target_spacing``: the whole target's point spacing, when known (else measured).
    """
    from pointad.ops import NeighbourIndex

    src = subsample(source, max_points, seed)
    dst = subsample(target, max_points, seed + 1)
    index = target_index if target_index is not None else NeighbourIndex(target)
    starts = [np.eye(4)] + (pca_candidates(src, dst) if pca else [])
    best, best_residual = np.eye(4), np.inf
    for matrix in icp(src, dst, starts, _schedule(dst, coarse), iterations=iterations):
        residual = trimmed_residual(transform(src, matrix), index)
        if residual < best_residual:
            best, best_residual = matrix.copy(), residual
    others = [sym @ best for sym in (symmetries or [])[1:]]
    if not others:
        return best
    if target_spacing is None:
        target_spacing = point_spacing(target, index=index)
    return _refine_best(src, dst, best, others, index, iterations, target_spacing)


def polish(source: np.ndarray, target: np.ndarray, matrix: np.ndarray, *, spacing: float,
           max_points: int = 5000, iterations: int = 30, seed: int = 0, distance: float = 3.0,
           target_index=None, target_normals: np.ndarray | None = None) -> np.ndarray:
    """``matrix`` (4 x 4, taking (N, 3) ``source`` onto (M, 3) ``target``) refined by
    point-to-plane ICP against the whole target, with correspondences up to ``distance`` x
    ``spacing`` (the target's point spacing, scene units).

    Point-to-point ICP against a subsample (:func:`align`) leaves the source up to a few
    spacings off where two independent samplings of a surface meet; the distance to the
    target's tangent planes does not care where on the surface its points happen to lie. Each
    of at most ``iterations`` steps pairs every source point with its nearest target point and
    solves the linearised least squares of the plane distances for a small turn and shift
    (the turn applied exactly, Rodrigues). Deterministic (no threaded sums). Only a finishing
    step: ``matrix`` must already be within ``distance`` spacings. ``source`` is subsampled to
    ``max_points`` with ``seed`` as in :func:`align`; ``target_index`` (a
    :class:`pointad.ops.NeighbourIndex` of ``target``) and ``target_normals`` ((M, 3), any
    sign; else :func:`plane_normals`) when known.

    The least squares is not robust: where the pairs leave a direction nearly free (a plate
    slides within its plane) the plane distances of a defect pull the pose along it, several
    spacings and degrees on a dented plate. So the polished pose is returned only when its
    trimmed residual (:func:`trimmed_residual`, blind to a defect) is at most 1 % above that
    of ``matrix``, else ``matrix`` (on the realistic benchmark the polish changed it by -5 % to
    +0.2 %; on a dented plate by +150 % to +580 %).
    """
    from pointad.geometry.rotations import rotation_about
    from pointad.ops import NeighbourIndex

    src = subsample(np.asarray(source, dtype=np.float64), max_points, seed)
    index = target_index if target_index is not None else NeighbourIndex(target)
    normals = target_normals if target_normals is not None else plane_normals(target)
    start = np.asarray(matrix, dtype=np.float64).copy()
    current = start.copy()
    for _ in range(iterations):
        moved = transform(src, current)
        dist, near = (a[:, 0] for a in index.query(moved, 1))
        keep = dist < distance * spacing
        if keep.sum() < 6:
            break
        p, n = moved[keep], normals[near[keep]]
        centre = p.mean(axis=0)  # linearised about the pairs' centre: better conditioned
        rows = np.hstack([np.cross(p - centre, n), n])
        step = np.linalg.lstsq(rows, ((target[near[keep]] - p) * n).sum(axis=1), rcond=None)[0]
        turn, shift = step[:3], step[3:]
        angle = float(np.linalg.norm(turn))
        update = np.eye(4)
        if angle > 0:
            update[:3, :3] = rotation_about(turn, angle)
        update[:3, 3] = centre + shift - update[:3, :3] @ centre
        current = update @ current
        if angle < 1e-7 and np.linalg.norm(shift) < 1e-5 * spacing:
            break
    if trimmed_residual(transform(src, current), index) > 1.01 * trimmed_residual(
            transform(src, start), index):
        return start
    return current


def plane_normals(target: np.ndarray) -> np.ndarray:
    """(M, 3) unoriented normals of (M, 3) ``target`` from 16 neighbours: the planes
    :func:`polish` measures distances to."""
    from pointad.geometry.normals import estimate_normals

    return estimate_normals(target, 16, orient="none")


def _refine_best(src: np.ndarray, dst: np.ndarray, best: np.ndarray, others: list, index,
                 iterations: int, spacing: float, refine: int = 2) -> np.ndarray:
    """``best`` or one of ``others``, whichever :func:`best_pose` prefers with points far
    beyond 3 ``spacing`` (the whole target's point spacing). Only the ``refine`` of ``others``
    it prefers unrefined are refined by the fine ICP run of :func:`align` (``src`` and ``dst``:
    the subsampled clouds) and compete."""
    far = 3.0 * spacing
    keys = [_pose_key(src, m, index, far) for m in others]
    chosen = sorted(range(len(others)), key=keys.__getitem__)[:refine]
    refined = icp(src, dst, [others[i] for i in chosen], _schedule(dst, coarse=False),
                  iterations=iterations)
    return best_pose(src, [best] + refined, index, far)


def best_turn(source: np.ndarray, target: np.ndarray, pose: np.ndarray, index, *,
              spacing: float, share: float = 0.02, iterations: int = 30,
              steps: int = 8) -> np.ndarray:
    """``pose`` (4 x 4, taking (N, 3) ``source`` onto (M, 3) ``target``) or a turn of it that
    fits better.

    When more than ``share`` of the source lies farther than 3 ``spacing`` (the whole target's
    point spacing; ``index``: its :class:`pointad.ops.NeighbourIndex`) from the target under
    ``pose``, the pose is turned about each of the target's principal axes through the moved
    source's centre by every multiple of 360 / ``steps`` degrees, each turn is refined by the
    coarse-to-fine ICP of :func:`align`, and :func:`best_pose` picks among ``pose`` and them
    (the fewest far points); else ``pose`` comes back as it is. ``source`` and ``target``:
    the (subsampled) clouds ICP runs on.

    For a pose ICP settled on far from the true one that no start of :func:`align` and no
    near-symmetry reaches (a partial view of a mug turned 150 degrees about its axis: the body
    fits, the handle does not), a start within half a step of the truth converges to it.
    """
    from pointad.geometry.rotations import rotation_about

    far = 3.0 * spacing
    if _pose_key(source, pose, index, far)[0] <= share * len(source):
        return pose
    centre = transform(source, pose).mean(axis=0)
    starts = []
    for axis in principal_frame(target)[1]:
        for k in range(1, steps):
            turn = np.eye(4)
            turn[:3, :3] = rotation_about(axis, 2.0 * np.pi * k / steps)
            turn[:3, 3] = centre - turn[:3, :3] @ centre
            starts.append(turn @ pose)
    turned = icp(source, target, starts, _schedule(target, coarse=True), iterations=iterations)
    return best_pose(source, [pose] + turned, index, far)


def _pose_key(points: np.ndarray, matrix: np.ndarray, index, far: float) -> tuple:
    """(points farther than ``far`` after ``matrix``, trimmed residual): smaller is better."""
    d = index.query(transform(points, matrix), 1)[0][:, 0]
    return int((d > far).sum()), _trimmed_mean(d)


def best_pose(points: np.ndarray, poses: list, index, far: float) -> np.ndarray:
    """The 4 x 4 pose of ``poses`` that leaves the fewest of (N, 3) ``points`` farther than
    ``far`` from the target (``index``: its :class:`pointad.ops.NeighbourIndex`).

    The first pose (the one found so far) is kept unless another leaves at least
    max(3, 0.1 % of the points) fewer far: a turn of a near-symmetric part (a hex bolt by 60
    degrees, a gear by a tooth) fits as well as the true pose, and a few points or a smaller
    trimmed residual, noise, must not trade one for the other; what the pose carries beyond
    the distances (where on the training cloud a point lands: the hole channel, the
    calibration) differs between them. Among the poses that do, the fewest far, then the
    smaller trimmed residual, then the earlier."""
    keys = [_pose_key(points, m, index, far) for m in poses]
    need = max(3, int(0.001 * len(points)))
    better = [i for i in range(1, len(poses)) if keys[i][0] <= keys[0][0] - need]
    if not better:
        return np.asarray(poses[0]).copy()
    return np.asarray(poses[min(better, key=keys.__getitem__)]).copy()


def align_to_templates(points: np.ndarray, templates: dict, indexes: dict, *,
                       max_points: int = 5000, iterations: int = 50, pca: bool = True,
                       seed: int = 0, coarse: bool = False,
                       symmetries: dict | None = None, normals: dict | None = None,
                       turns: float | None = 0.02) -> dict:
    """``{j: 4 x 4 pose of (N, 3) points on templates[j]}`` for several training clouds of
    one part (``templates``, ``indexes``: id -> (M, 3) cloud, its
    :class:`pointad.ops.NeighbourIndex`), each by :func:`align` (the keywords are its own).

    With ``symmetries`` (id -> the template's near-symmetries; a cache: the ids it lacks are
    filled in with :func:`pointad.geometry.symmetry.near_symmetries` of their template and
    ``seed``), each template's pose also tries its near-symmetries and then the poses found on
    the other templates, judged by
    :func:`best_pose` (training clouds of one part usually share a frame, so a start that
    converged on one is a start for the others; where they do not, such a guess loses to the
    pose found alone); each pose is then finished by :func:`polish` (point-to-plane on the
    whole template). ``normals`` (id -> the template's :func:`plane_normals`, for the polish):
    a cache as ``symmetries`` is (None: measured on every call). Without ``symmetries``, the
    templates are aligned independently.
    """
    if symmetries is None:
        return {j: align(points, templates[j], max_points=max_points, iterations=iterations,
                         pca=pca, seed=seed, target_index=indexes[j], coarse=coarse)
                for j in templates}
    from pointad.geometry.symmetry import near_symmetries

    normals = {} if normals is None else normals
    for j in templates:
        if j not in symmetries:
            symmetries[j] = near_symmetries(templates[j], seed=seed)
        if j not in normals:
            normals[j] = plane_normals(templates[j])
    spacings = {j: point_spacing(templates[j], index=indexes[j]) for j in templates}
    poses = {j: align(points, templates[j], max_points=max_points, iterations=iterations,
                      pca=pca, seed=seed, target_index=indexes[j], coarse=coarse,
                      symmetries=symmetries[j], target_spacing=spacings[j])
             for j in templates}
    src = subsample(points, max_points, seed)
    dsts = {j: subsample(templates[j], max_points, seed + 1) for j in templates}
    if turns is not None:
        poses = {j: best_turn(src, dsts[j], poses[j],
                              indexes[j], spacing=spacings[j], share=turns,
                              iterations=iterations)
                 for j in templates}
    if len(poses) > 1:
        poses = {j: _refine_best(src, dsts[j], poses[j],
                                 [poses[i] for i in templates if i != j], indexes[j],
                                 iterations, spacings[j])
                 for j in templates}
    return {j: polish(points, templates[j], poses[j], spacing=spacings[j],
                      max_points=max_points, iterations=iterations, seed=seed,
                      target_index=indexes[j], target_normals=normals[j])
            for j in templates}


def nearest_template_points(points: np.ndarray, matrices: dict, indexes) -> tuple:
    """Each point's nearest point over several aligned templates.

    ``points``: (N, 3); ``matrices``: template id -> the 4 x 4 transform taking ``points`` onto
    that template (:func:`align`); ``indexes``: template id -> a
    :class:`pointad.ops.NeighbourIndex` of the template. Returns ``(distance (N,), template
    (N,) int, nearest (N,) int)``: the smallest distance after the move, the template it is
    to (the first of those in ``matrices``' order on a tie; -1 with ``matrices`` empty) and
    the index of the nearest point in that template.
    """
    best = np.full(len(points), np.inf)
    template = np.full(len(points), -1, dtype=np.int64)
    nearest = np.zeros(len(points), dtype=np.int64)
    for j, matrix in matrices.items():
        dist, near = (a[:, 0] for a in indexes[j].query(transform(points, matrix), 1))
        closer = dist < best
        best[closer], template[closer], nearest[closer] = dist[closer], j, near[closer]
    return best, template, nearest
