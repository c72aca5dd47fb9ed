"""Train the progressive stack (gan_sr.gan.stack): G0 and an SR stage S as one generator, a discriminator at each end.

A run is a config dict like the GAN's (TOML on disk, `recipe()` for the presets): [model] res/scale/g0_preset/
g0_overrides/sr/sr_preset/sr_overrides, [init] g0/sr (checkpoints to start from), [data], [train], [aug], [log],
[precision]. Reals for D_hi are the training images at res * scale; reals for D_lo are the same batch shrunk
by MATLAB bicubic (gan_sr.degrade.downscale), so both discriminators see the same pictures.

Phases, by images shown: "base" (only without init.g0: G0 + D_lo alone for base_kimg), "fade" (alpha 0 -> 1
linearly over fade_kimg; D_hi and S join), "joint" (alpha = 1). G's loss is
    lo_weight * adv(D_lo(lo)) + adv(D_hi(hi)) + consistency * |downscale(hi) - lo|_1 (in [0, 1] units).
The consistency target lo is detached by default (train.consistency_detach): the term then asks S for an
upscale that shrinks back to G0's sample, and cannot pull G0's samples towards what S finds easy to upscale
(D_lo alone shapes lo). With train.freeze_g0, G0 (weights and w_avg) stays as loaded and only S and D_hi train:
S is fine-tuned on the GAN's own outputs. G0 then starts from the init's EMA weights (the generator that
ships), and D_lo is idle.

Each discriminator has its own AugmentPipe and AdaController (r_t and p per D), lazy R1 with gamma
0.0002 * res^2 / batch at its own resolution unless set. Same guarantees as gan_sr.train.gan: TensorBoard,
atomic last.pt at every snapshot with everything a bit-identical resume needs, torchrun (gradients, w_avg and
ADA statistics averaged over ranks), finite-loss guard, SWD against the training images at res * scale.
The checkpoint's meta records the compute of the inits (g0_init, sr_init, read from their checkpoints), so a
report can state total compute from the files (`compute_used`).

Split by what each part holds: `joint_config` (recipe, flags, checks, inits, `compute_used`) and `joint_sampling`
(`load_stack`, `generate_stack`, `export_stack`); this module holds the trainer, and every public name of the
parts is importable from here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from gan_sr.config import merge
from gan_sr.degrade import downscale
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.gan.augment import AdaController, AugmentPipe
from gan_sr.gan.networks import Discriminator, gan_config, to_gan, to_unit
from gan_sr.gan.stack import build_stack
from gan_sr.io.grids import grid_columns, make_grid
from gan_sr.losses import adversarial as adv
from gan_sr.train.adversarial import Critic, KimgTrainer, average_w_avg, ema_decay
from gan_sr.train.joint_config import (
    DEFAULTS,
    MODEL_NAME,
    PHASES,
    build_config,
    compute_used,
    r1_gammas,
    recipe,
    resolve_inits,
    resumed_config,
    validate,
)
from gan_sr.train.joint_sampling import export_stack, generate_stack, load_stack
from gan_sr.train.loop import (
    EMA,
    BatchStream,
    DistEnv,
    Precision,
    RunDir,
    allreduce_gradients,
    broadcast_state,
    capture_rng,
    init_distributed,
    restore_rng,
    seed_everything,
    shutdown_distributed,
)


class JointTrainer(KimgTrainer):
    """The stack, its EMA, both critics, the optimisers of G0 and S, and the data stream of one run."""

    desc = "joint"

    def __init__(self, cfg: dict, dist: DistEnv, run: RunDir, *, inits: dict | None = None, quiet: bool = False,
                 callback: Callable[[dict], None] | None = None):
        from gan_sr.data.datasets import ImageDataset

        self.cfg, self.dist, self.run, self.quiet, self.callback = cfg, dist, run, quiet, callback
        m, t, d, a = cfg["model"], cfg["train"], cfg["data"], cfg["aug"]
        inits = inits or {}
        self.kind, self.scale, self.freeze = t["loss"], int(m["scale"]), bool(t["freeze_g0"])
        self.batch = int(d["batch"])
        if self.batch % dist.world_size:
            raise ConfigError(f"--batch {self.batch} is the global batch; it must divide by the {dist.world_size} ranks")
        self.local_batch = self.batch // dist.world_size
        self.prec = Precision(dist.device, bf16=cfg["precision"]["bf16"], channels_last=cfg["precision"]["channels_last"])
        self.netcfg = gan_config(m["res"], m["g0_preset"], **m["g0_overrides"])
        self.sr_entry = {"name": m["sr"], "scale": self.scale, "preset": m["sr_preset"], "overrides": m["sr_overrides"]}
        stack = build_stack({"g0": self.netcfg, "sr": self.sr_entry}, alpha=0.0)
        d_lo = Discriminator(**self.netcfg)
        d_hi = Discriminator(**gan_config(m["res"] * self.scale, m["g0_preset"], **m["g0_overrides"]))
        g0_init = inits.get("g0")
        if g0_init is not None:
            stack.g0.load_state_dict(g0_init["ema"] if self.freeze else g0_init["state_dict"])
            if g0_init["discriminator"] is not None:
                d_lo.load_state_dict(g0_init["discriminator"])
        if inits.get("sr") is not None:
            stack.sr.load_state_dict(inits["sr"])
        self.stack, d_lo, d_hi = (self.prec.model(net) for net in (stack, d_lo, d_hi))
        for net in (self.stack, d_lo, d_hi):
            broadcast_state(net, dist)
        self.ema = EMA(self.stack, decay=0.0)
        if g0_init is not None:
            self.ema.module.g0.load_state_dict(g0_init["ema"])
        betas = tuple(t["betas"])
        self.opt_g0 = torch.optim.Adam(self.stack.g0.parameters(), lr=t["lr_g"], betas=betas, eps=1e-8)
        self.opt_sr = torch.optim.Adam(self.stack.sr.parameters(), lr=t["lr_sr"], betas=betas, eps=1e-8)
        gammas = r1_gammas(cfg)
        self.critics: dict[str, Critic] = {}
        for name, D in (("lo", d_lo), ("hi", d_hi)):
            p0 = a["p"]
            if name == "lo" and a["mode"] == "ada" and g0_init is not None and g0_init["discriminator"] is not None \
                    and g0_init["p"] is not None:
                p0 = float(g0_init["p"])  # D_lo continues at the augmentation strength it was trained with
            ada = AdaController(a["mode"], p0, target=a["target"], interval=a["interval"], ramp_kimg=a["ramp_kimg"])
            opt = torch.optim.Adam(D.parameters(), lr=t["lr_d"], betas=betas, eps=1e-8)
            self.critics[name] = Critic(name, D, opt, ada, AugmentPipe(ada.p), gammas[name])
        self.g0_init, self.sr_init = inits.get("g0_init"), inits.get("sr_init")
        dataset = ImageDataset(d["path"], self.stack.res_hi, split="train", augment=bool(d["mirror"]))
        self.n_train = len(dataset)
        self.stream = BatchStream(dataset, self.local_batch, seed=t["seed"], rank=dist.rank,
                                  world_size=dist.world_size, num_workers=int(d["workers"]),
                                  pin_memory=dist.device.type == "cuda")
        self.base_nimg = 0 if cfg["init"]["g0"] else int(round(float(t["base_kimg"]) * 1000))
        self.fade_nimg = int(round(float(t["fade_kimg"]) * 1000))
        self.nimg, self.step, self.wall = 0, 0, 0.0
        self.phase = "base" if self.base_nimg > 0 else "fade"
        gz = torch.Generator().manual_seed(int(t["seed"]) + 7919)
        self.grid_z = torch.randn(int(cfg["log"]["grid"]), self.netcfg["z_dim"], generator=gz)
        self.swd_ref: Tensor | None = None
        self.last_swd: dict | None = None
        self.swd_res = self.stack.res_hi

    # ---------------------------------------------------------------------------- state

    def model_entry(self) -> dict:
        return {"name": MODEL_NAME, "scale": self.scale, "preset": self.netcfg["preset"],
                "config": {"g0": dict(self.netcfg), "sr": dict(self.sr_entry)}}

    def payload(self) -> dict:
        c = self.critics
        return {
            "kind": "joint",
            "model": self.model_entry(),
            "state_dict": self.stack.state_dict(),
            "ema": self.ema.state_dict(),
            "discriminators": {k: v.D.state_dict() for k, v in c.items()},
            "step": self.step,
            "optim": {"g0": self.opt_g0.state_dict(), "sr": self.opt_sr.state_dict(),
                      **{f"d_{k}": v.opt.state_dict() for k, v in c.items()}},
            "sched": {},
            "rng": capture_rng(),
            "data": self.stream.state_dict(),
            "ada": {k: v.ada.state_dict() for k, v in c.items()},
            "meta": {"kimg": self.nimg / 1000.0, "nimg": self.nimg, "wall_s": self.wall,
                     "alpha": float(self.stack.alpha), "phase": self.phase, "g0_init": self.g0_init,
                     "sr_init": self.sr_init, "train_images": self.n_train, "config": self.cfg,
                     "d_steps": {k: v.steps for k, v in c.items()}, "loss": self.kind, "aug": c["hi"].ada.mode,
                     "p": {k: v.ada.p for k, v in c.items()}, "r_t": {k: v.ada.r_t for k, v in c.items()},
                     "swd": None if self.last_swd is None else {str(k): v for k, v in self.last_swd["levels"].items()}},
        }

    def load(self, ck: dict) -> None:
        if ck.get("kind") != "joint" or ck.get("model", {}).get("config") != self.model_entry()["config"]:
            raise CheckpointError(f"{self.run.last}: holds a different model than this run's config.json")
        self.stack.load_state_dict(ck["state_dict"])
        self.ema.load_state_dict(ck["ema"])
        self.opt_g0.load_state_dict(ck["optim"]["g0"])
        self.opt_sr.load_state_dict(ck["optim"]["sr"])
        m = ck["meta"]
        for k, c in self.critics.items():
            c.D.load_state_dict(ck["discriminators"][k])
            c.opt.load_state_dict(ck["optim"][f"d_{k}"])
            c.ada.load_state_dict(ck["ada"][k])
            c.pipe.p = c.ada.p
            c.steps = int(m["d_steps"][k])
        self.stream.load_state_dict(ck["data"])
        self.step, self.nimg, self.wall = int(ck["step"]), int(m["nimg"]), float(m["wall_s"])
        self.phase, self.g0_init, self.sr_init = m["phase"], m["g0_init"], m["sr_init"]
        if self.dist.is_main:
            restore_rng(ck["rng"])
        else:
            seed_everything(int(self.cfg["train"]["seed"]) * 1000 + self.dist.rank + self.step)

    # ---------------------------------------------------------------------------- schedule

    def phase_at(self, nimg: int) -> tuple[str, float]:
        """The phase and alpha for a step that starts after `nimg` images."""
        if nimg < self.base_nimg:
            return "base", 0.0
        if nimg < self.base_nimg + self.fade_nimg:
            return "fade", (nimg - self.base_nimg) / self.fade_nimg
        return "joint", 1.0

    def _enter(self, phase: str, alpha: float) -> None:
        """Set alpha and what trains: S joins after the base phase; a frozen G0 stays in eval mode (w_avg kept)."""
        self.phase = phase
        self.stack.set_alpha(alpha)
        frozen = self.freeze and phase != "base"
        self.stack.g0.requires_grad_(not frozen).train(not frozen)
        self.stack.sr.requires_grad_(phase != "base")

    # ---------------------------------------------------------------------------- steps

    def _z(self, n: int) -> Tensor:
        return torch.randn(n, self.netcfg["z_dim"], device=self.dist.device)

    def _d_update(self, name: str, real: Tensor, fake: Tensor, stats: dict) -> float:
        return self.critics[name].update(self.kind, self.cfg["train"], self.prec, self.dist, real,
                                         self.prec.batch(fake.float()), stats)

    def d_step(self, stats: dict) -> dict[str, float]:
        real_unit = self.prec.batch(next(self.stream))
        real_hi = to_gan(real_unit)
        real_lo = self.prec.batch(to_gan(downscale(real_unit, self.scale).clamp(0.0, 1.0)))
        with torch.no_grad(), self.prec.autocast():
            lo, hi = self.stack(self._z(real_hi.shape[0]))
        losses = {}
        if not (self.freeze and self.phase != "base"):
            losses["loss_d_lo"] = self._d_update("lo", real_lo, lo, stats)
        if self.phase != "base":
            losses["loss_d_hi"] = self._d_update("hi", real_hi, hi, stats)
        self.nimg += real_hi.shape[0] * self.dist.world_size
        return losses

    def g_step(self, stats: dict) -> dict[str, float]:
        t = self.cfg["train"]
        train_g0, train_sr = not (self.freeze and self.phase != "base"), self.phase != "base"
        for c in self.critics.values():
            c.D.requires_grad_(False)
        self.opt_g0.zero_grad(set_to_none=True)
        self.opt_sr.zero_grad(set_to_none=True)
        terms: dict[str, Tensor] = {}
        with self.prec.autocast():
            lo, hi = self.stack(self._z(self.local_batch))
            loss = torch.zeros((), device=self.dist.device)
            if train_g0:
                c = self.critics["lo"]
                terms["g_lo"] = adv.g_loss(self.kind, c.D(c.pipe(self.prec.batch(lo))))
                loss = loss + float(t["lo_weight"]) * terms["g_lo"]
            if train_sr:
                c = self.critics["hi"]
                terms["g_hi"] = adv.g_loss(self.kind, c.D(c.pipe(self.prec.batch(hi))))
                loss = loss + terms["g_hi"]
                if float(t["consistency"]) > 0:
                    target = lo.detach() if t["consistency_detach"] else lo
                    terms["consistency"] = 0.5 * (downscale(hi, self.scale) - target).abs().float().mean()
                    loss = loss + float(t["consistency"]) * terms["consistency"]
        if loss.requires_grad:  # False only at alpha 0 with G0 frozen: S is not in the graph yet
            loss.backward()
            if train_g0:
                allreduce_gradients(self.stack.g0, self.dist)
                self.opt_g0.step()
            if train_sr:
                allreduce_gradients(self.stack.sr, self.dist)
                self.opt_sr.step()
        if self.stack.g0.training:
            average_w_avg(self.stack.g0, self.dist)
        out = {"loss_g": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
        for k, v in out.items():
            stats[k].append(v)
        # images behind G0's init count as seen, so the ramp does not wipe its EMA
        self.ema.decay = ema_decay(t, self.batch, self.nimg + self._init_nimg())
        self.ema.update(self.stack)
        return out

    def _init_nimg(self) -> float:
        if not self.g0_init:
            return 0.0
        kimg = self.g0_init.get("kimg")
        return 1000.0 * float(kimg) if kimg is not None else 0.0

    # ---------------------------------------------------------------------------- logging

    @torch.no_grad()
    def samples(self) -> tuple[Tensor, Tensor]:
        """EMA (lo, hi) samples of the fixed latents, in [0, 1] on the CPU."""
        trunc = float(self.cfg["train"]["truncation"])
        outs = [self.ema.module(z.to(self.dist.device), trunc) for z in self.grid_z.split(16)]
        return (torch.cat([to_unit(lo.float()).cpu() for lo, _ in outs]),
                torch.cat([to_unit(hi.float()).cpu() for _, hi in outs]))

    def swd_fakes(self, n: int) -> Tensor:
        return generate_stack(self.ema.module, n, seed=12345, device=self.dist.device)[1]

    def log_samples(self, writer, step: int) -> None:
        from gan_sr.io.images import write_image

        lo, hi = self.samples()
        cols = grid_columns(lo.shape[0])
        writer.add_image("samples/fixed_lo", make_grid(lo, cols), step)
        writer.add_image("samples/fixed_hi", make_grid(hi, cols), step)
        write_image(self.run.samples / f"fakes_hi_{self.nimg:09d}.png", make_grid(hi, cols))
        write_image(self.run.samples / f"fakes_lo_{self.nimg:09d}.png", make_grid(lo, cols))

    def train_step(self, stats: dict) -> dict[str, float]:
        self._enter(*self.phase_at(self.nimg))
        losses: dict[str, float] = {}
        for _ in range(int(self.cfg["train"]["n_critic"])):
            losses.update(self.d_step(stats))
        losses.update(self.g_step(stats))
        return losses

    def modules(self) -> list[nn.Module]:
        return [self.stack, *(c.D for c in self.critics.values())]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g0": self.opt_g0, "sr": self.opt_sr, **{f"d_{k}": c.opt for k, c in self.critics.items()}}

    def progress_row(self) -> dict[str, Any]:
        return {"phase": self.phase, "alpha": float(self.stack.alpha)}

    def postfix(self) -> dict[str, str]:
        return {"alpha": f"{float(self.stack.alpha):.2f}", "p_lo": f"{self.critics['lo'].ada.p:.3f}",
                "p_hi": f"{self.critics['hi'].ada.p:.3f}"}

    def final_hparams(self) -> dict[str, float]:
        return {"hparam/alpha": float(self.stack.alpha)}

    def summary(self, last_row: dict) -> dict:
        meta = self.payload()["meta"]
        return {"run": str(self.run.path), "kimg": self.nimg / 1000.0, "steps": self.step, "wall_s": self.wall,
                "train_images": self.n_train, "g0_init": self.g0_init, "sr_init": self.sr_init,
                "compute": compute_used(meta),
                **{k: v for k, v in last_row.items() if k not in ("kimg", "wall_s")}}


def train_joint(config: dict | None = None, *, run_dir: str | Path | None = None, resume: str | Path | None = None,
                kimg: float | None = None, quiet: bool = False, callback: Callable[[dict], None] | None = None) -> dict:
    """Train (or resume) a joint stack run; returns a summary (kimg, wall seconds, phase, alpha, p/r_t per D, inits)."""
    if (run_dir is None) == (resume is None):
        raise ConfigError("give either --run-dir for a new run or --resume RUN_DIR, not both or neither")
    inits = None
    if resume is not None:
        cfg = resumed_config(resume)
    else:
        cfg = validate(merge(DEFAULTS, copy.deepcopy(config)) if config is not None else recipe())
        if not cfg["data"]["path"]:
            raise ConfigError("no training data: pass --data DIR (a `gansr data build` output or a folder of images)")
        from gan_sr.data.datasets import find_split_images

        find_split_images(cfg["data"]["path"], "train")  # fail before the run folder is made
        cfg, inits = resolve_inits(cfg)
    if kimg is not None:
        cfg["train"]["kimg"] = float(kimg)
        validate(cfg)
    dist = init_distributed(cfg["train"]["device"])
    try:
        if resume is not None:
            run = RunDir.open(resume, main=dist.is_main)
            run.write_config(cfg)
        else:
            run = RunDir.create(run_dir, cfg, main=dist.is_main)
        seed_everything(int(cfg["train"]["seed"]) + dist.rank)
        trainer = JointTrainer(cfg, dist, run, inits=inits, quiet=quiet, callback=callback)
        if resume is not None:
            trainer.load(run.load_last(map_location=dist.device))
        return trainer.fit()
    finally:
        shutdown_distributed(dist)
