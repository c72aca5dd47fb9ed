"""Network interpolation (ESRGAN): one checkpoint whose weights are a blend of two checkpoints of one model,
the PSNR/GAN trade-off without retraining (`gansr sr interpolate`)."""

from __future__ import annotations

from pathlib import Path

import torch

from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.sr.registry import get_spec, training_stages


def interpolate_checkpoints(a: str | Path, b: str | Path, alpha: float, out: str | Path) -> Path:
    """Network interpolation theta = (1 - alpha) A + alpha B (EMA weights when present) into `out`."""
    from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint

    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"--alpha {alpha}: must be in [0, 1]")
    out = Path(out)
    if out.resolve() in (Path(a).resolve(), Path(b).resolve()):
        raise ConfigError(f"-o {out}: would overwrite an input checkpoint; choose another path")
    ca, cb = load_checkpoint(a), load_checkpoint(b)
    for path, ck in ((a, ca), (b, cb)):
        if ck.get("kind") != "sr" or not isinstance(ck.get("model"), dict):
            raise CheckpointError(f"{path}: not an SR model checkpoint (kind {ck.get('kind')!r})")
    ma, mb = ca["model"], cb["model"]
    same_net = ma.get("name") == mb.get("name") or (
        ma.get("name") in training_stages() and mb.get("name") in training_stages()
        and get_spec(ma["name"]).builder is get_spec(mb["name"]).builder)  # rrdb (PSNR) and esrgan (GAN stage)
    for key in ("name", "scale", "preset", "config"):
        if (ma.get(key) != mb.get(key)) and not (key == "name" and same_net):
            raise CheckpointError(
                f"cannot interpolate {a} and {b}: model {key} differs ({ma.get(key)!r} vs {mb.get(key)!r}); "
                "both must be the same model spec (e.g. the PSNR and GAN stages of one esrgan)"
            )
    wa, wb = ca.weights(), cb.weights()
    if set(wa) != set(wb) or any(wa[k].shape != wb[k].shape for k in wa):
        raise CheckpointError(f"cannot interpolate {a} and {b}: their weights have different keys or shapes")
    alpha = float(alpha)
    theta = {}
    for k, ta in wa.items():
        tb = wb[k]
        if ta.is_floating_point():
            theta[k] = torch.lerp(ta, tb.to(ta.dtype), alpha)
        else:
            theta[k] = (tb if alpha >= 0.5 else ta).clone()
    # B's provenance (command, data, stage) travels with it; its own scores do not describe the blend
    scores = ("val", "bench", "shipped_from", "best_psnr", "stall_ref", "evals_since_best")
    meta = {k: v for k, v in (cb.get("meta") or {}).items() if k not in scores}
    save_checkpoint(out, {
        "kind": "sr", "model": dict(mb), "state_dict": theta, "step": cb.get("step", 0),
        "meta": {**meta, "interpolated": {"a": str(a), "b": str(b), "alpha": alpha,
                                          "a_step": ca.get("step"), "b_step": cb.get("step")}},
    })
    return out
