"""The SR methods of `gansr posthoc` and `gansr compare` (--sr): parsed from names, "all" or LABEL=CKPT, loaded
up front so that errors come first, and run over a batch of images."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gan_sr.errors import CheckpointError, ConfigError

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class Method:
    """One post-hoc upscaler: the label it is reported and written under, and where its model comes from."""

    label: str
    name: str              # registry name of the model
    ckpt: Path | None      # its checkpoint (a LABEL=CKPT entry or the shipped file); None for bicubic/anime4k
    shipped: bool = False  # loaded by name from the shipped checkpoints (whose error says how to get one)


def parse_methods(methods: str | Sequence[str], scale: int) -> list[Method]:
    """--sr entries (repeatable, comma lists): registry names, "all", or LABEL=CKPT; ConfigError on bad ones.

    A LABEL that is a registry name must hold that model; any other label names a checkpoint of any model.
    """
    from gan_sr.sr.registry import get_spec, list_models

    items = [methods] if isinstance(methods, str) else list(methods or [])
    parts = [p.strip() for item in items for p in str(item).split(",")]
    if not items or not any(parts):
        raise ConfigError("--sr: no SR method given; name one or more of "
                          f"{', '.join(s.name for s in list_models())}, all, or LABEL=CKPT")
    out: dict[str, Method] = {}
    for part in parts:
        if not part:
            raise ConfigError(f"--sr {','.join(map(str, items))!r}: has an empty entry")
        label, sep, path = part.partition("=")
        label, path = label.strip(), path.strip()
        if not sep and Path(part).suffix and Path(part).is_file():  # a weights file: labelled by its name
            label, sep, path = re.sub(r"[^A-Za-z0-9._+-]", "_", Path(part).stem), "=", part
        if sep:
            if not label or not path:
                raise ConfigError(f"--sr {part!r}: expected LABEL=CKPT, e.g. --sr espcn=runs/espcn/best.pt")
            if not _LABEL.match(label) or label == "real" or label.startswith("gan_"):
                raise ConfigError(f"--sr {part!r}: the label {label!r} names an output folder; use letters, digits "
                                  "and . _ + - (not 'real' or 'gan_...')")
            ckpt = Path(path)
            if not ckpt.is_file():
                raise CheckpointError(f"--sr {part}: no such checkpoint file {ckpt}")
            name = _model_name(ckpt, part)
            known = {s.name for s in list_models()}
            if label.lower() in known and label.lower() != name:
                raise CheckpointError(f"--sr {part}: {ckpt} holds a {name} model, not {label.lower()}; "
                                      f"give it another label, e.g. --sr {name}-alt={ckpt}")
            found = [Method(label, name, ckpt)]
        elif part.lower() == "all":
            found = [_shipped(s, scale) for s in list_models(shipped_only=True)]
        else:
            try:
                spec = get_spec(part)
            except ConfigError:
                raise ConfigError(f"--sr {part!r}: unknown SR method; known: "
                                  f"{', '.join(s.name for s in list_models())}, all, or LABEL=CKPT") from None
            found = [_shipped(spec, scale)]
        for m in found:
            if m.label in out and out[m.label] != m:
                raise ConfigError(f"--sr: the label {m.label!r} is given twice for different models")
            out[m.label] = m
    return list(out.values())


def _shipped(spec, scale: int) -> Method:
    from gan_sr.sr.registry import checkpoints_dir

    ckpt = checkpoints_dir() / f"{spec.name}_x{scale}.pt" if spec.learnable else None
    return Method(spec.name, spec.name, ckpt, shipped=True)


def _model_name(ckpt: Path, part: str) -> str:
    """The registry name of the model in a gansr checkpoint or a community weights file."""
    from gan_sr.sr.registry import load_model

    try:
        return load_model(ckpt).registry_entry["name"]
    except (CheckpointError, ConfigError) as exc:
        raise CheckpointError(f"--sr {part}: {exc}") from None


def load_methods(methods: Sequence[Method], scale: int, device: str | torch.device = "cpu") -> dict[str, nn.Module]:
    """{label: model in eval mode} for every method, all loaded before any work so that errors come first."""
    from gan_sr.sr.registry import load_model

    models = {}
    for m in methods:
        try:
            models[m.label] = load_model(m.name if m.shipped else m.ckpt, scale, device=device)
        except (ConfigError, CheckpointError) as exc:
            raise type(exc)(f"--sr {m.label}: {exc}") from None
    return models


@torch.no_grad()
def upscale_batch(images: Tensor, model: nn.Module, *, batch: int = 16, device: str | torch.device = "cpu",
                  on_batch: Callable[[int], None] | None = None) -> Tensor:
    """model(images) in fp32, eval mode, without gradients, `batch` images at a time; [0, 1] in, [0, 1] out (CPU).

    `on_batch(k)` is called after each batch of k images (a progress bar's update).
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ConfigError(f"upscale_batch: images must be (N, 3, H, W), got {tuple(images.shape)}")
    if batch < 1:
        raise ConfigError(f"upscale_batch: batch must be at least 1, got {batch}")
    model = model.to(device).eval()
    out = []
    for x in images.split(batch):
        y = model(x.to(device, torch.float32)).float().clamp(0.0, 1.0).cpu()
        out.append(y)
        if on_batch is not None:
            on_batch(x.shape[0])
    if not out:
        s = int(getattr(model, "scale", 1))
        return images.new_zeros(0, 3, images.shape[-2] * s, images.shape[-1] * s)
    return torch.cat(out)
