"""One trainer for every learnable SR model: composed losses, stages, EMA, validation, resumable runs.

One file on purpose: it is the one `SRTrainer`, whose methods share its state; its config, model card and loop
machinery are already apart (`sr_config`, `cards`, `loop`).

A run is a config dict (gan_sr.train.sr_config: `recipe()` gives the papers' and the CPU-sized ones, from
gan_sr/recipes/). `train_sr()` runs it in a RunDir (see gan_sr.train.loop):
TensorBoard in tb/, last.pt/best.pt (best by validation PSNR, Y, crop = scale, fp32, EMA weights),
a model card beside best.pt at the end. A resumed run continues bit-identically.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_sr.errors import CheckpointError, ConfigError, TrainingDiverged
from gan_sr.io.grids import image_grid
from gan_sr.progress import progress_bar
from gan_sr.train.loop import (EMA, BatchStream, DistEnv, LRSchedule, Precision, RunDir, allreduce_gradients, barrier,
                               broadcast_floats, broadcast_state, build_optimizer, capture_rng, check_finite,
                               flat_hparams, init_distributed, open_writer, past_deadline, preserved_rng,
                               restore_rng, seed_everything, shutdown_distributed, unwrap, wrap_ddp)
from gan_sr.train.sr_config import hr_size, validate


# --------------------------------------------------------------------------------------------- trainer


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    best_psnr: float
    val: dict = field(default_factory=dict)
    wall_s: float = 0.0


class SRTrainer:
    """Builds everything from a config and runs it; subclass hooks: `generator_losses`, `on_step_end`."""

    def __init__(self, config: dict | None, *, data: str | Path | None, run_dir: str | Path | None = None,
                 resume: str | Path | None = None, init: str | Path | None = None,
                 vgg_weights: str | Path | None = None, device: str = "cpu", quiet: bool = False, command: str = "",
                 steps: int | None = None, for_minutes: float | None = None) -> None:
        self.dist: DistEnv = init_distributed(device)
        self.for_minutes = for_minutes
        self.quiet, self.command = quiet, command or " ".join(sys.argv)
        if resume is not None:
            self.run = RunDir.open(resume, main=self.dist.is_main)
            saved = self.run.read_config()
            self.cfg = validate(saved["config"], str(self.run.config_file))
            self.data = Path(data) if data else Path(saved["data"])
            self.init, self.vgg_weights = saved.get("init"), vgg_weights or saved.get("vgg_weights")
            self.command = saved.get("command", self.command)
            if steps is not None and int(steps) != self.cfg["train"]["steps"]:
                self.cfg["train"]["steps"] = int(steps)
                self.run.write_config(self._run_record())
        else:
            if config is None or data is None:
                raise ConfigError("a new run needs a config and --data")
            self.cfg = validate(copy.deepcopy(config))
            self.data = Path(data)
            self.init, self.vgg_weights = (str(init) if init else None), (str(vgg_weights) if vgg_weights else None)
            m = self.cfg["model"]
            run_dir = Path(run_dir) if run_dir else Path("runs") / f"{m['name']}_x{m['scale']}_{m['stage']}"
            RunDir(run_dir, main=self.dist.is_main).ensure_fresh()
        self._build(from_init=resume is None)
        if resume is None:
            self.run = RunDir.create(run_dir, self._run_record(), main=self.dist.is_main)
            barrier(self.dist)
        self.step, self.best_psnr, self.last_val = 0, -math.inf, {}
        self.evals_since_best, self.stall_ref, self.wall_before = 0, -math.inf, 0.0
        if resume is not None:
            self._load_state(self.run.load_last())

    # ----------------------------------------------------------------------------------------- setup

    def _run_record(self) -> dict:
        return {"config": self.cfg, "data": str(self.data), "init": self.init, "vgg_weights": self.vgg_weights,
                "command": self.command}

    def _build(self, from_init: bool = True) -> None:
        from gan_sr.data.datasets import PairedDataset
        from gan_sr.sr.registry import build_model, load_init

        cfg, dist = self.cfg, self.dist
        m, t, loss = cfg["model"], cfg["train"], cfg["loss"]
        self.scale = int(m["scale"])
        seed_everything(int(t["seed"]))
        self.prec = Precision(dist.device, bf16=bool(cfg["precision"]["bf16"]),
                              channels_last=bool(cfg["precision"]["channels_last"]))
        g = build_model(m["name"], self.scale, m["preset"], **m["overrides"])
        if self.init and from_init:  # a resumed run takes its weights from last.pt instead
            load_init(g, self.init, name=m["name"], scale=self.scale, preset=m["preset"])
        self.g = self.prec.model(g)
        broadcast_state(self.g, dist)
        self.ema = EMA(self.g, decay=float(t["ema_decay"]))
        self.g_ddp = wrap_ddp(self.g, dist)
        self.opt_g = self._optimizer(self.g, t["lr"], t["betas"], t["lr_mult"])
        self.sched_g = self._schedule(self.opt_g)

        self.w_pix = float(loss["pixel"]["weight"])
        self.w_per = float(loss["perceptual"]["weight"])
        self.w_adv = float(loss["adversarial"]["weight"])
        self.percep = None
        if self.w_per > 0:
            from gan_sr.losses.perceptual import PerceptualLoss

            pl = loss["perceptual"]
            self.percep = PerceptualLoss(self.vgg_weights, {pl["layer"]: 1.0}, pl["criterion"]).to(dist.device)
        self.d = self.opt_d = self.sched_d = None
        if self.w_adv > 0:
            adv = loss["adversarial"]
            self.d = self.prec.model(self._discriminator(adv))
            broadcast_state(self.d, dist)
            self.opt_d = self._optimizer(self.d, adv["lr"], adv["betas"], {})
            self.sched_d = self._schedule(self.opt_d)

        size = hr_size(cfg)
        train = PairedDataset(self.data, self.scale, split="train", hr_size=size,
                              degradation=cfg["data"]["degradation"], augment=True)
        self.val = PairedDataset(self.data, self.scale, split="val", hr_size=None,
                                 degradation=cfg["data"]["degradation"], augment=False)
        if len(self.val) == 0:
            raise ConfigError(f"--data {self.data}: the val split has no images; validation picks the best checkpoint")
        self.stream = BatchStream(train, int(cfg["data"]["batch"]), seed=int(t["seed"]), rank=dist.rank,
                                  world_size=dist.world_size, num_workers=int(cfg["data"]["workers"]),
                                  pin_memory=dist.device.type == "cuda")

    def _discriminator(self, adv: dict) -> nn.Module:
        from gan_sr.sr.registry import build_discriminator

        size = hr_size(self.cfg)
        over = dict(adv["overrides"])
        d = build_discriminator(adv["discriminator"], adv["preset"], **over)
        if d is None:
            raise ConfigError(f"loss.adversarial.discriminator = {adv['discriminator']!r} has no discriminator")
        if getattr(d, "input_size", size) != size and "input_size" not in over:
            d = build_discriminator(adv["discriminator"], adv["preset"], **over, input_size=size)
        return d

    def _optimizer(self, net: nn.Module, lr: float, betas, lr_mult: dict) -> torch.optim.Optimizer:
        t = self.cfg["train"]
        return build_optimizer(net, t["optimizer"], lr, betas=betas, lr_mult=lr_mult, momentum=t["momentum"],
                               weight_decay=t["weight_decay"])

    def _schedule(self, opt: torch.optim.Optimizer) -> LRSchedule:
        t = self.cfg["train"]
        return LRSchedule(opt, t["schedule"], step_size=int(t["step_size"]), milestones=t["milestones"],
                          gamma=float(t["gamma"]), patience=int(t["patience"]), min_delta=float(t["min_delta"]),
                          min_lr=float(t["min_lr"]), warmup=int(t["warmup"]), total=int(t["steps"]))

    # ------------------------------------------------------------------------------------- checkpoints

    def model_entry(self) -> dict:
        """{"name", "scale", "preset", "config"} as the registry resolved it (what load_model rebuilds)."""
        m = self.cfg["model"]
        entry = getattr(unwrap(self.g), "registry_entry", None)
        if entry is None:
            return {"name": m["name"], "scale": self.scale, "preset": m["preset"], "config": dict(m["overrides"])}
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in entry.items()}

    def payload(self) -> dict:
        m = self.cfg["model"]
        d_state = None
        if self.d is not None:
            adv = self.cfg["loss"]["adversarial"]
            d_state = {"name": adv["discriminator"], "preset": adv["preset"], "config": dict(adv["overrides"]),
                       "state_dict": self.d.state_dict()}
        return {
            "kind": "sr", "model": self.model_entry(), "state_dict": self.g.state_dict(), "ema": self.ema.state_dict(),
            "step": self.step,
            "optim": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict() if self.opt_d else None},
            "sched": {"g": self.sched_g.state_dict(), "d": self.sched_d.state_dict() if self.sched_d else None},
            "discriminator": d_state,
            "rng": {**capture_rng(), "data": self.stream.state_dict()},
            "meta": {
                "stage": m["stage"], "data": str(self.data), "command": self.command,
                "wall_s": self.wall_before + (time.time() - self.t0), "val": dict(self.last_val),
                "best_psnr": self.best_psnr, "config": self.cfg, "init": self.init,
                "evals_since_best": self.evals_since_best, "stall_ref": self.stall_ref,
            },
        }

    def _load_state(self, ck: dict) -> None:
        self.g.load_state_dict(ck["state_dict"])
        self.ema.load_state_dict(ck["ema"])
        self.opt_g.load_state_dict(ck["optim"]["g"])
        self.sched_g.load_state_dict(ck["sched"]["g"])
        if self.d is not None:
            if not ck.get("discriminator"):
                raise CheckpointError(f"{self.run.last}: no discriminator state, but this run has an adversarial loss")
            self.d.load_state_dict(ck["discriminator"]["state_dict"])
            self.opt_d.load_state_dict(ck["optim"]["d"])
            self.sched_d.load_state_dict(ck["sched"]["d"])
        self.step = int(ck["step"])
        meta = ck.get("meta", {})
        self.best_psnr = float(meta.get("best_psnr", -math.inf))
        self.evals_since_best = int(meta.get("evals_since_best", 0))
        self.stall_ref = float(meta.get("stall_ref", self.best_psnr))
        self.last_val = dict(meta.get("val", {}))
        self.wall_before = float(meta.get("wall_s", 0.0))
        self.stream.load_state_dict(ck["rng"]["data"])
        restore_rng(ck["rng"])

    # ------------------------------------------------------------------------------------------ steps

    def generator_losses(self, lr: Tensor, hr: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """(sr, named weighted losses, fake logits or an empty tensor) for one batch."""
        with self.prec.autocast():
            sr = self.g_ddp(lr)
        sr32 = sr.float()
        losses: dict[str, Tensor] = {}
        if self.w_pix > 0:
            fn = F.l1_loss if self.cfg["loss"]["pixel"]["kind"] == "l1" else F.mse_loss
            losses["pixel"] = self.w_pix * fn(sr32, hr)
        if self.percep is not None:
            with self.prec.autocast():
                losses["perceptual"] = self.w_per * self.percep(sr, hr)
        fake = torch.empty(0)
        if self.d is not None:
            from gan_sr.losses.adversarial import canonical_kind, g_loss

            kind = self.cfg["loss"]["adversarial"]["kind"]
            self.d.requires_grad_(False)
            with self.prec.autocast():
                fake = self.d(sr)
                real = self.d(hr).detach() if canonical_kind(kind) == "ragan" else None
            losses["adv_g"] = self.w_adv * g_loss(kind, fake, real)
        return sr, losses, fake

    def discriminator_step(self, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        from gan_sr.losses.adversarial import d_loss

        kind = self.cfg["loss"]["adversarial"]["kind"]
        self.d.requires_grad_(True)
        with self.prec.autocast():
            real = self.d(hr)
            fake = self.d(sr.detach())
        ld = d_loss(kind, real, fake)
        check_finite(self.step + 1, {"d": ld}, self.dist)
        self.opt_d.zero_grad(set_to_none=True)
        ld.backward()
        allreduce_gradients(self.d, self.dist)
        self.opt_d.step()
        self.sched_d.step()
        return {"d": ld.detach(), "d_real": real.detach().float().mean(), "d_fake": fake.detach().float().mean()}

    def train_step(self, lr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        sr, losses, _ = self.generator_losses(lr, hr)
        total = sum(losses.values())
        check_finite(self.step + 1, {**losses, "total": total}, self.dist)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        clip = float(self.cfg["train"]["grad_clip"])
        if clip > 0:
            nn.utils.clip_grad_norm_(self.g.parameters(), clip)
        self.opt_g.step()
        self.sched_g.step()
        self.ema.update(self.g, self.step)
        logs = {k: v.detach() for k, v in losses.items()}
        logs["total"] = total.detach()
        if self.d is not None:
            logs.update(self.discriminator_step(sr, hr))
        return logs

    def on_step_end(self, logs: dict[str, Tensor]) -> None:
        """Hook for subclasses and tests; called after every completed step."""

    # ------------------------------------------------------------------------------------- validation

    @torch.no_grad()
    def validate(self, writer=None) -> dict[str, float]:
        """Mean PSNR/SSIM (Y, crop = scale) of the EMA generator on the val split, in fp32."""
        from gan_sr.io.images import quantize
        from gan_sr.metrics.psnr_ssim import psnr, ssim

        net = self.ema.module
        limit = int(self.cfg["eval"]["max_images"]) or len(self.val)
        n = min(limit, len(self.val))
        ps, ss, rows = [], [], []
        with preserved_rng(), self.prec.fp32():
            for i in range(n):
                lr, hr = self.val[i]
                lr, hr = lr[None].to(self.dist.device), hr[None].to(self.dist.device)
                sr = quantize(net(lr).float().clamp(0, 1))
                ps.append(float(psnr(sr, hr, crop=self.scale).mean()))
                ss.append(float(ssim(sr, hr, crop=self.scale).mean()))
                if i < int(self.cfg["log"]["samples"]):
                    up = F.interpolate(lr, scale_factor=self.scale, mode="nearest")
                    rows.append([up[0], sr[0], hr[0]])
        if writer is not None and rows:
            grid = image_grid(rows)
            writer.add_image("samples/lr_sr_hr", grid, self.step)
            from gan_sr.io.images import write_image

            write_image(self.run.samples / f"step_{self.step:08d}.png", grid)
        return {"psnr": sum(ps) / n, "ssim": sum(ss) / n}

    # ------------------------------------------------------------------------------------------- run

    def _evaluate_and_save(self, writer, force_save: bool) -> None:
        cfg, dist = self.cfg, self.dist
        is_best = False
        if self.step % int(cfg["eval"]["every"]) == 0 or self.step == int(cfg["train"]["steps"]):
            if dist.is_main:
                self.last_val = self.validate(writer)
                writer.add_scalar("val/psnr", self.last_val["psnr"], self.step)
                writer.add_scalar("val/ssim", self.last_val["ssim"], self.step)
            self.last_val = broadcast_floats(self.last_val, dist)
            self.sched_g.observe(self.last_val["psnr"])
            if self.sched_d is not None:
                self.sched_d.observe(self.last_val["psnr"])
            psnr = self.last_val["psnr"]
            if psnr > self.best_psnr:
                self.best_psnr, is_best = psnr, True
            if psnr > self.stall_ref + float(cfg["train"]["min_delta"]):
                self.stall_ref, self.evals_since_best = psnr, 0
            else:
                self.evals_since_best += 1
        if is_best or force_save or self.step % int(cfg["log"]["checkpoint_every"]) == 0:
            self.run.save(self.payload(), best=is_best)

    def _rollback(self, exc: TrainingDiverged) -> None:
        if self.rollbacks_left <= 0 or not self.run.has_checkpoint():
            raise exc
        self.rollbacks_left -= 1
        ck = self.run.load_last()
        self._load_state(ck)
        self.sched_g.scale_base(0.5)
        if self.sched_d is not None:
            self.sched_d.scale_base(0.5)
        if not self.quiet and self.dist.is_main:
            print(f"{exc} Rolled back to step {self.step} with half the learning rate.", file=sys.stderr)

    def flattened(self) -> bool:
        """True once train.early_stop validations in a row gained no more than train.min_delta dB: the curve is flat."""
        patience = int(self.cfg["train"]["early_stop"])
        return patience > 0 and self.evals_since_best >= patience

    def fit(self) -> TrainResult:
        cfg, dist = self.cfg, self.dist
        total = int(cfg["train"]["steps"])
        self.t0 = time.time()
        self.rollbacks_left = int(cfg["train"]["rollback"])
        writer = open_writer(self.run, enabled=dist.is_main)
        bar = progress_bar(total, desc="train", initial=self.step, enabled=dist.is_main and not self.quiet)
        log_every = int(cfg["log"]["every"])
        acc: dict[str, float] = {}
        t_log, s_log = time.time(), self.step
        try:
            deadline = math.inf if self.for_minutes is None else self.t0 + 60.0 * float(self.for_minutes)
            while self.step < total and not self.flattened():
                lr, hr = (self.prec.batch(x) for x in next(self.stream))
                try:
                    logs = self.train_step(lr, hr)
                except TrainingDiverged as exc:
                    self._rollback(exc)
                    continue
                self.step += 1
                bar.update(1)
                for k, v in logs.items():
                    acc[k] = acc.get(k, 0.0) + float(v)
                self.on_step_end(logs)
                if self.step % log_every == 0 and dist.is_main:
                    n = self.step - s_log
                    for k, v in acc.items():
                        writer.add_scalar(f"{'d' if k.startswith('d_') else 'loss'}/{k}", v / n, self.step)
                    writer.add_scalar("lr/g", self.sched_g.lr(), self.step)
                    if self.sched_d is not None:
                        writer.add_scalar("lr/d", self.sched_d.lr(), self.step)
                    writer.add_scalar("speed/it_per_s", n / max(time.time() - t_log, 1e-9), self.step)
                    bar.set_postfix({k: f"{v / n:.4g}" for k, v in acc.items() if not k.startswith("d_")})
                    acc, t_log, s_log = {}, time.time(), self.step
                self._evaluate_and_save(writer, force_save=self.step == total)
                if self.step < total and self.step % log_every == 0 and past_deadline(deadline, dist):
                    self.run.save(self.payload())  # a campaign slice ends here; the same command continues
                    break
                if self.flattened():
                    self.run.save(self.payload())
                    if dist.is_main and not self.quiet:
                        print(f"Stopped at step {self.step}: no val PSNR gain over train.min_delta in "
                              f"{self.evals_since_best} validations (train.early_stop).", file=sys.stderr)
            if dist.is_main and (self.step >= total or self.flattened()):  # not after a campaign slice
                writer.add_hparams(flat_hparams(cfg), {"hparam/best_val_psnr": self.best_psnr,
                                                        "hparam/val_ssim": self.last_val.get("ssim", 0.0)},
                                   run_name="hparams")
                self._write_card()
        finally:
            bar.close()
            writer.close()
        barrier(dist)
        wall = self.wall_before + time.time() - self.t0
        result = TrainResult(self.run.path, self.step, self.best_psnr, dict(self.last_val), wall)
        shutdown_distributed(dist)
        return result

    def _write_card(self) -> None:
        from gan_sr.io.checkpoints import write_model_card
        from gan_sr.sr.registry import count_params
        from gan_sr.train.cards import sr_run_card

        card = sr_run_card(self.cfg, parameters=count_params(self.g), steps=self.step, data=str(self.data),
                           init=self.init, best_psnr=self.best_psnr, last_val=self.last_val,
                           wall_s=self.wall_before + time.time() - self.t0, command=self.command)
        write_model_card(self.run.best if self.run.best.exists() else self.run.last, card)


def train_sr(config: dict | None, *, data: str | Path | None, **kwargs: Any) -> TrainResult:
    """Build an SRTrainer (see its arguments) and run it to config.train.steps."""
    return SRTrainer(config, data=data, **kwargs).fit()
