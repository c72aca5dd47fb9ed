"""What the GAN and the joint-stack trainers share, written once.

`Critic` is a discriminator with its optimiser, augment pipe, ADA controller and R1 weight; `Critic.update` is
the D phase (adversarial loss, WGAN-GP or lazy R1 on the augmented reals, ADA statistics averaged over ranks),
as stylegan2-ada's `loss.py` splits Dmain and Dreg. `ema_decay` is the G_ema half-life with its ramp-up.
`KimgTrainer.fit` is the loop measured in images shown: n_critic D phases and one G phase per step, a tick
(row, TensorBoard scalars) every tick_kimg, a snapshot (SWD against the training images, sample grids, an
atomic last.pt) every snapshot_kimg. A trainer supplies the steps, its models and its pictures.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as tdist
from torch import Tensor, nn

from gan_sr.errors import ConfigError
from gan_sr.gan.augment import AdaController, AugmentPipe
from gan_sr.losses import adversarial as adv
from gan_sr.progress import progress_bar
from gan_sr.train.loop import (
    DistEnv,
    Precision,
    RunDir,
    allreduce_gradients,
    barrier,
    check_finite,
    flat_hparams,
    open_writer,
    preserved_rng,
)


@dataclass
class Critic:
    """One discriminator with its optimiser, ADA and R1 weight. `name` ("" for the GAN's only D, "lo"/"hi" for
    the stack's) suffixes its statistics and TensorBoard tags."""

    name: str
    D: nn.Module
    opt: torch.optim.Optimizer
    ada: AdaController
    pipe: AugmentPipe
    gamma: float
    steps: int = 0

    def key(self, stat: str) -> str:
        return f"{stat}_{self.name}" if self.name else stat

    def update(self, kind: str, t: dict, prec: Precision, dist: DistEnv, real: Tensor, fake: Tensor,
               stats: dict[str, list]) -> float:
        """One D step on `real` and (detached) `fake` batches; returns the adversarial loss."""
        self.D.requires_grad_(True)
        self.opt.zero_grad(set_to_none=True)
        real_aug, fake_aug = self.pipe(real), self.pipe(fake)
        with prec.autocast():
            r, f = self.D(real_aug), self.D(fake_aug)
            loss = adv.d_loss(kind, r, f)
        total = loss
        if kind == "wgan":
            gp = adv.gradient_penalty(self.D, real_aug, fake_aug)
            total = total + t["gp_lambda"] * gp + t["drift"] * adv.drift_penalty(r)
            stats[self.key("gp")].append(float(gp.detach()))
        total.backward()
        if kind != "wgan" and self.gamma > 0 and self.steps % int(t["r1_interval"]) == 0:
            x = self.pipe(real).detach().requires_grad_(True)
            pen = adv.r1_penalty(self.D(x), x)
            (pen * (self.gamma / 2) * int(t["r1_interval"])).backward()
            stats[self.key("r1")].append(float(pen.detach()))
        allreduce_gradients(self.D, dist)
        self.opt.step()
        self.steps += 1
        self.ada.accumulate(adv.overfit_signs(kind, r, f), images=real.shape[0])
        stats[self.key("loss_d")].append(float(loss.detach()))
        stats[self.key("d_real")].append(float(r.detach().float().mean()))
        stats[self.key("d_fake")].append(float(f.detach().float().mean()))
        if self.ada.due():
            totals = None
            if dist.enabled:
                v = torch.tensor([self.ada.sign_sum, float(self.ada.sign_count), float(self.ada.images)],
                                 dtype=torch.float64, device=dist.device)
                tdist.all_reduce(v)
                totals = (float(v[0]), int(v[1]), int(v[2]))
            self.ada.update(totals)
            self.pipe.p = self.ada.p
        return float(loss.detach())

    def log(self, writer: Any, row: dict, step: int) -> None:
        tag = f"D_{self.name}" if self.name else "D"
        writer.add_scalar(f"ADA/{self.key('p')}", row[self.key("p")], step)
        if math.isfinite(row[self.key("r_t")]):
            writer.add_scalar(f"ADA/{self.key('r_t')}", row[self.key("r_t")], step)
        for side in ("real", "fake"):
            if self.key(f"d_{side}") in row:
                writer.add_scalar(f"{tag}/{side}_mean", row[self.key(f"d_{side}")], step)


def check_config(cfg: dict, losses: tuple[str, ...], who: str) -> None:
    """The checks the [train], [data], [aug] and [log] tables of every adversarial run share (loss name
    canonicalised in place)."""
    t, a, d, lg = cfg["train"], cfg["aug"], cfg["data"], cfg["log"]
    t["loss"] = adv.canonical_kind(t["loss"])
    if t["loss"] not in losses:
        raise ConfigError(f"train.loss {t['loss']!r}: the {who} trainer supports {', '.join(losses)}")
    if not float(t["kimg"]) > 0:
        raise ConfigError(f"--kimg {t['kimg']}: must be positive (thousands of real images shown to D)")
    if int(d["batch"]) < 2:
        raise ConfigError(f"--batch {d['batch']}: discriminators need at least 2 images per batch (minibatch std)")
    if int(t["n_critic"]) < 1 or int(t["r1_interval"]) < 1:
        raise ConfigError("train.n_critic and train.r1_interval must be at least 1")
    if a["mode"] not in ("ada", "fixed", "none") or not 0.0 <= float(a["p"]) <= 1.0:
        raise ConfigError(f"aug.mode {a['mode']!r} / aug.p {a['p']}: use ada, fixed (0 <= p <= 1) or none")
    if float(lg["tick_kimg"]) <= 0 or float(lg["snapshot_kimg"]) <= 0:
        raise ConfigError("log.tick_kimg and log.snapshot_kimg must be positive")


def ema_decay(t: dict, batch: int, nimg: float) -> float:
    """G_ema's per-step decay: a half-life of ema_kimg, ramped up over the first images (ema_rampup)."""
    ema_nimg = float(t["ema_kimg"]) * 1000.0
    if float(t["ema_rampup"]) > 0:
        ema_nimg = min(ema_nimg, nimg * float(t["ema_rampup"]))
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


def average_w_avg(g: nn.Module, dist: DistEnv) -> None:
    """Each rank tracked w_avg on its own latents; keep the replicas identical."""
    if dist.enabled:
        tdist.all_reduce(g.w_avg)
        g.w_avg /= dist.world_size


class KimgTrainer:
    """The loop of an adversarial run, in images shown. A subclass sets `desc`, `cfg`, `dist`, `run`, `quiet`,
    `callback`, `critics`, `nimg`, `step`, `wall`, `swd_ref`, `last_swd`, `swd_res` and provides the methods
    below, `payload()` (the checkpoint) among them."""

    desc = "gan"
    cfg: dict
    dist: DistEnv
    run: RunDir
    quiet: bool
    callback: Callable[[dict], None] | None
    critics: dict[str, Critic]
    nimg: int
    step: int
    wall: float
    swd_ref: Tensor | None
    last_swd: dict | None
    swd_res: int

    def train_step(self, stats: dict[str, list]) -> dict[str, float]:
        """n_critic D phases and one G phase; returns the losses the finite-loss guard checks."""
        raise NotImplementedError

    def modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def progress_row(self) -> dict[str, Any]:
        """Columns of a tick row beside the losses and critics (numbers are also logged as Progress/...)."""
        return {}

    def swd_fakes(self, n: int) -> Tensor:
        """n EMA samples in [0, 1] at the resolution SWD is measured at (fixed seed)."""
        raise NotImplementedError

    def log_samples(self, writer: Any, step: int) -> None:
        raise NotImplementedError

    def postfix(self) -> dict[str, str]:
        return {}

    def final_hparams(self) -> dict[str, float]:
        return {}

    def summary(self, last_row: dict) -> dict:
        raise NotImplementedError

    # ---------------------------------------------------------------------------- shared

    def _swd(self) -> dict | None:
        n = int(self.cfg["log"]["swd_images"])
        if n <= 0:
            return None
        from gan_sr.data.datasets import ImageDataset
        from gan_sr.metrics.swd import swd

        if self.swd_ref is None:
            ds = ImageDataset(self.cfg["data"]["path"], self.swd_res, split="train", augment=False)
            idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(1))[:n]
            self.swd_ref = torch.stack([ds[int(i)] for i in idx])
        return swd(self.swd_ref, self.swd_fakes(self.swd_ref.shape[0]), generator=torch.Generator().manual_seed(0))

    def tick(self, writer: Any, stats: dict[str, list], tick_time: float, tick_nimg: int, snapshot: bool) -> dict:
        kimg = self.nimg / 1000.0
        row: dict[str, Any] = {"kimg": kimg, **self.progress_row()}
        row.update({k: sum(stats[k]) / len(stats[k]) for k in sorted(stats) if stats[k]})  # fixed column order
        for c in self.critics.values():
            row[c.key("p")], row[c.key("r_t")] = c.ada.p, c.ada.r_t
        row["sec_per_kimg"] = tick_time / max(tick_nimg / 1000.0, 1e-9)
        row["wall_s"] = self.wall
        if not self.dist.is_main:
            return row
        with preserved_rng():
            step = self.nimg
            if snapshot:
                self.last_swd = self._swd()
                if self.last_swd is not None:
                    row["swd"] = self.last_swd["mean"]
                    for res, v in self.last_swd["levels"].items():
                        writer.add_scalar(f"Metrics/swd_{res}px", v, step)
                    writer.add_scalar("Metrics/swd_mean", self.last_swd["mean"], step)
            for k in stats:
                if k in row and not k.startswith(("d_real", "d_fake")):
                    writer.add_scalar(f"Loss/{k}", row[k], step)
            for c in self.critics.values():
                c.log(writer, row, step)
            for k, v in self.progress_row().items():
                if isinstance(v, (int, float)):
                    writer.add_scalar(f"Progress/{k}", v, step)
            writer.add_scalar("Progress/kimg", kimg, step)
            writer.add_scalar("Timing/sec_per_kimg", row["sec_per_kimg"], step)
            for name, opt in self.optimizers().items():
                writer.add_scalar(f"LR/{name}", opt.param_groups[0]["lr"], step)
            if snapshot:  # pictures at snapshots only: every tick they made the logs grow ~0.5 MB per kimg
                self.log_samples(writer, step)
            if self.callback is not None:  # inside preserved_rng: a callback cannot change the run
                self.callback({**row, "trainer": self})
        return row

    def fit(self) -> dict:
        cfg, dist = self.cfg, self.dist
        total_nimg = int(round(float(cfg["train"]["kimg"]) * 1000))
        tick_nimg = int(float(cfg["log"]["tick_kimg"]) * 1000)
        snap_nimg = int(float(cfg["log"]["snapshot_kimg"]) * 1000)
        writer = open_writer(self.run, enabled=dist.is_main)
        bar = progress_bar(total_nimg / 1000, desc=self.desc, unit="kimg", initial=min(self.nimg, total_nimg) / 1000,
                           enabled=dist.is_main and not self.quiet)
        stats: dict[str, list] = defaultdict(list)
        last_row: dict = {}
        tick_start_nimg, tick_start = self.nimg, time.perf_counter()
        next_tick = (self.nimg // tick_nimg + 1) * tick_nimg
        next_snap = (self.nimg // snap_nimg + 1) * snap_nimg
        for m in self.modules():
            m.train()
        try:
            while self.nimg < total_nimg:
                before = self.nimg
                losses = self.train_step(stats)
                self.step += 1
                check_finite(self.step, losses, dist)
                bar.update((self.nimg - before) / 1000)
                done = self.nimg >= total_nimg
                if self.nimg >= next_tick or done:
                    now = time.perf_counter()
                    self.wall += now - tick_start
                    snapshot = self.nimg >= next_snap or done
                    last_row = self.tick(writer, stats, now - tick_start, self.nimg - tick_start_nimg, snapshot)
                    bar.set_postfix(**self.postfix(), refresh=False)
                    if snapshot:
                        self.run.save(self.payload())
                        barrier(dist)
                        next_snap = (self.nimg // snap_nimg + 1) * snap_nimg
                    next_tick = (self.nimg // tick_nimg + 1) * tick_nimg
                    stats = defaultdict(list)
                    tick_start_nimg, tick_start = self.nimg, time.perf_counter()
            if dist.is_main and last_row:
                final = {"hparam/kimg": self.nimg / 1000.0, **self.final_hparams()}
                if self.last_swd is not None:
                    final["hparam/swd_mean"] = self.last_swd["mean"]
                writer.add_hparams(flat_hparams(cfg), final, run_name="hparams")
        finally:
            bar.close()
            writer.close()
        return self.summary(last_row)

    def payload(self) -> dict:
        raise NotImplementedError
