"""A joint checkpoint put to use: load its stack, sample it, export it with a model card."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.gan.networks import to_unit
from gan_sr.gan.stack import Stack, build_stack
from gan_sr.train.joint_config import MODEL_NAME, compute_used


def load_stack(path: str | Path, device: str | torch.device = "cpu") -> Stack:
    """The stack of a joint checkpoint (a run's last.pt or a `gansr joint-export` file): EMA weights, eval mode."""
    from gan_sr.io.checkpoints import load_checkpoint

    ck = load_checkpoint(path, map_location="cpu")
    model = ck.get("model") if isinstance(ck.get("model"), dict) else {}
    if ck.get("kind") != "joint" or model.get("name") != MODEL_NAME:
        raise CheckpointError(f"{path}: a {ck.get('kind')!r} checkpoint of {model.get('name')!r}, not a joint stack; "
                              "pass a `gansr joint-train` last.pt or a `gansr joint-export` file")
    try:
        stack = build_stack(model["config"])
        stack.load_state_dict(ck.weights())
    except (ConfigError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored stack config ({str(exc)[:200]})") from None
    return stack.eval().requires_grad_(False).to(device)


@torch.no_grad()
def generate_stack(stack: Stack, n: int, *, seed: int = 0, batch: int = 64, truncation: float = 1.0,
                   device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """n samples (lo, hi) in [0, 1] on the CPU; latent i is the one gan_sr.train.gan.generate draws for `seed`."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(int(n), stack.z_dim, generator=gen)
    los, his = [], []
    for zb in z.split(batch):
        lo, hi = stack(zb.to(device), truncation)
        los.append(to_unit(lo.float()).cpu())
        his.append(to_unit(hi.float()).cpu())
    if not los:
        return torch.zeros(0, 3, stack.res_lo, stack.res_lo), torch.zeros(0, 3, stack.res_hi, stack.res_hi)
    return torch.cat(los), torch.cat(his)


def _describe_init(init: dict | None, what: str) -> str:
    if not init:
        return "none (trained from scratch)"
    wall = init.get("wall_s")
    wall_text = f"{wall / 3600:.2f} h" if wall is not None else "wall time not recorded"
    amount = f"{init['kimg']:g} kimg" if what == "g0" and init.get("kimg") is not None else (
        f"{init['steps']} steps" if init.get("steps") is not None else "length not recorded")
    return f"{init['path']} ({amount}, {wall_text})"


def export_stack(ckpt: str | Path, out: str | Path, *, command: str = "") -> dict:
    """Write a slim sampling checkpoint (EMA stack only, meta kept) and its model card (`out` with .md)."""
    from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint, write_model_card

    out = Path(out)
    if out.resolve() == Path(ckpt).resolve():
        raise ConfigError(f"--out {out}: would overwrite the run checkpoint it is exported from")
    stack = load_stack(ckpt)  # validates kind and weights
    ck = load_checkpoint(ckpt)
    m = ck["meta"]
    weights = stack.state_dict()
    slim = {"kind": "joint", "model": ck["model"], "state_dict": weights, "ema": weights, "step": ck["step"],
            "meta": {k: v for k, v in m.items() if k != "config"} | {"source": str(ckpt)}}
    save_checkpoint(out, slim)
    cfg, comp = m.get("config") or {}, compute_used(m)
    sr = ck["model"]["config"]["sr"]
    total = comp["total_wall_s"]
    card = {
        "title": f"Joint stack: {out.stem}",
        "model": f"StyleGAN2-lite {stack.res_lo} px (preset {ck['model']['preset']}) + {sr['name']} x{stack.scale} "
                 f"(preset {sr['preset']}) -> {stack.res_hi} px",
        "parameters (G0 / S)": f"{sum(p.numel() for p in stack.g0.parameters())} / "
                               f"{sum(p.numel() for p in stack.sr.parameters())}",
        "training data": f"{cfg.get('data', {}).get('path', '?')} ({m.get('train_images', '?')} images)",
        "loss": m.get("loss"),
        "alpha / phase": f"{m.get('alpha', float('nan')):.3f} / {m.get('phase')}",
        "augmentation": f"{m.get('aug')} (final p lo {m.get('p', {}).get('lo', float('nan')):.3f}, "
                        f"hi {m.get('p', {}).get('hi', float('nan')):.3f})",
        "trained (this run)": f"{m.get('kimg', 0):.1f} kimg in {m.get('wall_s', 0) / 3600:.2f} h",
        "G0 init": _describe_init(m.get("g0_init"), "g0"),
        "S init": _describe_init(m.get("sr_init"), "sr"),
        "total compute": f"{total / 3600:.2f} h wall (this run + inits)" if total is not None
                         else "unknown (an init did not record its wall time)",
    }
    if cfg:
        t = cfg["train"]
        card["settings"] = (f"batch {cfg['data']['batch']}, lr G0/S/D {t['lr_g']}/{t['lr_sr']}/{t['lr_d']}, "
                            f"fade {t['fade_kimg']} kimg, lo_weight {t['lo_weight']}, consistency {t['consistency']}"
                            f"{' (lo detached)' if t['consistency_detach'] else ''}, freeze_g0 {t['freeze_g0']}, "
                            f"EMA half-life {t['ema_kimg']} kimg, seed {t['seed']}")
    if command:
        card["exported with"] = command
    card["notes"] = (
        "Weights are the EMA stack. Load with `gan_sr.train.joint.load_stack`; compare with post-hoc SR with\n"
        "`gansr compare`. hi = (1 - alpha) * bicubic(lo) + alpha * S(lo), lo = G0(z). Wall times are as measured\n"
        "on the machine that trained each part; they add up only as far as those machines compare."
    )
    card_path = write_model_card(out, card)
    return {"checkpoint": str(out), "card": str(card_path), **{k: v for k, v in card.items() if k != "notes"}}
