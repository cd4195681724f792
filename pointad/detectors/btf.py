"""``btf``: Back to the Feature's FPFH + PatchCore (Horwitz & Hoshen 2022).

Organized scans (MVTec 3D-AD-like) take BTF's grid path: nearest-resize the xyz image to
``grid_size``, kNN-PCA normals (k=30) and kNN-FPFH (k=100) of the valid pixels, scattered back
into the image, 3x3 average pooling, adaptive pooling to ``patch_grid`` x ``patch_grid`` patch
vectors, a 10% coreset memory bank, 1-NN patch distances upsampled bilinearly and blurred
(Gaussian, ``blur_sigma`` pixels), and PatchCore's reweighted maximum as the object score.
Unorganized clouds take FPS groups instead of image patches (single-scale FPFH mean-pooled over
each group), with the same bank and object score; point scores by inverse-distance interpolation.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pointad.detectors.memory_bank import BankDetector
from pointad.detectors.registry import register
from pointad.errors import InputError
from pointad.features import fpfh, fps_groups, group_mean, interpolate_to_points
from pointad.geometry import estimate_normals
from pointad.ops import gaussian_blur
from pointad.validation import check_number


@register
class BTF(BankDetector):
    """FPFH + PatchCore, BTF's defaults.

    Args:
        normal_k, fpfh_k: kNN sizes of the normals and of the FPFH.
        grid_size: organized scans are resized (nearest) to grid_size x grid_size.
        patch_grid: patch vectors per side after pooling.
        blur_sigma: Gaussian blur of the upsampled map, in grid_size pixels.
        n_groups, group_size: FPS groups of the unorganized path.
        coreset_ratio, max_bank, n_reweight: the memory bank (see MemoryBank).
        partial_views: the bank also holds this many single-view cuts of every unorganized
            training cloud (0, BTF's own setting: complete clouds only; see patchcore-ms).
        seed: seed of the coreset projection. device: "auto", "cpu" or "cuda".
    """

    name = "btf"

    def __init__(self, normal_k: int = 30, fpfh_k: int = 100, grid_size: int = 224,
                 patch_grid: int = 28, blur_sigma: float = 4.0, n_groups: int = 1024,
                 group_size: int = 32, coreset_ratio: float = 0.1, max_bank: int = 50_000,
                 n_reweight: int = 3, partial_views: int = 0, seed: int = 0,
                 device: str = "auto"):
        self.normal_k = check_number(normal_k, "normal_k", low=3, integer=True)
        self.fpfh_k = check_number(fpfh_k, "fpfh_k", low=2, integer=True)
        self.grid_size = check_number(grid_size, "grid_size", low=4, integer=True)
        self.patch_grid = check_number(patch_grid, "patch_grid", low=1, integer=True)
        if self.patch_grid > self.grid_size - 2:
            raise InputError(f"patch_grid must be <= grid_size - 2, got {patch_grid}")
        # A scan smaller than the grid keeps its size; it must still pool to patch_grid.
        self.blur_sigma = check_number(blur_sigma, "blur_sigma", low=0)
        self.n_reweight = check_number(n_reweight, "n_reweight", low=0, integer=True)
        self._set_bank_params(n_groups, group_size, coreset_ratio, max_bank, seed, device,
                              partial_views)

    # Features ---------------------------------------------------------------------------
    def _fpfh(self, pts: torch.Tensor, organized: bool) -> torch.Tensor:
        k = min(self.normal_k, len(pts))
        normals = torch.from_numpy(estimate_normals(pts.cpu().numpy(), k, organized=organized))
        normals = normals.to(pts)
        return fpfh(pts, normals, None, min(self.fpfh_k, pts.shape[0])).float()

    def _grid_patches(self, cloud):
        """Patch features (P*P, 33) and, per point, its cell (row, col) in the resized grid."""
        h, w = cloud.grid_shape
        gh, gw = self._grid_shape(cloud)
        image = torch.zeros(h * w, 3, dtype=torch.float64, device=self._device)
        image[torch.as_tensor(cloud.grid_index, device=self._device)] = torch.as_tensor(
            cloud.points, dtype=torch.float64, device=self._device)
        # Nearest resize, as BTF: picks pixels, never averages coordinates.
        rows = (torch.arange(gh, device=self._device) * h // gh)
        cols = (torch.arange(gw, device=self._device) * w // gw)
        small = image.view(h, w, 3)[rows][:, cols].reshape(-1, 3)
        valid = small.abs().sum(dim=1) > 0
        feats = torch.zeros(gh * gw, 33, device=self._device)
        if int(valid.sum()) >= 4:
            feats[valid] = self._fpfh(small[valid], organized=True)
        grid = feats.T.reshape(1, 33, gh, gw)
        grid = F.avg_pool2d(grid, 3, stride=1)
        grid = F.adaptive_avg_pool2d(grid, self.patch_grid)
        patches = grid[0].reshape(33, -1).T.contiguous()
        r, c = np.divmod(np.asarray(cloud.grid_index), w)
        return patches, (r * gh // h, c * gw // w)

    def _grid_shape(self, cloud):
        """Working grid: ``grid_size`` per side, never more than the scan has (no upsampling,
        which would only duplicate points)."""
        h, w = cloud.grid_shape
        return min(self.grid_size, h), min(self.grid_size, w)

    def _group_patches(self, cloud):
        pts = torch.as_tensor(cloud.points, dtype=torch.float64, device=self._device)
        centres, groups = fps_groups(pts, self.n_groups, self.group_size)
        return pts, pts[centres], group_mean(self._fpfh(pts, organized=False), groups)

    # Protocol ---------------------------------------------------------------------------
    def _fit(self, clouds):
        feats = [self._grid_patches(c)[0] if c.organized else self._group_patches(c)[2]
                 for c in clouds]
        feats += [self._group_patches(v)[2] for v in self._partial_views(clouds)]
        self.memory_ = self._memory_bank().fit(torch.cat(feats))

    def _predict(self, cloud):
        if cloud.organized:
            patches, (rows, cols) = self._grid_patches(cloud)
            scores, nearest = self.memory_.patch_scores(patches)
            p = self.patch_grid
            gh, gw = self._grid_shape(cloud)
            full = F.interpolate(scores.view(1, 1, p, p), size=(gh, gw), mode="bilinear",
                                 align_corners=False)[0, 0]
            full = gaussian_blur(full, self.blur_sigma * max(gh, gw) / self.grid_size)
            point_scores = full[torch.as_tensor(rows), torch.as_tensor(cols)]
        else:
            pts, centres, patches = self._group_patches(cloud)
            scores, nearest = self.memory_.patch_scores(patches)
            point_scores = interpolate_to_points(centres, scores.double(), pts)
        score = self.memory_.object_score(patches, scores, nearest)
        return point_scores.double().cpu().numpy(), score

    def _get_state(self):
        return self.memory_.get_state()

    def _set_state(self, arrays):
        self.memory_ = self._memory_bank().set_state(arrays, self._device)
