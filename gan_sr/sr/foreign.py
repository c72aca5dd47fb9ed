"""Community SR weights (.pth / .pt / .safetensors from BasicSR, Real-ESRGAN, the original ESRGAN repository):
read safely, the architecture detected from tensor names and shapes, built through the registry.

Reading never runs code from the file: .safetensors through the `safetensors` library, anything else through
`gan_sr.io.checkpoints.read_torch_file` (torch.load with weights_only=True, CRC-checked). BasicSR wraps weights
as {"params_ema": ...} or {"params": ...}; bare state dicts and "state_dict"/"model" wrappers are accepted too.
Detected (all RGB in, RGB out, values in [0, 1], the scale read from the weights):
- RRDBNet (ESRGAN, Real-ESRGAN x4plus / x4plus_anime_6B / x2plus) in BasicSR's names, or the original ESRGAN
  repository's `model.N...` names (mapped to BasicSR's; its `B.sequential` flattening puts the body at
  model.1.sub, the upsampling convs at model.3, model.6, then HR conv and last conv);
- SRVGGNetCompact (Real-ESRGAN animevideov3, general-x4v3): `body.N` convs with PReLU slopes between them.
The maintained library that detects many more architectures, spandrel, needs torchvision, which has no CPU
build for the torch gansr pins (README, Install), so this covers the ESRGAN family natively.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from torch import Tensor

from gan_sr.errors import CheckpointError

WRAPPERS = ("params_ema", "params", "state_dict", "model", "net_g")
_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$")


def read_weights(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a community weights file, unwrapped and with DataParallel's `module.` prefix removed."""
    from gan_sr.io.checkpoints import read_torch_file

    path = Path(path)
    return unwrap(read_safetensors(path) if path.suffix.lower() == ".safetensors" else read_torch_file(path), path)


def read_safetensors(path: Path) -> dict[str, Tensor]:
    """The tensors of a .safetensors file (a header and raw buffers: nothing in it can run)."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors reports damage as SafetensorError / OSError
        raise CheckpointError(f"{path}: not a readable .safetensors file ({str(exc)[:160]})") from None


def unwrap(data: object, path: str | Path) -> dict[str, Tensor]:
    """The state dict inside what a weights file held (BasicSR's params_ema/params, or bare)."""
    if isinstance(data, dict):
        for key in WRAPPERS:
            inner = data.get(key)
            if isinstance(inner, dict) and inner and all(torch.is_tensor(v) for v in inner.values()):
                data = inner
                break
    if not isinstance(data, dict) or not data or not all(torch.is_tensor(v) for v in data.values()):
        found = ", ".join(repr(str(k)) for k in list(data)[:8]) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: no state dict of tensors found (top-level entries: {found or 'none'}; "
                              f"looked inside {', '.join(WRAPPERS)})")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in data.items()}


def _old_esrgan_to_basicsr(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The original ESRGAN repository's key names mapped onto BasicSR's RRDBNet names."""
    out: dict[str, Tensor] = {}
    blocks = sorted({int(m.group(1)) for k in state if (m := _OLD_RDB.match(k))})
    body_end = (max(blocks) + 1) if blocks else 0
    tail = sorted({int(k.split(".")[1]) for k in state if re.match(r"model\.\d+\.weight$", k)} - {0})
    *ups, hr, last = tail
    names = {0: "conv_first", hr: "conv_hr", last: "conv_last"} | {i: f"conv_up{n}" for n, i in enumerate(ups, 1)}
    for k, v in state.items():
        if m := _OLD_RDB.match(k):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = v
        elif m := re.match(rf"model\.1\.sub\.{body_end}\.(weight|bias)$", k):
            out[f"conv_body.{m.group(1)}"] = v
        elif m := re.match(r"model\.(\d+)\.(weight|bias)$", k):
            out[f"{names[int(m.group(1))]}.{m.group(2)}"] = v
        else:
            raise KeyError(k)
    return out


def detect(state: dict[str, Tensor], path: str | Path = "weights") -> tuple[str, int, dict, dict[str, Tensor]]:
    """(registry name, scale, builder options, state dict in gansr's names) of a community SR state dict."""
    keys = sorted(state)
    try:
        if "model.0.weight" in state and any(_OLD_RDB.match(k) for k in keys):
            state = _old_esrgan_to_basicsr(state)
        if "conv_first.weight" in state and "body.0.rdb1.conv1.weight" in state:
            first = state["conv_first.weight"]
            unshuffle = math.isqrt(first.shape[1] // 3)
            ups = sum(1 for k in state if re.match(r"conv_up\d+\.weight$", k))
            scale = 2**ups // unshuffle
            options = {"num_blocks": 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body.")),
                       "nf": int(first.shape[0]), "gc": int(state["body.0.rdb1.conv1.weight"].shape[0])}
            if unshuffle > 1:
                options["unshuffle"] = unshuffle
            return "rrdb", scale, options, state
        convs = sorted(int(k.split(".")[1]) for k in state if re.match(r"body\.\d+\.weight$", k)
                       and state[k].dim() == 4)
        if convs and convs[0] == 0 and state["body.0.weight"].shape[1] == 3:
            out_ch = int(state[f"body.{convs[-1]}.weight"].shape[0])
            scale = math.isqrt(out_ch // 3)
            if scale * scale * 3 == out_ch and scale >= 2:
                prelu = "body.1.weight" in state and state["body.1.weight"].dim() == 1
                options = {"nf": int(state["body.0.weight"].shape[0]), "num_conv": len(convs) - 2,
                           "act": "prelu" if prelu else "leakyrelu"}
                return "srvgg", scale, options, state
    except (KeyError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{path}: looks like an ESRGAN-family state dict but does not fit one "
                              f"(unexpected key {exc})") from None
    shown = ", ".join(f"{k} {tuple(state[k].shape)}" for k in keys[:6])
    raise CheckpointError(f"{path}: a raw state_dict of {len(keys)} tensors in no known SR architecture "
                          f"(first: {shown}); gansr reads RRDBNet (ESRGAN / Real-ESRGAN, BasicSR or original names) and "
                          "SRVGGNetCompact, or its own checkpoints")
