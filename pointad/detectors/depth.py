"""The shared machinery of the 2D methods on depth renders (``uniad``, ``onenip``, ``pbas``).

Fit: render every training cloud (:func:`pointad.render.render`: organized scans on their own
pixel grid, other clouds from ``views`` orthographic directions of the part, registered onto the
first training cloud and completed from its render where a partial scan saw nothing: ``align``),
resize each view to ``size`` x ``size``, run the frozen backbone once per image (the features
are cached: the backbone never trains) and train the method's network on the cached features.
Predict: the same render and features, the method's per-view anomaly maps, back to per-point
scores with :func:`pointad.render.to_points` (max over views; points no view shows take the
score of their nearest shown point), and an object score (``object_score``: the method's image
score, max over views, or the mean of the top 1 % of the point scores).

Subclasses implement :meth:`DepthDetector._train` and :meth:`DepthDetector._score_views` (or,
scoring points directly, :meth:`DepthDetector._score_render`) and
keep their fitted state in torch modules and tensors that :meth:`_get_model_state` returns as
numpy arrays and :meth:`_set_model_state` restores. Their constructors list every parameter
(this class's and their own) explicitly: ``get_params`` reads them from the signature.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pointad.detectors.base import Detector, partial_cuts, rescanned_copies
from pointad.device import resolve_device, seeded
from pointad.errors import InputError
from pointad.io import CloudInput
from pointad.reductions import top_mean
from pointad.render.completion import GUARD_PIXELS
from pointad.validation import check_choice, check_number, check_seed, parse_bool

if TYPE_CHECKING:
    from pointad.ops import NeighbourIndex
    from pointad.render import DepthRender
    from pointad.render.views import ViewFrame

TEMPLATE_POINTS = 5000  # points of the registration template (align=True)
# align=True: a training cloud whose trimmed registration residual exceeds this many template
# point spacings is another part (a unified fit); the fit then renders every cloud in its own frame.
MAX_TRAIN_RESIDUAL = 2.0
MIN_CUT_POINTS = 16  # partial_views: a single-view cut with fewer points is not kept
OBJECT_SCORES = ("image", "points")
OBJECT_TOP_FRACTION = 0.01  # object_score="points": the mean of this top fraction of the points


class DepthDetector(Detector):
    """Base class of the detectors on depth renders (not registered itself).

    Args:
        backbone: frozen feature extractor (:func:`pointad.backbones.create_backbone` name):
            ``"geometric"`` (weight-free), ``"random-cnn"``, ``"efficientnet-lite0"``
            (ImageNet-pretrained, packaged), ``"torchvision:<arch>"``/``"timm:<arch>"`` with
            ``weights``.
        weights: local weights file of the backbone, when it needs one.
        views: 1, 3, 6, 14 or 26 orthographic views of unorganized clouds (organized scans:
            their grid; :data:`pointad.render.VIEW_SETS`).
        size: render side in pixels; organized scans are resized to it (nearest) for the network
            and the maps resized back.
        epochs: passes over the training images.
        batch_size: images per training step.
        lr: base learning rate.
        arch: ``"paper"`` (the paper's layer widths) or ``"small"`` (narrow, for CPU tests);
            both keep the layer counts, masks and losses.
        seed: seed of every random draw (initialisation, order, jitter, synthesis); the draws
            from torch's global generators (initialisation, dropout) run in
            :func:`pointad.device.seeded`, so the caller's random state is kept.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        progress: show progress bars while fitting (when stderr is a terminal).
        depth: depth scaling of unorganized renders (:func:`pointad.render.render`): ``"box"``
            (default: one scale from the part's fitting cube, so a defect changes only its own
            pixels) or ``"view"`` (min-max per view, which a protruding defect rescales whole).
        align: unorganized clouds only (default True): register every cloud onto the first
            training cloud (PCA starts + coarse-to-fine ICP,
            :func:`pointad.geometry.registration.align` with ``coarse=True``), render all of
            them in that cloud's frame, and paint the sides a partial scan did not see from the
            first cloud's render (:func:`pointad.render.completion.complete`), so each view
            shows the same side of the part in training and test (each cloud's own principal
            frame moves and flips with what a partial scan covers, and a view turned away from
            the scanner shows the back of the scanned surface). Costs one registration per
            cloud. A training cloud that does not register (trimmed residual over
            :data:`MAX_TRAIN_RESIDUAL` template spacings: another part, as in a unified fit)
            turns it off for that fit. ``False``: each cloud in its own principal frame.
        partial_views: unorganized clouds only: also train on this many single-view cuts of
            every training cloud (:func:`pointad.geometry.single_view_cuts`, seeded
            directions), each registered, rendered and completed as a partial test scan is, so
            the seams where a partial scan's own surface meets the painted template are seen
            as normal in training. 0 (default): the complete training clouds only.
        seam_guard: ``align`` only: the scan's pixels within this many pixels of a painted
            (unseen) region are not scored, the seam where two samplings of the part meet
            (:func:`pointad.render.completion.complete`; 0: every scan pixel is scored).
        rescans: unorganized clouds only: also train on this many re-scans of every (registered)
            training cloud (:func:`pointad.geometry.rescan.rescan`: a random 55-100 % of its
            points, Gaussian noise of 0-0.2 point spacings; seeded per cloud), rendered and
            completed as a test scan is, so a fresh sampling of a good part (other density,
            other noise, other splat pattern) is seen as normal in training. 0 (default): the
            training clouds as they are.
        object_score: the cloud's score: ``"image"`` (default: the method's image score, the
            highest over the views) or ``"points"`` (the mean of the top 1 % of the cloud's
            point scores, as ``raw`` and ``cpmf`` score a cloud: a high view score on a few
            pixels of one view, a seam or a stray return, then does not decide it).
        splat_tolerance: unorganized clouds only: the renders' z-buffer depth tolerance, in
            point spacings (:func:`pointad.render.render`'s ``splat_tolerance``). 0 (default): a
            plain z-test, which hides the floor of a dent a few spacings across behind its
            rim's splats (and shows the nearest of a noisy surface's points); > 0: a pixel shows
            the point nearest to it in the image plane among those at most this far behind the
            nearest, so more of every surface's own points are shown and scored.
    """

    name = "depth-base"
    presets: dict = {}

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 100, batch_size: int = 8, lr: float = 1e-4,
                 arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = True,
                 partial_views: int = 0, seam_guard: int = GUARD_PIXELS, rescans: int = 0,
                 object_score: str = "image", splat_tolerance: float = 0.0):
        if not isinstance(backbone, str):
            raise InputError(f"backbone must be a name, got {backbone!r}")
        self.backbone = backbone
        self.weights = None if weights is None else str(weights)
        from pointad.render.views import view_names
        self.views = len(view_names(views))  # InputError unless a view set
        self.size = check_number(size, "size", low=16, high=4096, integer=True)
        self.epochs = check_number(epochs, "epochs", low=1, integer=True)
        self.batch_size = check_number(batch_size, "batch_size", low=1, integer=True)
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.arch = check_choice(arch, "arch", tuple(self.presets))
        self.seed = check_seed(seed)
        self.progress = parse_bool(progress, "progress")
        from pointad.render import DEPTH_NORMS
        self.depth = check_choice(depth, "depth", DEPTH_NORMS)
        self.align = parse_bool(align, "align")
        self.partial_views = check_number(partial_views, "partial_views", low=0, integer=True)
        self.seam_guard = check_number(seam_guard, "seam_guard", low=0, integer=True)
        self.rescans = check_number(rescans, "rescans", low=0, integer=True)
        self.object_score = check_choice(object_score, "object_score", OBJECT_SCORES)
        self.splat_tolerance = check_number(splat_tolerance, "splat_tolerance", low=0)
        # align: the first training cloud's points (subsampled), frame and render (else None).
        self.template_: np.ndarray | None = None
        self.frame_: ViewFrame | None = None
        self.reference_: DepthRender | None = None
        self.device = device
        self._device = resolve_device(device)
        self._extractor: Any = None
        self._template_index: NeighbourIndex | None = None

    # Renders and features -------------------------------------------------------------------
    @property
    def extractor(self):
        """The frozen backbone, built on first use (deterministic from the parameters)."""
        if self._extractor is None:
            from pointad.backbones import create_backbone
            self._extractor = create_backbone(self.backbone, weights=self.weights,
                                              seed=self.seed, device=self.device)
        return self._extractor

    def render(self, cloud, **kw):
        """The :class:`pointad.render.DepthRender` of a cloud with this detector's settings
        (in the template's frame when ``align`` has set one)."""
        from pointad.render import render
        if self.frame_ is not None and not cloud.organized:
            kw.setdefault("frame", self.frame_)
        kw.setdefault("splat_tolerance", self.splat_tolerance)  # organized scans ignore it
        return render(cloud, views=self.views, size=self.size, depth=self.depth, **kw)

    def _set_template(self, cloud) -> None:
        """``align``: the first training cloud becomes the pose and frame of every render."""
        from pointad.geometry.registration import subsample
        from pointad.render.views import fit_frame
        self.template_ = self.frame_ = self.reference_ = None
        if self.align and not cloud.organized:
            self.template_ = subsample(cloud.points, TEMPLATE_POINTS, self.seed)
            self.frame_ = fit_frame(cloud.points, views=self.views)

    def _register(self, cloud):
        """``(cloud registered onto the template, trimmed residual in template spacings)``; the
        point order is kept, so scores map back one to one."""
        from pointad.geometry import point_spacing
        from pointad.geometry.registration import align, transform, trimmed_residual
        from pointad.ops import NeighbourIndex
        template = self.template_
        if template is None:
            raise InputError(f"{self.name}: no registration template (align is off)")
        if self._template_index is None:
            self._template_index = NeighbourIndex(template)
        matrix = align(cloud.points, template, max_points=TEMPLATE_POINTS, seed=self.seed,
                       target_index=self._template_index, coarse=True)
        points = transform(cloud.points, matrix)
        residual = trimmed_residual(points, self._template_index)
        return CloudInput(points), residual / point_spacing(template)

    def posed(self, cloud):
        """The cloud as rendered: registered onto the template (coarse-to-fine ICP) when
        ``align`` set one, else unchanged (the point order is kept)."""
        if self.template_ is None or cloud.organized:
            return cloud
        return self._register(cloud)[0]

    def completed(self, rendered, cloud):
        """``align``: the render of a registered cloud with the sides its scanner did not see
        painted from the template's render (:func:`pointad.render.completion.complete`), so a
        partial scan's views compare with a complete training cloud's; else unchanged."""
        if self.reference_ is None or cloud.organized:
            return rendered
        from pointad.render.completion import complete
        return complete(rendered, self.reference_, cloud.points, guard=self.seam_guard)

    def images(self, rendered) -> torch.Tensor:
        """(V, 5, size, size) float32 network input of a render (nearest resize when needed)."""
        x = torch.from_numpy(np.ascontiguousarray(rendered.images, dtype=np.float32))
        return resize_nearest(x, self.size)

    def levels(self, features: list, strides) -> list:
        """The backbone maps (:meth:`features`) at ``strides``; :class:`InputError` when the
        backbone has no level at one of them."""
        have = list(self.extractor.strides)
        missing = [s for s in strides if s not in have]
        if missing:
            raise InputError(f"backbone {self.backbone} has no level at stride {missing[0]}; "
                             f"its strides are {have}")
        return [features[have.index(s)] for s in strides]

    def features(self, images: torch.Tensor) -> list:
        """Backbone maps of (B, 5, H, W) images, in chunks of ``batch_size``, on the device."""
        chunks = [self.extractor(images[i:i + self.batch_size])
                  for i in range(0, len(images), self.batch_size)]
        return [torch.cat(level) for level in zip(*chunks)]

    def _bar(self, iterable, desc: str, **kw):
        return tqdm(iterable, desc=f"{self.name} {desc}", leave=False,
                    disable=not self.progress or None, **kw)

    def _generator(self) -> torch.Generator:
        return torch.Generator(device=self._device).manual_seed(self.seed)

    def _order(self, n: int, cpu_gen: torch.Generator) -> list:
        """Shuffled batches of ``n`` indices, one epoch."""
        perm = torch.randperm(n, generator=cpu_gen).tolist()
        return [perm[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    # Detector protocol ------------------------------------------------------------------------
    def _fit(self, clouds):
        self._template_index = None
        self._set_template(clouds[0])
        posed = clouds[:1]  # the template stays as it is
        for cloud in clouds[1:]:
            if self.template_ is None or cloud.organized:
                posed.append(cloud)
                continue
            moved, residual = self._register(cloud)
            if residual > MAX_TRAIN_RESIDUAL:  # another part (a unified fit): no common pose
                self.template_ = self.frame_ = self._template_index = None
                posed = list(clouds)
                break
            posed.append(moved)
        clouds = posed
        renders = [self.render(c) for c in self._bar(clouds, "render", unit="cloud")]
        if self.template_ is not None and not clouds[0].organized:
            self.reference_ = renders[0]
            renders = [renders[0]] + [self.completed(r, c) for r, c in zip(renders[1:],
                                                                          clouds[1:])]
        cuts = partial_cuts(clouds, self.partial_views, self.seed, MIN_CUT_POINTS)
        cuts += rescanned_copies(clouds, self.rescans, self.seed, MIN_CUT_POINTS)
        clouds = clouds + cuts
        renders = renders + [self.completed(self.render(c), c) for c in cuts]
        images = torch.cat([self.images(r) for r in renders])
        feats = self.features(images)
        view_of = torch.cat([torch.arange(r.n_views) for r in renders])
        with seeded(self.seed, self._device):  # initialisation and dropout
            self._train(feats, view_of, clouds, renders)

    def _predict(self, cloud):
        cloud = self.posed(cloud)
        return self._score_render(self.completed(self.render(cloud), cloud))

    def _score_render(self, rendered):
        """``(point scores (N,), object score)`` of one cloud's (registered, completed) render:
        the method's view maps (:meth:`_score_views`) back to the points (max over views), and
        the highest view score or the top 1 % of the point scores (``object_score``). A method
        that scores points directly overrides this instead."""
        from pointad.render import to_points
        valid = resize_nearest(torch.from_numpy(rendered.valid)[:, None].float(), self.size)
        maps, view_scores = self._score_views(self.features(self.images(rendered)),
                                              valid[:, 0].to(self._device) > 0.5)
        point_scores = to_points(maps.detach().cpu().double(), rendered)
        if self.object_score == "points":
            return point_scores, top_mean(point_scores, OBJECT_TOP_FRACTION)
        return point_scores, float(view_scores.max())

    def _get_state(self):
        pose: dict[str, Any] = {}
        if self.frame_ is not None:
            pose = {"pose.template": self.template_, **self.frame_.arrays("pose.")}
        if self.reference_ is not None:
            ref = self.reference_
            pose.update({"pose.reference": ref.images, "pose.reference_valid": ref.valid,
                         "pose.reference_range": ref.depth_range})
        return {**pose, **self._get_model_state()}

    def _set_state(self, arrays):
        from pointad.render.views import ViewFrame
        self.template_ = self.frame_ = self.reference_ = self._template_index = None
        if "pose.template" in arrays:
            self.template_ = np.asarray(arrays["pose.template"], dtype=np.float64)
            self.frame_ = ViewFrame.from_arrays(arrays, "pose.")
        if "pose.reference" in arrays:
            self.reference_ = reference_render(arrays, self.frame_)
        with seeded(self.seed, self._device):  # rebuilding the modules draws initial weights
            self._set_model_state(arrays)

    # Subclass hooks ---------------------------------------------------------------------------
    @abstractmethod
    def _train(self, features: list, view_of: torch.Tensor, clouds: list, renders: list) -> None:
        """Train on the cached backbone maps (a list of (M, C_i, h_i, w_i) over all M training
        images); ``view_of`` (M,) is each image's view index, ``clouds``/``renders`` the
        training clouds and their renders (in image order: cloud 0's views first). Runs in
        ``seeded(self.seed)``: modules built and dropout drawn here are seeded."""

    def _score_views(self, features: list, valid: torch.Tensor):
        """``(maps (V, size, size), scores (V,))`` of one cloud's V views; ``valid``
        (V, size, size) bool marks the pixels that show a point. Every map method implements
        it; a method that overrides :meth:`_score_render` (``cpmf``) does not need it."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _score_views "
                                  "nor _score_render")

    @abstractmethod
    def _get_model_state(self) -> dict:
        """The fitted network and statistics as named numpy arrays."""

    @abstractmethod
    def _set_model_state(self, arrays: dict) -> None:
        """Restore what :meth:`_get_model_state` returned (runs in ``seeded(self.seed)``)."""


def reference_render(arrays: dict, frame):
    """The template's render as :meth:`DepthDetector._get_state` saved it (images, valid pixels
    and depth ranges: what :func:`pointad.render.completion.complete` reads)."""
    from pointad.render import DepthRender
    valid = np.asarray(arrays["pose.reference_valid"], dtype=bool)
    return DepthRender(images=np.asarray(arrays["pose.reference"], dtype=np.float32),
                       index=np.where(valid, 0, -1), valid=valid, n_points=1,
                       seen=np.ones(1, dtype=bool),
                       depth_range=np.asarray(arrays["pose.reference_range"], dtype=np.float64),
                       frame=frame)


def resize_nearest(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size) by nearest-neighbour sampling (no mixing of empty and
    surface pixels); unchanged when already that size."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="nearest-exact")


def standardize_stats(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of (M, C, h, w) training maps, shaped (1, C, 1, 1). A channel
    (nearly) constant in training would blow up any test deviation, so each std is at least 1%
    of the mean std over the channels."""
    mean = maps.mean(dim=(0, 2, 3), keepdim=True)
    std = maps.std(dim=(0, 2, 3), keepdim=True)
    return mean, std.clamp(min=max(1e-2 * float(std.mean()), 1e-12))


def pool_kernel(size: int) -> int:
    """UniAD's 16 x 16 image-score pool at 224 px, scaled to ``size``."""
    return max(1, round(16 * size / 224))


def pooled_max(maps: torch.Tensor, valid: torch.Tensor, size: int) -> torch.Tensor:
    """UniAD's image score on renders: the max of the map after the scaled average pool (stride
    1, same size), taken over the pixels that show the part only (ours: on renders the empty
    background around the silhouette varies with the pose and is no defect). (V,) scores;
    views that show nothing score their whole map's max."""
    k = pool_kernel(size)
    pooled = F.avg_pool2d(maps[:, None], k, stride=1, padding=k // 2,
                          count_include_pad=False)[:, 0, :maps.shape[1], :maps.shape[2]]
    masked = torch.where(valid, pooled, torch.full_like(pooled, -torch.inf))
    best = masked.flatten(1).max(dim=1).values
    return torch.where(torch.isfinite(best), best, pooled.flatten(1).max(dim=1).values)
