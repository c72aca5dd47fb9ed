"""Perceptual (VGG19 feature) loss of SRGAN and ESRGAN, on ImageNet weights supplied as a local file.

The `features` stack is laid out exactly as torchvision's vgg19 (`features.N.weight`), so its
`vgg19-dcbb9e9d.pth` loads unchanged. Layers are named conv{b}_{i} (before the ReLU, ESRGAN),
relu{b}_{i} (after it, SRGAN's "VGG54" = relu5_4) and pool{b}. Weights are never random: without a
file a WeightsMissingError says where to put one.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import ConfigError, WeightsMissingError

VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names() -> list[str]:
    """Names of the 37 modules of vgg19.features, in order."""
    names, block, conv = [], 1, 1
    for v in _CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())


def default_weights_path() -> Path:
    """Where torchvision would cache the file: $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def find_weights(weights_path: str | os.PathLike | None = None) -> Path:
    """The VGG19 weights file to use: the given path, else the torch hub cache; WeightsMissingError if none."""
    if weights_path is not None:
        p = Path(weights_path).expanduser()
        if not p.is_file():
            raise WeightsMissingError(
                f"--vgg-weights {p}: no such file. The perceptual loss needs torchvision's ImageNet VGG19 "
                f"weights ({VGG19_FILE}); pass its path, or use --perceptual none to train without it."
            )
        return p
    p = default_weights_path()
    if not p.is_file():
        raise WeightsMissingError(
            f"VGG19 weights for the perceptual loss not found: pass --vgg-weights PATH to torchvision's "
            f"{VGG19_FILE} (ImageNet), or place it at {p} (the torch hub cache, $TORCH_HOME/hub/checkpoints), "
            "or use --perceptual none. Nothing is downloaded and random weights are never used."
        )
    return p


class VGGFeatures(nn.Module):
    """Frozen VGG19 features of [0, 1] RGB images at the named layers (ImageNet normalisation inside)."""

    def __init__(self, weights_path: str | os.PathLike | None, layers: list[str] | tuple[str, ...] = ("conv5_4",)) -> None:
        super().__init__()
        layers = [layers] if isinstance(layers, str) else list(layers)
        unknown = [l for l in layers if l not in LAYER_NAMES]
        if not layers or unknown:
            raise ConfigError(
                f"unknown VGG19 layer(s) {unknown or layers}; use names like conv5_4 (before ReLU), "
                "relu5_4 (after ReLU), pool4"
            )
        self.layers = layers
        self.last = max(LAYER_NAMES.index(l) for l in layers)
        modules: list[nn.Module] = []
        in_ch = 3
        for v in _CFG:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(in_ch, int(v), 3, padding=1, device="meta"), nn.ReLU(inplace=False)]
                in_ch = int(v)
        self.features = nn.Sequential(*modules[: self.last + 1])  # on "meta" until the file's tensors land
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.weights_path = find_weights(weights_path)
        self._load(self.weights_path)
        self.requires_grad_(False).eval()

    def _load(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise WeightsMissingError(f"{path}: cannot read VGG19 weights ({type(exc).__name__}: {exc})") from exc
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise WeightsMissingError(f"{path}: not a VGG19 state_dict (found {type(state).__name__})")
        missing: list[str] = []
        mapped = {}
        for key, ref in self.features.state_dict().items():
            full = f"features.{key}"
            t = state.get(full)
            if t is None:
                missing.append(full)
            elif not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(ref.shape):
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise WeightsMissingError(
                    f"{path}: {full} has shape {shape}, VGG19 needs {tuple(ref.shape)}; "
                    f"this is not torchvision's {VGG19_FILE}"
                )
            else:
                mapped[key] = t
        if missing:
            raise WeightsMissingError(
                f"{path}: missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}; "
                f"this is not torchvision's {VGG19_FILE} (keys features.N.weight/bias expected)"
            )
        self.features.load_state_dict({k: t.float().contiguous() for k, t in mapped.items()}, assign=True)

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always frozen, always in eval mode

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            name = LAYER_NAMES[i]
            if name in self.layers:
                out[name] = x
        return out


class PerceptualLoss(nn.Module):
    """Sum over layers of a distance (l1 | mse) between VGG19 features of SR and HR, times per-layer weights."""

    def __init__(
        self,
        weights_path: str | os.PathLike | None,
        layers: dict[str, float] | str = "conv5_4",
        criterion: str = "l1",
    ) -> None:
        super().__init__()
        self.layer_weights = {layers: 1.0} if isinstance(layers, str) else dict(layers)
        if criterion not in ("l1", "mse"):
            raise ConfigError(f"perceptual criterion '{criterion}' is unknown; use l1 or mse")
        self.criterion = criterion
        self.vgg = VGGFeatures(weights_path, list(self.layer_weights))

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        f_sr = self.vgg(sr)
        with torch.no_grad():
            f_hr = self.vgg(hr.detach())
        dist = F.l1_loss if self.criterion == "l1" else F.mse_loss
        return sum(w * dist(f_sr[l].float(), f_hr[l].float()) for l, w in self.layer_weights.items())
