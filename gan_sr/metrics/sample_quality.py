"""The one scorer of generated images: SWD per level and mean (x1e3), MS-SSIM diversity, FID/KID with weights.

`gansr gan eval`, `gansr posthoc` and `gansr compare` all score through `score_samples`, so a number in one
report means the same as in another. Every random draw (SWD neighbourhoods and directions, MS-SSIM pairs,
KID subsets) comes from private generators seeded by `seed`: the same inputs give the same scores.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn

from gan_sr.errors import ConfigError

__all__ = ["score_samples", "SampleScorer", "check_image_sets", "edge_sharpness"]


def edge_sharpness(images: Tensor, top: float = 0.1) -> float:
    """Mean Sobel gradient magnitude of luminance (BT.601, per unit step) over each image's `top` share of
    strongest-gradient pixels, averaged over images: how crisp the line art is. A blurry upscale of the same
    drawing scores lower; the ratio to real images at the same size is the figure to read."""
    from gan_sr.colour import rgb_to_y

    y = (rgb_to_y(images.float().clamp(0, 1)) / 255.0).float()
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
    k = torch.stack([kx, kx.T])[:, None]
    g = torch.nn.functional.conv2d(torch.nn.functional.pad(y, (1, 1, 1, 1), mode="replicate"), k)
    mag = g.square().sum(1).sqrt().flatten(1)
    keep = max(1, int(round(top * mag.shape[1])))
    return float(mag.topk(keep, dim=1).values.mean())


def check_image_sets(real: Tensor, fake: Tensor) -> None:
    """ConfigError unless both are (N, 3, H, W) batches of the same shape with N >= 2 (SWD compares equal sets)."""
    for name, x in (("real", real), ("fake", fake)):
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 3:
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ConfigError(f"score_samples: {name} images must be a (N, 3, H, W) tensor, got {got}")
    if real.shape[-2:] != fake.shape[-2:]:
        raise ConfigError(f"score_samples: real images are {real.shape[-2]}x{real.shape[-1]} px but fakes are "
                          f"{fake.shape[-2]}x{fake.shape[-1]} px; score them at the same size")
    if real.shape[0] != fake.shape[0]:
        raise ConfigError(f"score_samples: SWD compares equal-sized sets; got {real.shape[0]} real and "
                          f"{fake.shape[0]} fake images")
    if real.shape[0] < 2:
        raise ConfigError(f"score_samples: SWD and MS-SSIM need at least 2 images, got {real.shape[0]}")


class SampleScorer:
    """Scores fake sets against one real set; what depends on the reals alone (their MS-SSIM diversity and
    Inception features) is computed once, so scoring many methods costs one real pass, not one per method."""

    def __init__(self, real: Tensor, *, seed: int = 0, pairs: int = 1000,
                 inception: str | os.PathLike | nn.Module | None = None, device: str | torch.device = "cpu",
                 lo_res: int | None = None, train: Tensor | None = None):
        """lo_res: also SWD of both sets shrunk to lo_res px (does an upscaler keep what the generator drew?);
        train: training images at the real size, for the no-copying distance (gan_sr.metrics.nearest)."""
        check_image_sets(real, real)
        self.real, self.seed, self.pairs, self.device = real, int(seed), int(pairs), device
        self.lo_res, self.train = lo_res, train
        self._real_lo = self._shrink(real) if lo_res else None
        self._real_edge = edge_sharpness(real)
        self._real_nn = self._nn(real) if train is not None else None
        self.net = None
        if inception is not None:
            from gan_sr.metrics.fid import load_inception

            self.net = inception if isinstance(inception, nn.Module) else load_inception(inception, device)
        self._real_div: float | None = None
        self._real_feats: Tensor | None = None

    def _diversity(self, images: Tensor) -> float:
        from gan_sr.metrics.msssim import msssim_diversity

        return msssim_diversity(images, pairs=self.pairs,
                                generator=torch.Generator().manual_seed(self.seed))

    def _shrink(self, images: Tensor) -> Tensor:
        from gan_sr.degrade import imresize

        return imresize(images.float(), size=(self.lo_res, self.lo_res)).clamp(0, 1)

    def _nn(self, images: Tensor) -> float:
        from gan_sr.metrics.nearest import nearest_neighbours

        return float(nearest_neighbours(images, self.train)[1].median())

    def real_diversity(self) -> float | None:
        """MS-SSIM diversity of the real set (computed once); None for images smaller than one window."""
        from gan_sr.metrics.msssim import max_scales

        if self._real_div is None and max_scales(min(self.real.shape[-2:])) >= 1:
            self._real_div = self._diversity(self.real)
        return self._real_div

    def score(self, fake: Tensor) -> dict:
        """The dict `score_samples(real, fake, ...)` returns."""
        from gan_sr.metrics.msssim import max_scales
        from gan_sr.metrics.swd import swd

        real, seed = self.real, self.seed
        check_image_sets(real, fake)
        h, w = real.shape[-2:]
        out: dict[str, Any] = {"images": int(real.shape[0]), "res": int(h) if h == w else f"{h}x{w}"}
        s = swd(real, fake, generator=torch.Generator().manual_seed(seed))
        for res, v in s["levels"].items():
            out[f"swd_{res}px"] = v
        out["swd_mean"] = s["mean"]
        if self._real_lo is not None:
            lo = swd(self._real_lo, self._shrink(fake), generator=torch.Generator().manual_seed(seed))
            out[f"swd_at_{self.lo_res}px"] = lo["mean"]
        out["edge"] = edge_sharpness(fake)
        out["edge_ratio"] = out["edge"] / self._real_edge if self._real_edge > 0 else None
        if self._real_nn is not None:
            out["nn_rms_train"] = self._nn(fake)
            out["nn_rms_train_real"] = self._real_nn
        if max_scales(min(h, w)) >= 1:
            out["msssim_fake"] = self._diversity(fake)
            out["msssim_real"] = self.real_diversity()
        if self.net is not None:
            from gan_sr.metrics.fid import fid_from_features, inception_features, kid_from_features

            if self._real_feats is None:
                self._real_feats = inception_features(self.net, real, device=self.device)
            fr, ff = self._real_feats, inception_features(self.net, fake, device=self.device)
            out["fid"] = fid_from_features(fr, ff)
            out["kid"], out["kid_std"] = kid_from_features(fr, ff, generator=torch.Generator().manual_seed(seed))
        return out


def score_samples(real: Tensor, fake: Tensor, *, seed: int = 0, pairs: int = 1000,
                  inception: str | os.PathLike | nn.Module | None = None, device: str | torch.device = "cpu") -> dict:
    """Scores of `fake` against `real`, both (N, 3, H, W) in [0, 1] at the same size.

    Returns {"images", "res", "swd_{r}px" per pyramid level, "swd_mean", "msssim_fake", "msssim_real"} and, when
    `inception` (a weights path or a loaded FID Inception) is given, "fid", "kid", "kid_std". MS-SSIM is left out
    for images too small for one 11x11 window. Lower SWD/FID/KID is better; MS-SSIM near the reals' is healthy.
    """
    check_image_sets(real, fake)
    return SampleScorer(real, seed=seed, pairs=pairs, inception=inception, device=device).score(fake)
