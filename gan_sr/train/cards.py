"""The model card an SR run writes beside its best.pt (gan_sr.io.checkpoints.write_model_card lays it out):
what was trained, on what, how, and how well."""

from __future__ import annotations

from typing import Any

from gan_sr.train.sr_config import hr_size


def sr_losses(loss: dict) -> str:
    """The active loss terms of an SR config's [loss] tables, e.g. "l1 x0.01, VGG19 conv5_4 x1.0, ragan x0.005"."""
    w = {k: float(loss[k]["weight"]) for k in ("pixel", "perceptual", "adversarial")}
    parts = [f"{loss['pixel']['kind']} x{loss['pixel']['weight']}" if w["pixel"] > 0 else "",
             f"VGG19 {loss['perceptual']['layer']} x{w['perceptual']}" if w["perceptual"] > 0 else "",
             f"{loss['adversarial']['kind']} x{w['adversarial']}" if w["adversarial"] > 0 else ""]
    return ", ".join(p for p in parts if p)


def sr_run_card(cfg: dict, *, parameters: int, steps: int, data: str, init: str | None, best_psnr: float,
                last_val: dict, wall_s: float, command: str) -> dict[str, Any]:
    """The card of an SR run with config `cfg` after `steps` steps."""
    m, t = cfg["model"], cfg["train"]
    return {
        "title": f"{m['name']} x{m['scale']} ({m['stage']} stage, preset {m['preset']})",
        "model": m["name"], "scale": int(m["scale"]), "preset": m["preset"], "stage": m["stage"],
        "parameters": parameters, "steps": steps, "batch": cfg["data"]["batch"],
        "hr crop": hr_size(cfg), "losses": sr_losses(cfg["loss"]),
        "optimizer": f"{t['optimizer']} lr {t['lr']} ({t['schedule']})", "EMA decay": t["ema_decay"],
        "data": data, "init": init or "none",
        "best val PSNR (Y, crop=scale)": best_psnr, "last val": last_val,
        "wall time (s)": round(wall_s, 1),
        "notes": f"Trained with: {command}\n\nWeights: `ema` (used for validation) and `state_dict`.",
    }
