"""The 2D anomaly networks (UniAD, OneNIP, PBAS) on synthetic feature maps, no point clouds."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pointad.errors import InputError
from pointad.models2d import onenip, pbas, uniad
from pointad.models2d.state import load_state_arrays, state_arrays
from pointad.models2d.transformer import (
    PostNormAttention,
    auto_window,
    feature_jitter,
    neighbour_mask,
    resize_concat,
)

# Small tensors: one thread avoids contention on shared CI cores.
pytestmark = pytest.mark.usefixtures("torch_one_thread")


def smooth_features(n=4, c=12, grid=(8, 8), seed=0):
    """(n, c, h, w) features: a few smooth random patterns mixed per image (low rank, like the
    maps of a smooth depth render)."""
    g = torch.Generator().manual_seed(seed)
    h, w = grid
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    basis = torch.stack([torch.sin(3 * xx + 1), torch.cos(2 * yy), xx * yy, torch.ones_like(xx)])
    mix = torch.randn(n, c, 4, generator=g) * 0.3 + torch.randn(1, c, 4, generator=g)
    return torch.einsum("nck,khw->nchw", mix, basis)


# Neighbour mask ------------------------------------------------------------------------------
def test_neighbour_mask_blocks_exactly_the_window_including_self():
    h, w = 14, 14
    mask = neighbour_mask((h, w)).numpy()
    assert auto_window((14, 14)) == 7  # UniAD's 7 x 7 at 14 x 14
    ref = np.zeros((h * w, h * w), bool)
    for i in range(h * w):
        for j in range(h * w):
            ref[i, j] = abs(i // w - j // w) <= 3 and abs(i % w - j % w) <= 3
    np.testing.assert_array_equal(mask, ref)
    assert mask[7 * 14 + 7].sum() == 49 and mask[0].sum() == 16  # interior / corner
    assert mask.diagonal().all()
    # Scaled for small grids: 5 x 5 at 8 x 8, 3 x 3 at 4 x 6; always something left to attend to.
    assert auto_window((8, 8)) == 5 and neighbour_mask((8, 8))[27].sum() == 25
    small = neighbour_mask((4, 6)).numpy()
    assert small.sum(axis=1).max() == 9 and (~small).any(axis=1).all()
    with pytest.raises(InputError, match="odd"):
        neighbour_mask((8, 8), window=4)
    with pytest.raises(InputError, match="whole"):
        neighbour_mask((4, 4), window=5)


def test_masked_attention_ignores_the_neighbourhood_and_sees_the_rest():
    torch.manual_seed(0)
    grid = (8, 8)
    block = PostNormAttention(16, 4, dropout=0.0).eval()
    x = torch.randn(1, 64, 16)
    pos = torch.zeros(1, 64, 16)
    mask = neighbour_mask(grid)  # 5 x 5
    i = 3 * 8 + 3
    base = block(x, x, pos, pos, mask)[0, i]
    inside, outside = x.clone(), x.clone()
    inside[0, 4 * 8 + 5] += 5.0  # (4, 5): within 2 of (3, 3)
    outside[0, 6 * 8 + 6] += 5.0  # (6, 6): outside the window
    torch.testing.assert_close(block(inside, inside, pos, pos, mask)[0, i], base)
    assert not torch.allclose(block(outside, outside, pos, pos, mask)[0, i], base)


# Feature jitter -------------------------------------------------------------------------------
def test_feature_jitter_follows_the_formula():
    g = torch.Generator().manual_seed(1)
    c = 32
    tokens = torch.randn(8, 100, c, generator=g) * torch.linspace(0.1, 5, 100)[None, :, None]
    out = feature_jitter(tokens, scale=20.0, prob=1.0, generator=torch.Generator().manual_seed(2))
    z = (out - tokens) / (20.0 * tokens.norm(dim=-1, keepdim=True) / c)
    assert abs(float(z.mean())) < 0.02          # 25600 draws: sd of the mean 0.006
    assert abs(float(z.std()) - 1.0) < 0.02
    # Noise per token scales with the token norm: the normalised spread is the same everywhere.
    per_token = z.std(dim=(0, 2))
    assert float(per_token.min()) > 0.7 and float(per_token.max()) < 1.3
    again = feature_jitter(tokens, scale=20.0, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(again, out)
    assert feature_jitter(tokens, prob=0.0, generator=g) is tokens


# UniAD ----------------------------------------------------------------------------------------
def small_uniad(c=12, grid=(8, 8), seed=0):
    torch.manual_seed(seed)
    return uniad.UniADModel(c, grid, **uniad.PRESETS["small"])


def test_uniad_shapes_and_maps():
    feats = smooth_features()
    model = small_uniad().eval()
    rec = model(feats)
    assert rec.shape == feats.shape
    m = model.anomaly_map(feats)
    assert m.shape == (4, 8, 8)
    torch.testing.assert_close(m, (rec - feats).norm(dim=1))
    up = model.anomaly_map(feats, size=(64, 64))
    assert up.shape == (4, 64, 64)
    # Corners aligned: the upsampled corners are the token-grid corners.
    torch.testing.assert_close(up[:, 0, 0], m[:, 0, 0])
    torch.testing.assert_close(up[:, -1, -1], m[:, -1, -1])
    # The image score is the max of the average-pooled map (slow reference).
    k = 4
    ref = torch.stack([max(float(up[b, i:i + k, j:j + k].mean()) for i in range(61)
                           for j in range(61)) * torch.ones(()) for b in range(4)])
    torch.testing.assert_close(uniad.image_score(up, k), ref, rtol=1e-5, atol=1e-6)


def test_uniad_learns_to_reconstruct_and_flags_a_perturbed_region():
    feats = smooth_features(n=6)
    model = small_uniad()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    model.eval()
    before = float(model.anomaly_map(feats).pow(2).mean())
    model.train()
    for _ in range(100):
        opt.zero_grad()
        model.loss(feats, generator=g).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    after = float(model.anomaly_map(feats).pow(2).mean())
    assert after < 0.2 * before, (before, after)
    # An off-pattern patch reconstructs worse than the rest of the image.
    bad = feats[:1].clone()
    bad[0, :, 2:4, 5:7] += 3.0
    m = model.anomaly_map(bad)[0]
    inside = m[2:4, 5:7].mean()
    outside = torch.cat([m[:, :2].flatten(), m[5:, :].flatten()]).mean()
    assert inside > 2 * outside, (inside, outside)


def test_uniad_state_roundtrip_and_seeded_training_are_exact():
    feats = smooth_features()

    def train(seed):
        model = small_uniad(seed=seed)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # dropout draws
        for _ in range(3):
            opt.zero_grad()
            model.loss(feats, generator=g).backward()
            opt.step()
        return model.eval()

    a, b = train(0), train(0)
    torch.testing.assert_close(a(feats), b(feats), rtol=0, atol=0)
    assert not torch.allclose(train(1)(feats), a(feats))
    arrays = state_arrays(a, "uniad.")
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    fresh = load_state_arrays(small_uniad(seed=5), arrays, "uniad.").eval()
    torch.testing.assert_close(fresh(feats), a(feats), rtol=0, atol=0)
    with pytest.raises(InputError, match="does not match"):
        load_state_arrays(small_uniad(c=8), arrays, "uniad.")


def test_resize_concat_is_the_mfcn_neck():
    a, b = torch.randn(2, 3, 16, 16), torch.randn(2, 5, 4, 4)
    out = resize_concat([a, b], (8, 8))
    assert out.shape == (2, 8, 8, 8)
    torch.testing.assert_close(out[:, :3], F.interpolate(a, size=(8, 8), mode="bilinear",
                                                         align_corners=True))
    torch.testing.assert_close(out[:, 3:, 0, 0], b[:, :, 0, 0])


# PBAS -----------------------------------------------------------------------------------------
def test_pbas_patch_embedding_matches_a_slow_reference():
    g = torch.Generator().manual_seed(0)
    f1 = torch.randn(2, 4, 6, 6, generator=g)
    f2 = torch.randn(2, 2, 3, 3, generator=g)
    # One level with pretrain = target = C * 9: the embedding is the raw 3 x 3 neighbourhood.
    emb = pbas.patch_embed([f1], pretrain_dim=36, target_dim=36)
    assert emb.shape == (2, 36, 36)
    padded = F.pad(f1, (1, 1, 1, 1))
    i, j = 2, 4
    ref = padded[1, :, i:i + 3, j:j + 3].reshape(-1)  # channel-major 3 x 3 patch
    torch.testing.assert_close(emb[1, i * 6 + j], ref)
    # Two levels: each pooled to pretrain_dim then both to target_dim (mean of pairs here).
    emb2 = pbas.patch_embed([f1, f2], pretrain_dim=36, target_dim=36)
    assert emb2.shape == (2, 36, 36)
    up = F.interpolate(F.unfold(f2, 3, padding=1).reshape(2, 18, 3, 3), size=(6, 6),
                       mode="bilinear", align_corners=False)
    level2 = F.adaptive_avg_pool1d(up[1, :, i, j].reshape(1, 1, -1), 36).reshape(-1)
    both = torch.cat([ref, level2]).reshape(36, 2).mean(dim=1)
    torch.testing.assert_close(emb2[1, i * 6 + j], both)


def test_pbas_synthesis_lands_on_the_intended_hypersphere_shell():
    g = torch.Generator().manual_seed(3)
    centres = torch.randn(10, 16, generator=g)
    f = torch.randn(200, 16, generator=g)
    fake, r_ct, idx = pbas.synthesize(f, centres, k=0.25)
    # The nearest centre is the cosine argmax (slow reference).
    for m in range(0, 200, 17):
        cos = [float(F.cosine_similarity(f[m], centres[j], dim=0)) for j in range(10)]
        assert int(idx[m]) == int(np.argmax(cos))
    c = centres[idx]
    d_before = (f - c).norm(dim=1)
    torch.testing.assert_close(r_ct, d_before.mean())
    torch.testing.assert_close((fake - c).norm(dim=1), d_before + 0.25 * r_ct)
    # Outward along the centre -> feature ray.
    cos = F.cosine_similarity(fake - f, f - c, dim=1)
    torch.testing.assert_close(cos, torch.ones(200))
    assert not fake.requires_grad


def test_pbas_centres_follow_the_abl_rule():
    torch.manual_seed(0)
    model = pbas.PBASModel(8, 4, hidden=16)
    g = torch.Generator().manual_seed(1)
    b1, b2 = torch.randn(3, 4, 8, generator=g), torch.randn(3, 4, 8, generator=g)
    with torch.no_grad():
        m1, m2 = model.adaptor(b1).mean(0), model.adaptor(b2).mean(0)
    centres = model.init_centres([b1, b2])
    aligned = torch.stack([m2[int(np.argmax([float(F.cosine_similarity(m1[i], m2[j], dim=0))
                                             for j in range(4)]))] for i in range(4)])
    torch.testing.assert_close(centres, 0.9 * m1 + 0.1 * aligned)


def test_pbas_discriminator_scores_grow_with_the_distance_from_the_normal_features():
    """Normal features: a low-rank blob (like backbone features). After training with the
    paper's learning rates, features further out along the blob's directions score higher."""
    g = torch.Generator().manual_seed(0)
    dim, positions = 32, 4
    basis = torch.randn(3, dim, generator=g)
    mean = torch.randn(1, 1, dim, generator=g)

    def draw(n, spread=1.0):
        coef = torch.randn(n, positions, 3, generator=g) * 0.3 * spread
        return coef @ basis + 0.02 * torch.randn(n, positions, dim, generator=g) + mean

    normal = draw(32)
    torch.manual_seed(0)
    model = pbas.PBASModel(dim, positions, hidden=64)
    model.init_centres([normal[:16], normal[16:]])
    opts = model.optimizers(1e-4)
    losses = []
    for _ in range(600):
        for o in opts:
            o.zero_grad()
        loss = model.loss(normal)
        loss.backward()
        for o in opts:
            o.step()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])
    model.eval()
    s1, s2, s3 = (float(model.scores(draw(16, s)).mean()) for s in (1.0, 2.0, 3.0))
    assert s1 < s2 < s3 and s3 > s1 + 0.05, (s1, s2, s3)
    probs = model.scores(normal[:2])
    assert probs.shape == (2, 4) and float(probs.min()) > 0 and float(probs.max()) < 1
    torch.testing.assert_close(torch.sigmoid(model.scores(normal[:2], logits=True)), probs)


def test_gaussian_blur_matches_scipy():
    from scipy.ndimage import gaussian_filter

    from pointad.ops import gaussian_blur
    x = torch.rand(2, 20, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = gaussian_blur(x, 2.0).numpy()
    ref = np.stack([gaussian_filter(x[i].numpy(), 2.0, mode="mirror", truncate=4.0)
                    for i in range(2)])
    np.testing.assert_allclose(out, ref, atol=1e-10)
    torch.testing.assert_close(gaussian_blur(x, 0.0), x)
    # Any leading shape: one (H, W) map and a (1, 1, H, W) batch give the same numbers.
    torch.testing.assert_close(gaussian_blur(x[0], 2.0), out_t := torch.from_numpy(out[0]))
    torch.testing.assert_close(gaussian_blur(x[:1, None], 2.0)[0, 0], out_t)


# OneNIP ---------------------------------------------------------------------------------------
def test_dice_loss_values():
    p = torch.tensor([[[1.0, 0.0], [0.5, 0.0]]])
    g = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    expected = 1 - (2 * 1.5 + 1) / (1.25 + 2 + 1)
    assert float(onenip.dice_loss(p, g)) == pytest.approx(expected)
    assert float(onenip.dice_loss(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2))) == 0.0


def test_onenip_shapes_fusion_and_training():
    torch.manual_seed(0)
    c, grid = 12, (8, 8)
    model = onenip.OneNIPModel(c, grid, **onenip.PRESETS["small"])
    feats = smooth_features(n=4)
    prompt = feats.roll(1, dims=0)
    synthetic = feats.clone()
    synthetic[:, :, 2:4, 2:4] += 3.0
    masks = torch.zeros(4, 32, 32)
    masks[:, 8:16, 8:16] = 1
    model.eval()
    rec_map, ref_map = model.maps(feats, prompt, (32, 32))
    assert rec_map.shape == ref_map.shape == (4, 32, 32)
    assert model.refine(model.reconstruct(feats, prompt), feats).shape == (4, 32, 32)
    assert float(ref_map.min()) >= 0 and float(ref_map.max()) <= 1
    fused = onenip.fuse(rec_map, ref_map, 3.0, 1.0)
    torch.testing.assert_close(fused, 0.5 * rec_map + 0.5 * 2.0 * ref_map)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = model.loss(feats, synthetic, prompt, masks, generator=g)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    model.eval()
    rec_map, ref_map = model.maps(synthetic, prompt, (32, 32))
    # Restoration: the defect's region reconstructs worse; the refiner marks it.
    assert float(rec_map[:, 8:16, 8:16].mean()) > 2 * float(rec_map[:, 20:, 20:].mean())
    assert float(ref_map[:, 9:15, 9:15].mean()) > float(ref_map[:, 20:, 20:].mean()) + 0.3
