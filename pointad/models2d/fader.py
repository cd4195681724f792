"""FADeR (Park et al., arXiv 2407.04597, 2024): inpainting reconstruction with one deterministic
mask, a mosaic hint in the masked region and feature attenuation on the U-Net skip connections.

Only the abstract of the paper is known; what is ours is marked so.

* Mask (EAR-style excision; the saliency prior is ours for depth renders): the image is cut into
  ``patch`` x ``patch`` cells; the cells that show surface are ranked by their mean saliency
  (curvature, the geometric analogue of the DINO attention EAR uses) and the top ``ratio`` of them
  are excised: ``round(ratio * n_surface_cells)`` cells, ties broken by cell index, so the same
  image always gets the same mask (:func:`saliency_mask`).
* Hint (EAR): the excised cells hold a mosaic of the input (``mosaic`` x ``mosaic`` block means,
  nearest upsampled) instead of zeros; every other pixel is the input (:func:`mosaic_hint`).
* Reconstructor [ours: sizes]: a U-Net of ``levels`` down and up steps (two 3 x 3 conv + ReLU per
  step, average-pool down, bilinear up, skip connections at every resolution); input the hinted
  image plus the mask channel, output the full image (:class:`FADeRNet`).
* Attenuation (FADeR; the form is ours, following the abstract): per skip tensor ``F_l`` an MLP of
  two 1 x 1 convolutions ``a_l = sigmoid(W2 relu(W1 F_l))`` (C -> C/4 -> 1) and
  ``F_l <- a_l * F_l``, a soft mask on the skip connection (:class:`Attenuation`). It is trained
  without defect labels from the reconstruction errors of a first pass: the target is
  ``t = 1 - minmax(patch error)`` per image, at each skip's resolution
  (:func:`attenuation_targets`), with BCE: first the MLPs alone on the frozen encoder, then
  jointly with the reconstruction loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# U-Net widths per resolution (first = full resolution, last = bottleneck); ``paper`` follows
# the recipe's 4 down / 4 up levels at usual U-Net widths [ours], ``small`` keeps the levels with
# narrow layers for CPU tests.
PRESETS = {
    "paper": dict(widths=(64, 128, 256, 512, 512)),
    "small": dict(widths=(16, 32, 48, 64, 64)),
}


def saliency_mask(saliency: torch.Tensor, surface: torch.Tensor, ratio: float,
                  patch: int) -> torch.Tensor:
    """The single deterministic mask of each image: (B, H, W) float, 1 = excised.

    Args:
        saliency: (B, H, W) saliency per pixel (higher = excised first).
        surface: (B, H, W) bool, pixels that show the part; only cells with surface compete and
            a cell's saliency is its mean over its surface pixels.
        ratio: fraction of the surface cells excised, ``round(ratio * n)`` of them (at least one
            when ``ratio > 0`` and the image shows surface).
        patch: cell side in pixels (H and W need not be multiples: the last cells are cropped).
    """
    b, h, w = saliency.shape
    gh, gw = -(-h // patch), -(-w // patch)
    pad = (0, gw * patch - w, 0, gh * patch - h)
    s = F.pad(saliency * surface, pad)[:, None]
    m = F.pad(surface.to(saliency.dtype), pad)[:, None]
    count = F.avg_pool2d(m, patch).flatten(1)
    mean = F.avg_pool2d(s, patch).flatten(1) / count.clamp_min(1e-12)
    has = count > 0
    n_cells = gh * gw
    # Cells without surface rank last; among the rest, higher saliency first, then lower index.
    key = torch.where(has, mean, torch.full_like(mean, -torch.inf))
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    n_keep = torch.round(ratio * has.sum(1).to(saliency.dtype)).long()
    if ratio > 0:
        n_keep = torch.maximum(n_keep, has.any(1).long())
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_cells, device=order.device).expand(b, -1))
    cells = (rank < n_keep[:, None]).to(saliency.dtype).reshape(b, 1, gh, gw)
    full = F.interpolate(cells, scale_factor=patch, mode="nearest")
    return full[:, 0, :h, :w]


def mosaic(images: torch.Tensor, block: int) -> torch.Tensor:
    """(B, C, H, W) -> the same shape of ``block`` x ``block`` block means (nearest upsampled;
    border blocks average the pixels they have)."""
    h, w = images.shape[-2:]
    pooled = F.avg_pool2d(images, block, ceil_mode=True, count_include_pad=False)
    return F.interpolate(pooled, scale_factor=block, mode="nearest")[..., :h, :w]


def mosaic_hint(images: torch.Tensor, mask: torch.Tensor, block: int) -> torch.Tensor:
    """EAR's hinted input: the mosaic of ``images`` (B, C, H, W) where ``mask`` (B, H, W) is 1,
    the images themselves elsewhere."""
    m = mask[:, None].to(images.dtype)
    return images * (1 - m) + mosaic(images, block) * m


def attenuation_targets(errors: torch.Tensor, sizes) -> list:
    """FADeR's self-supervised attenuation targets from first-pass reconstruction errors.

    ``errors`` (B, H, W) per-pixel errors; for each (h, w) in ``sizes`` the errors are
    average-pooled to that grid and min-max normalised per image, and the target is
    ``1 - normalised`` (1 = keep the skip feature, 0 = attenuate it). (B, 1, h, w) each.
    """
    out = []
    for size in sizes:
        e = F.adaptive_avg_pool2d(errors[:, None], tuple(size))
        lo = e.flatten(1).min(1).values.view(-1, 1, 1, 1)
        hi = e.flatten(1).max(1).values.view(-1, 1, 1, 1)
        out.append(1 - (e - lo) / (hi - lo).clamp_min(1e-12))
    return out


class Attenuation(nn.Module):
    """FADeR's two-layer MLP on a skip tensor: ``a = sigmoid(W2 relu(W1 F))`` with 1 x 1
    convolutions C -> max(1, C/4) -> 1; ``forward`` returns ``(a * F, a)``."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(1, channels // 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, 1, 1)
        # Start near "keep everything" (a = sigmoid(3) = 0.95 on average): the gates are trained
        # after the plain U-Net and should not disturb it at first.
        if self.fc2.bias is not None:
            nn.init.constant_(self.fc2.bias, 3.0)

    def gate(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(features))))

    def forward(self, features: torch.Tensor):
        a = self.gate(features)
        return features * a, a


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))


