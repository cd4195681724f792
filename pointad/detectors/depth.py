"""The shared machinery of the 2D methods on depth renders (``uniad``, ``onenip``, ``pbas``).

Fit: render every training cloud (:func:`pointad.render.render`: organized scans on their own
pixel grid, other clouds from ``views`` orthographic directions of the pose-normalised part),
resize each view to ``size`` x ``size``, run the frozen backbone once per image (the features
are cached: the backbone never trains) and train the method's network on the cached features.
Predict: the same render and features, the method's per-view anomaly maps, back to per-point
scores with :func:`pointad.render.to_points` (max over views; points no view shows take the
score of their nearest shown point), and an object score (the method's image score, max over
views).

Subclasses implement :meth:`DepthDetector._train` and :meth:`DepthDetector._score_views` and
keep their fitted state in torch modules and tensors that :meth:`_get_model_state` returns as
numpy arrays and :meth:`_set_model_state` restores. Their constructors list every parameter
(this class's and their own) explicitly: ``get_params`` reads them from the signature.
"""
from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pointad.detectors.base import Detector
from pointad.device import resolve_device, seeded
from pointad.errors import InputError
from pointad.io import CloudInput
from pointad.validation import check_choice, check_number, check_seed, parse_bool

VIEW_CHOICES = (1, 3, 6)
TEMPLATE_POINTS = 5000  # points of the registration template (align=True)


class DepthDetector(Detector):
    """Base class of the detectors on depth renders (not registered itself).

    Args:
        backbone: frozen feature extractor (:func:`pointad.backbones.create_backbone` name):
            ``"geometric"`` (weight-free), ``"random-cnn"``, ``"efficientnet-lite0"``
            (ImageNet-pretrained, packaged), ``"torchvision:<arch>"``/``"timm:<arch>"`` with
            ``weights``.
        weights: local weights file of the backbone, when it needs one.
        views: 1, 3 or 6 orthographic views of unorganized clouds (organized scans: their grid).
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
        align: unorganized clouds only: register every cloud onto the first training cloud
            (PCA starts + ICP, :func:`pointad.geometry.registration.align`) and render all of
            them in that cloud's frame, so each view shows the same side of the part in training
            and test (each cloud's own principal frame can flip on symmetric parts, and a defect
            tilts it). Costs one registration per cloud. Meant for one category per fit (a
            unified fit would register other parts onto the first category's cloud).
    """

    name = "depth-base"
    presets: dict = {}

    def __init__(self, backbone: str = "geometric", weights=None, views: int = 6,
                 size: int = 128, epochs: int = 100, batch_size: int = 8, lr: float = 1e-4,
                 arch: str = "paper", seed: int = 0, device: str = "auto",
                 progress: bool = True, depth: str = "box", align: bool = False):
        if not isinstance(backbone, str):
            raise InputError(f"backbone must be a name, got {backbone!r}")
        self.backbone = backbone
        self.weights = None if weights is None else str(weights)
        if isinstance(views, bool) or views not in VIEW_CHOICES:
            raise InputError(f"views must be one of 1, 3, 6; got {views!r}")
        self.views = int(views)
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
        self.template_ = self.frame_ = None
        self.device = device
        self._device = resolve_device(device)
        self._extractor = None

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
        return render(cloud, views=self.views, size=self.size, depth=self.depth, **kw)

    def _set_template(self, cloud) -> None:
        """``align``: the first training cloud becomes the pose and frame of every render."""
        from pointad.geometry.registration import subsample
        from pointad.render.views import fit_frame
        self.template_ = self.frame_ = None
        if self.align and not cloud.organized:
            self.template_ = subsample(cloud.points, TEMPLATE_POINTS, self.seed)
            self.frame_ = fit_frame(cloud.points)

    def posed(self, cloud):
        """The cloud as rendered: registered onto the template when ``align`` set one, else
        unchanged (the point order is kept, so scores map back one to one)."""
        if self.template_ is None or cloud.organized:
            return cloud
        from pointad.geometry.registration import align, transform
        matrix = align(cloud.points, self.template_, max_points=TEMPLATE_POINTS, seed=self.seed)
        return CloudInput(transform(cloud.points, matrix))

    def images(self, rendered) -> torch.Tensor:
        """(V, 5, size, size) float32 network input of a render (nearest resize when needed)."""
        x = torch.from_numpy(np.ascontiguousarray(rendered.images, dtype=np.float32))
        return resize_nearest(x, self.size)

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
        self._set_template(clouds[0])
        clouds = clouds[:1] + [self.posed(c) for c in clouds[1:]]  # the template stays as it is
        renders = [self.render(c) for c in self._bar(clouds, "render", unit="cloud")]
        images = torch.cat([self.images(r) for r in renders])
        feats = self.features(images)
        view_of = torch.cat([torch.arange(r.n_views) for r in renders])
        with seeded(self.seed, self._device):  # initialisation and dropout
            self._train(feats, view_of, clouds, renders)

    def _predict(self, cloud):
        from pointad.render import to_points
        rendered = self.render(self.posed(cloud))
        valid = resize_nearest(torch.from_numpy(rendered.valid)[:, None].float(), self.size)
        maps, view_scores = self._score_views(self.features(self.images(rendered)),
                                              valid[:, 0].to(self._device) > 0.5)
        point_scores = to_points(maps.detach().cpu().double(), rendered)
        return point_scores, float(view_scores.max())

    def _get_state(self):
        pose = {}
        if self.frame_ is not None:
            pose = {"pose.template": self.template_, **self.frame_.arrays("pose.")}
        return {**pose, **self._get_model_state()}

    def _set_state(self, arrays):
        from pointad.render.views import ViewFrame
        self.template_ = self.frame_ = None
        if "pose.template" in arrays:
            self.template_ = np.asarray(arrays["pose.template"], dtype=np.float64)
            self.frame_ = ViewFrame.from_arrays(arrays, "pose.")
        with seeded(self.seed, self._device):  # rebuilding the modules draws initial weights
            self._set_model_state(arrays)

    # Subclass hooks ---------------------------------------------------------------------------
    @abstractmethod
    def _train(self, features: list, view_of: torch.Tensor, clouds: list, renders: list) -> None:
        """Train on the cached backbone maps (a list of (M, C_i, h_i, w_i) over all M training
        images); ``view_of`` (M,) is each image's view index, ``clouds``/``renders`` the
        training clouds and their renders (in image order: cloud 0's views first). Runs in
        ``seeded(self.seed)``: modules built and dropout drawn here are seeded."""

    @abstractmethod
    def _score_views(self, features: list, valid: torch.Tensor):
        """``(maps (V, size, size), scores (V,))`` of one cloud's V views; ``valid``
        (V, size, size) bool marks the pixels that show a point."""

    @abstractmethod
    def _get_model_state(self) -> dict:
        """The fitted network and statistics as named numpy arrays."""

    @abstractmethod
    def _set_model_state(self, arrays: dict) -> None:
        """Restore what :meth:`_get_model_state` returned (runs in ``seeded(self.seed)``)."""


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
