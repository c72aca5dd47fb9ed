"""FID and KID on the FID Inception-v3 (TensorFlow's 2015-12-05 graph as ported by pytorch-fid).

The network is defined here with the state-dict layout of pytorch-fid's `pt_inception-2015-12-05-*.pth`
(torchvision Inception3 names, 1008-way fc, no aux head), so that file loads as is; nothing is downloaded.
Differences from torchvision's Inception3 that FID relies on: average pools exclude padding, and the last
block's pool branch is a max pool. Features: the 2048-d global average pool, on images bilinearly
resized to 299x299 and scaled to [-1, 1]. KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic
polynomial kernel (x.y/d + 1)^3, averaged over 100 random subsets of 1000 (clipped to the set sizes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import CheckpointError, ConfigError, WeightsMissingError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
ENV_VAR = "GANSR_INCEPTION"


class BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg3(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """The last two blocks; `max_pool` marks Mixed_7c, whose pool branch is a max pool in the FID graph."""

    def __init__(self, cin: int, *, max_pool: bool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([self.branch1x1(x), b3, d, self.branch_pool(pool)], 1)


class FIDInceptionV3(nn.Module):
    """Images (B, 3, H, W) in [0, 1] -> 2048-d pool features (B, 2048)."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)  # present in the weights file; the features come before it

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean((2, 3))


def resolve_weights(path: str | os.PathLike | None) -> Path:
    """The Inception weights file: `path`, else $GANSR_INCEPTION; WeightsMissingError if neither is a file."""
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if not chosen:
        raise WeightsMissingError(
            f"FID/KID need the FID Inception weights ({WEIGHTS_FILE}, from pytorch-fid's releases) as a local "
            f"file: pass --inception PATH or set {ENV_VAR}; nothing is downloaded. SWD and MS-SSIM need no weights."
        )
    p = Path(chosen)
    if not p.is_file():
        raise WeightsMissingError(f"--inception {p}: no such file (expected {WEIGHTS_FILE})")
    return p


def load_inception(path: str | os.PathLike | None, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """The FID Inception with weights from a local pytorch-fid `.pth` file, in eval mode."""
    p = resolve_weights(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's file at fault
        raise CheckpointError(f"--inception {p}: cannot read it as a PyTorch weights file ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"--inception {p}: expected a state dict, found {type(state).__name__}")
    model = FIDInceptionV3()
    want = {k: v.shape for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    have = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    bad = sorted(k for k in set(want) & set(have) if tuple(have[k].shape) != tuple(want[k]))
    if missing or extra or bad:
        detail = "; ".join(f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", bad)) if keys)
        raise CheckpointError(f"--inception {p}: not the FID Inception layout ({WEIGHTS_FILE}) - {detail}")
    model.load_state_dict(have, strict=False)
    return model.eval().requires_grad_(False).to(device)


@torch.no_grad()
def inception_features(model: FIDInceptionV3, images: Tensor | Iterable[Tensor], *, batch: int = 50,
                       device: str | torch.device = "cpu") -> Tensor:
    """(N, 2048) float64 features of images in [0, 1] (a tensor or an iterable of batches)."""
    chunks = (images[i : i + batch] for i in range(0, len(images), batch)) if isinstance(images, Tensor) else images
    feats = [model(x.float().to(device)).double().cpu() for x in chunks]
    if not feats:
        raise ConfigError("FID/KID got an empty image set")
    return torch.cat(feats)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) = sum of sqrt(eig(S1^(1/2) S2 S1^(1/2))), a symmetric PSD matrix: two symmetric
    eigendecompositions, stable for the singular covariances of small sets and faster than a general sqrtm.
    """
    s1, s2 = torch.as_tensor(sigma1, dtype=torch.float64), torch.as_tensor(sigma2, dtype=torch.float64)
    w, v = torch.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * w.clamp_min(0).sqrt()) @ v.T
    m = root1 @ s2 @ root1
    tr_covmean = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    diff = torch.as_tensor(mu1 - mu2, dtype=torch.float64)
    return float(diff @ diff + s1.trace() + s2.trace() - 2 * tr_covmean)


def fid_from_features(real: Tensor, fake: Tensor) -> float:
    """FID between two feature sets (N, D).

    With fewer samples than dimensions, tr((S1 S2)^(1/2)) is the nuclear norm of A B^T for the centred,
    1/sqrt(n-1)-scaled feature matrices (S1 = A^T A, S2 = B^T B): an n1 x n2 SVD instead of D x D work.
    """
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ConfigError(f"FID needs at least 2 images per set, got {real.shape[0]} and {fake.shape[0]}")
    r, f = real.double(), fake.double()
    if min(r.shape[0], f.shape[0]) >= r.shape[1]:
        rn, fn = r.numpy(), f.numpy()
        return frechet_distance(rn.mean(0), np.cov(rn, rowvar=False), fn.mean(0), np.cov(fn, rowvar=False))
    a = (r - r.mean(0)) / math.sqrt(r.shape[0] - 1)
    b = (f - f.mean(0)) / math.sqrt(f.shape[0] - 1)
    diff = r.mean(0) - f.mean(0)
    nuclear = torch.linalg.svdvals(a @ b.T).sum()
    return float(diff @ diff + a.square().sum() + b.square().sum() - 2 * nuclear)


def kid_from_features(real: Tensor, fake: Tensor, *, subsets: int = 100, subset_size: int = 1000,
                      generator: torch.Generator | None = None) -> tuple[float, float]:
    """KID (mean, std over subsets): unbiased MMD^2, kernel (x.y/d + 1)^3, subsets clipped to the set sizes."""
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ConfigError(f"KID needs at least 2 images per set, got {real.shape[0]} and {fake.shape[0]}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    d = real.shape[1]
    values = []
    for _ in range(subsets):
        x = fake[torch.randperm(fake.shape[0], generator=gen)[:m]].double()
        y = real[torch.randperm(real.shape[0], generator=gen)[:m]].double()
        kxx, kyy, kxy = (x @ x.t() / d + 1) ** 3, (y @ y.t() / d + 1) ** 3, (x @ y.t() / d + 1) ** 3
        off = lambda k: (k.sum() - k.diagonal().sum()) / (m * (m - 1))  # noqa: E731
        values.append(off(kxx) + off(kyy) - 2 * kxy.mean())
    v = torch.stack(values)
    return float(v.mean()), float(v.std()) if subsets > 1 else 0.0