class FADeRNet(nn.Module):
    """U-Net inpainting reconstructor with optional FADeR attenuation on its skips.

    Args:
        channels: C, image channels reconstructed.
        widths: feature widths per resolution, full resolution first, the bottleneck last
            (``len(widths) - 1`` down and up steps, one skip per non-bottleneck resolution).
        attenuation: build the attenuation MLPs (without them the skips pass unchanged).

    ``forward(hinted (B, C, H, W), mask (B, H, W))`` -> ``(reconstruction (B, C, H, W),
    gates)``: the list of (B, 1, h_l, w_l) attenuation maps per skip, finest first (ones
    without attenuation or while ``attenuate`` is False). H and W must be multiples of
    ``2 ** (len(widths) - 1)``.
    """

    def __init__(self, channels: int, widths=(64, 128, 256, 512, 512), *,
                 attenuation: bool = True):
        super().__init__()
        widths = list(widths)
        self.channels, self.widths = int(channels), widths
        self.downs = nn.ModuleList()
        cin = channels + 1  # the hinted image and the mask
        for w in widths:
            self.downs.append(_block(cin, w))
            cin = w
        self.ups = nn.ModuleList()
        for skip_w in reversed(widths[:-1]):
            self.ups.append(_block(cin + skip_w, skip_w))
            cin = skip_w
        self.head = nn.Conv2d(widths[0], channels, 1)
        self.gates = (nn.ModuleList(Attenuation(w) for w in widths[:-1]) if attenuation
                      else None)
        self.attenuate = attenuation  # switched off for the first pass

    @property
    def factor(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def encode(self, hinted: torch.Tensor, mask: torch.Tensor):
        """Skip tensors (finest first) and the bottleneck."""
        x = torch.cat([hinted, mask[:, None].to(hinted.dtype)], dim=1)
        skips = []
        for i, down in enumerate(self.downs):
            x = down(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        return skips[:-1], skips[-1]

    def attenuated(self, skips: list):
        """``(skips after attenuation, gates)``: identity and unit gates when off."""
        if self.gates is None or not self.attenuate:
            return skips, [torch.ones_like(s[:, :1]) for s in skips]
        pairs = [g(s) for g, s in zip(self.gates, skips)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def forward(self, hinted: torch.Tensor, mask: torch.Tensor):
        skips, x = self.encode(hinted, mask)
        skips, gates = self.attenuated(skips)
        for up, skip in zip(self.ups, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return self.head(x), gates
