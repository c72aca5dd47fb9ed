"""Torch datasets over image folders: SR pairs (LR made on the fly from HR) and unpaired images for the GAN.

Both read a built layout, ROOT/{train,val,test}/*.png, or a plain folder that holds images directly
(e.g. T91, Set5), which then serves any split. Decoding dominates the cost of an item, so decoded images
are kept in memory up to `cache_mb`; when the whole set fits it is decoded at construction, and
DataLoader workers forked afterwards share it.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from gan_sr.degrade import degrade_mixed, downscale, imresize, modcrop
from gan_sr.errors import ConfigError
from gan_sr.io.images import composite, list_images, quantize, read_image, read_size

SPLITS = ("train", "val", "test")
DEGRADATIONS = ("bicubic", "area", "mixed")
DEFAULT_CACHE_MB = 1024.0

Degradation = Callable[[Tensor, int], Tensor]
"""A custom degradation: (hr (3, H, W) in [0, 1], scale) -> lr (3, H/scale, W/scale)."""


def find_split_images(root: str | Path, split: str = "train") -> list[Path]:
    """The images of `split`: ROOT/split/* in a built layout, else the images directly in ROOT."""
    root = Path(root)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not root.exists():
        raise ConfigError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise ConfigError(f"data folder {root} is a file, not a folder")
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present:
        folder = root / split
        if split not in present:
            raise ConfigError(f"data folder {root} has no {split}/ folder (it has {', '.join(present)}/)")
        files = list_images(folder, recursive=False)
        if not files:
            raise ConfigError(f"data folder {folder} holds no images")
        return files
    files = list_images(root, recursive=False)
    if not files:
        raise ConfigError(
            f"data folder {root} holds no images and no train/val/test folders "
            "(expected a `gansr data build` output or a folder of images)"
        )
    return files


def _keep_large_enough(files: list[Path], min_side: int, what: str) -> tuple[list[Path], list[tuple[int, int]]]:
    """Drop images whose shorter side is below min_side, with a warning; an error if none is left."""
    sizes = [read_size(f) for f in files]
    keep = [(f, s) for f, s in zip(files, sizes) if min(s) >= min_side]
    if len(keep) < len(files):
        small = next((f, s) for f, s in zip(files, sizes) if min(s) < min_side)
        detail = f"{small[0]} is {small[1][0]}x{small[1][1]} px, {what} needs at least {min_side}x{min_side}"
        if not keep:
            raise ConfigError(f"every image is too small ({len(files)} of them; e.g. {detail})")
        warnings.warn(f"skipping {len(files) - len(keep)} of {len(files)} images that are too small (e.g. {detail})",
                      stacklevel=3)
    return [f for f, _ in keep], [s for _, s in keep]


def _load_rgb(path: Path) -> tuple[Tensor, bool]:
    """(3, H, W) float in [0, 1], transparency composited over white; whether it sits on the 8-bit grid."""
    img = read_image(path)
    if img.alpha is None:
        return img.rgb, img.bit_depth == 8
    rgb = composite(img.rgb, img.alpha)
    return (quantize(rgb, 8), True) if img.bit_depth == 8 else (rgb, False)


class _Store:
    """Prepared images kept in memory within a byte budget: uint8 when on the 8-bit grid, else float32.

    If everything fits (estimated from the headers), it is all prepared now, so forked workers share it;
    otherwise each process fills it lazily until the budget is spent.
    """

    def __init__(self, files: list[Path], prepare: Callable[[Path], tuple[Tensor, bool]], cache_mb: float,
                 estimated_bytes: int):
        if cache_mb < 0:
            raise ConfigError(f"cache_mb must be >= 0, got {cache_mb}")
        self.files, self.prepare = files, prepare
        self.budget = int(cache_mb * 2**20)
        self.used = 0
        self.items: dict[int, Tensor] = {}
        if 0 < estimated_bytes <= self.budget:
            bar = tqdm(range(len(files)), desc="decode", unit="img", leave=False,
                       disable=len(files) < 500 or not sys.stderr.isatty())
            for i in bar:
                self.get(i)

    def get(self, i: int) -> Tensor:
        hit = self.items.get(i)
        if hit is not None:
            return hit.float().div_(255.0) if hit.dtype == torch.uint8 else hit.clone()
        x, on_grid = self.prepare(self.files[i])
        packed = torch.floor(x * 255.0 + 0.5).to(torch.uint8) if on_grid else x.clone()
        size = packed.numel() * packed.element_size()
        if self.used + size <= self.budget:
            self.items[i] = packed
            self.used += size
        return x


def _dihedral(x: Tensor, k: int) -> Tensor:
    """One of the 8 flips/rotations of a square: rot90 k % 4 times, then a horizontal flip if k >= 4."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def _randint(high: int) -> int:
    """Uniform in [0, high) from torch's global RNG (seeded per DataLoader worker by torch)."""
    return int(torch.randint(high, (1,)).item()) if high > 1 else 0


class PairedDataset(Dataset):
    """(lr, hr) pairs, float32 (3, h, w) and (3, h*scale, w*scale) in [0, 1], LR made on the fly from HR.

    Train: random HR crop of `hr_size` (default: the whole image, modcropped), random flips/rot90 when
    `augment`. Val/test: centre crop (or the whole modcropped image), no augmentation. The LR is the
    degradation of the final HR ("bicubic" = MATLAB bicubic, "area" = box average, "mixed" = random blur,
    bicubic, noise and JPEG (`degrade_mixed`, always 8-bit), or a callable (hr, scale) -> lr), clamped and
    rounded to `lr_bits` (8, like a saved LR PNG; None keeps floats). "mixed" draws its seed from torch's
    global RNG for train items (seeded per item by BatchStream) and from the index for val/test items.
    Images smaller than `hr_size` are skipped with a warning.
    """

    def __init__(self, root: str | Path, scale: int, *, split: str = "train", hr_size: int | None = None,
                 degradation: str | Degradation = "bicubic", augment: bool = True,
                 cache_mb: float = DEFAULT_CACHE_MB, lr_bits: int | None = 8):
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ConfigError(f"scale must be a positive integer, got {scale!r}")
        if hr_size is not None and (isinstance(hr_size, bool) or not isinstance(hr_size, int) or hr_size < scale
                                    or hr_size % scale):
            raise ConfigError(f"hr_size must be a positive multiple of the scale {scale}, got {hr_size!r}")
        if not callable(degradation) and degradation not in DEGRADATIONS:
            raise ConfigError(f"unknown degradation {degradation!r}; choose {', '.join(DEGRADATIONS)}, "
                              "or pass a callable (hr, scale) -> lr")
        if lr_bits not in (None, 8, 16):
            raise ConfigError(f"lr_bits must be 8, 16 or None, got {lr_bits!r}")
        self.root, self.scale, self.split, self.hr_size = Path(root), scale, split, hr_size
        self.degradation, self.lr_bits = degradation, lr_bits
        self.random = split == "train"
        self.augment = augment and self.random
        files = find_split_images(root, split)
        self.files, sizes = _keep_large_enough(files, hr_size or scale, f"hr_size {hr_size}" if hr_size else
                                               f"scale {scale}")
        self._store = _Store(self.files, _load_rgb, cache_mb, sum(3 * w * h for w, h in sizes))

    def __len__(self) -> int:
        return len(self.files)

    def _crop(self, img: Tensor) -> Tensor:
        p = self.hr_size
        if p is None:
            return modcrop(img, self.scale)
        h, w = img.shape[-2:]
        if self.random:
            top, left = _randint(h - p + 1), _randint(w - p + 1)
        else:
            top, left = (h - p) // 2, (w - p) // 2
        return img[:, top : top + p, left : left + p]

    def degrade(self, hr: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The LR of an HR crop (H and W multiples of the scale) as this dataset makes it.

        `generator` feeds "mixed"; without one it is seeded from torch's global RNG.
        """
        if self.degradation == "mixed":
            if generator is None:
                generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,)).item()))
            lr = degrade_mixed(hr, self.scale, generator=generator)
        elif callable(self.degradation):
            lr = self.degradation(hr, self.scale)
            want = (hr.shape[0], hr.shape[-2] // self.scale, hr.shape[-1] // self.scale)
            if not torch.is_tensor(lr) or tuple(lr.shape) != want:
                got = tuple(lr.shape) if torch.is_tensor(lr) else type(lr).__name__
                raise ConfigError(f"degradation {getattr(self.degradation, '__name__', self.degradation)!r} "
                                  f"returned {got} for an HR of {tuple(hr.shape)} at scale {self.scale}; "
                                  f"expected {want}")
        else:
            lr = downscale(hr, self.scale, self.degradation)
        lr = lr.clamp(0.0, 1.0)
        return quantize(lr, self.lr_bits) if self.lr_bits else lr

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        hr = self._crop(self._store.get(i))
        if self.augment:
            hr = _dihedral(hr, _randint(8))
        hr = hr.contiguous()
        fixed = None if self.random else torch.Generator().manual_seed(i)
        return self.degrade(hr, fixed), hr


class ImageDataset(Dataset):
    """Unpaired images, float32 (3, res, res) in [0, 1], for GAN training.

    fit="resize" (default): centre square crop, then shrink to res (box average for whole factors, MATLAB
    bicubic otherwise), rounded to 8 bits and cached. fit="crop": a res x res crop (random for train,
    centre otherwise); smaller images are skipped with a warning. Train with `augment`: random x-flips.
    """

    def __init__(self, root: str | Path, res: int, *, split: str = "train", augment: bool = True,
                 fit: str = "resize", cache_mb: float = DEFAULT_CACHE_MB):
        if isinstance(res, bool) or not isinstance(res, int) or res < 1:
            raise ConfigError(f"res must be a positive integer, got {res!r}")
        if fit not in ("resize", "crop"):
            raise ConfigError(f"unknown fit {fit!r}; choose 'resize' or 'crop'")
        self.root, self.res, self.split, self.fit = Path(root), res, split, fit
        self.random = split == "train"
        self.augment = augment and self.random
        files = find_split_images(root, split)
        if fit == "crop":
            self.files, sizes = _keep_large_enough(files, res, f"res {res} with fit='crop'")
            self._store = _Store(self.files, _load_rgb, cache_mb, sum(3 * w * h for w, h in sizes))
        else:
            self.files = files
            self._store = _Store(self.files, self._resized, cache_mb, 3 * res * res * len(files))

    def _resized(self, path: Path) -> tuple[Tensor, bool]:
        img, _ = _load_rgb(path)
        h, w = img.shape[-2:]
        side = min(h, w)
        img = img[:, (h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
        if side != self.res:
            if side % self.res == 0:
                img = downscale(img, side // self.res, "area")
            else:
                img = imresize(img, size=(self.res, self.res))
        return quantize(img, 8), True

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        img = self._store.get(i)
        if self.fit == "crop":
            h, w = img.shape[-2:]
            r = self.res
            top, left = (_randint(h - r + 1), _randint(w - r + 1)) if self.random else ((h - r) // 2, (w - r) // 2)
            img = img[:, top : top + r, left : left + r]
        if self.augment and _randint(2):
            img = img.flip(-1)
        return img.contiguous()


def collate_pairs(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Stack (lr, hr) pairs; a clear error instead of torch's when whole images of different sizes meet."""
    shapes = {(tuple(lr.shape), tuple(hr.shape)) for lr, hr in batch}
    if len(shapes) > 1:
        raise ConfigError(f"a batch mixes image sizes {sorted(shapes)[:3]}; set hr_size to crop, or use batch size 1")
    return torch.stack([lr for lr, _ in batch]), torch.stack([hr for _, hr in batch])
