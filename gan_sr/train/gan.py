"""Train the limited-data GAN (StyleGAN2-lite + ADA).

A run is a config dict (TOML on disk, `recipe()` for the presets): [model] res/preset/overrides,
[data] path/batch/workers/mirror, [train] kimg/loss/lr/betas/R1/GP/n_critic/EMA/seed/device,
[aug] mode/p/target/interval/ramp_kimg, [log] tick/snapshot/grid/swd_images, [precision].
`train_gan()` runs it in a RunDir (gan_sr.train.loop): TensorBoard in tb/ (losses, p, r_t, D(real)
and D(fake) means, fixed-latent grids, latent interpolations), last.pt written atomically at every
snapshot with G, G_ema, D, both Adam states, ADA p and its accumulators, kimg, data position and all
RNG states, so a resumed single-process run continues bit-identically. Under torchrun each rank
draws its own latents and augmentations; gradients and ADA statistics are averaged over ranks.

Losses (REFERENCE section 5): "ns" non-saturating logistic + lazy R1 (gamma = 0.0002 res^2 / batch
unless set, every 16 D steps, taken w.r.t. the augmented reals), "lsgan" and "hinge" (same R1),
"wgan" (WGAN-GP, lambda 10, 5 critic steps, Adam (1e-4, 0, 0.9), drift 1e-3 E[D(x)^2]). The ADA
overfitting signal r_t uses each loss's neutral point (`losses.adversarial.overfit_signs`).

Sampling, scoring and export of a trained generator are in `gan_sampling` (`load_generator`, `generate`,
`interpolation`, `load_reference`, `evaluate_generator`, `export_generator`), importable from here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from gan_sr.config import GanConfig, check, defaults, load_config, merge
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.gan.augment import AdaController, AugmentPipe, parse_aug
from gan_sr.gan.networks import build_gan, gan_config, to_gan, to_unit
from gan_sr.io.grids import grid_columns, make_grid
from gan_sr.losses import adversarial as adv
from gan_sr.train.recipes import presets, read_recipe
from gan_sr.train.adversarial import Critic, KimgTrainer, check_config, average_w_avg, ema_decay
from gan_sr.train.gan_sampling import (
    evaluate_generator,
    export_generator,
    generate,
    interpolation,
    load_generator,
    load_reference,
)
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

MODEL_NAME = "stylegan2-lite"
LOSSES = ("ns", "lsgan", "hinge", "wgan")

DEFAULTS: dict[str, Any] = defaults(GanConfig)

_LOSS_TRAIN = {  # a loss's own optimiser settings, over the preset (gan_sr/recipes/gan_{preset}.toml)
    "ns": {},
    "lsgan": {},
    "hinge": {},
    "wgan": {"train": {"lr_g": 1e-4, "lr_d": 1e-4, "betas": [0.0, 0.9], "n_critic": 5, "r1_gamma": 0.0,
                       "drift": 1e-3}},
}


# ---------------------------------------------------------------------------------------------- config


def recipe(res: int = 64, preset: str = "cpu", loss: str = "ns") -> dict:
    """Defaults for a resolution, a hardware preset (gan_sr/recipes/gan_{preset}.toml) and a loss (the loss picks
    its optimiser and critic steps)."""
    if preset not in presets("gan"):
        raise ConfigError(f"--preset {preset}: unknown; choose {', '.join(presets('gan'))}")
    kind = adv.canonical_kind(loss)
    if kind not in LOSSES:
        raise ConfigError(f"--loss {loss}: the GAN trainer supports {', '.join(LOSSES)} (wgan-gp = wgan)")
    cfg = merge(merge(DEFAULTS, read_recipe(f"gan_{preset}", GanConfig)), _LOSS_TRAIN[kind])
    return merge(cfg, {"model": {"res": int(res), "preset": preset}, "train": {"loss": kind}})


def build_config(file: str | Path | dict | None = None, **flags: Any) -> dict:
    """recipe(res, preset, loss) <- TOML file <- explicit flags (data, res, preset, loss, aug, kimg, batch, ...)."""
    if isinstance(file, (str, Path)):
        over = load_config(file, GanConfig)
    else:
        over = check(copy.deepcopy(file or {}), GanConfig)
    pick = lambda sec, key: flags.get(key) if flags.get(key) is not None else over.get(sec, {}).get(key)  # noqa: E731
    res, preset, loss = (DEFAULTS[sec][key] if pick(sec, key) is None else pick(sec, key)
                         for sec, key in (("model", "res"), ("model", "preset"), ("train", "loss")))
    cfg = merge(recipe(res, preset, loss), over)
    cfg["train"]["loss"] = adv.canonical_kind(loss)
    sections = {"data": "data", "path": "data", "batch": "data", "workers": "data", "mirror": "data",
                "kimg": "train", "seed": "train", "device": "train", "lr": "train", "r1_gamma": "train",
                "bf16": "precision", "channels_last": "precision", "snapshot_kimg": "log", "tick_kimg": "log",
                "swd_images": "log"}
    for key, value in flags.items():
        if value is None or key in ("res", "preset", "loss"):
            continue
        if key == "aug":
            mode, p = parse_aug(value)
            cfg["aug"]["mode"], cfg["aug"]["p"] = mode, p
        elif key == "lr":
            cfg["train"]["lr_g"] = cfg["train"]["lr_d"] = float(value)
        elif key in ("data", "path"):
            cfg["data"]["path"] = str(value)
        elif key in sections:
            cfg[sections[key]][key] = value
        else:
            raise ConfigError(f"unknown GAN training option {key!r}")
    return validate(cfg)


def validate(cfg: dict, source: str = "config") -> dict:
    """Check keys and types (GanConfig), ranges and names; returns cfg (with the loss name canonical)."""
    check(cfg, GanConfig, source)
    gan_config(cfg["model"]["res"], cfg["model"]["preset"], **cfg["model"]["overrides"])
    check_config(cfg, LOSSES, "GAN")
    return cfg


def r1_gamma(cfg: dict) -> float:
    """R1 weight: the configured one, or ADA's heuristic 0.0002 * res^2 / batch when negative."""
    g = float(cfg["train"]["r1_gamma"])
    return 0.0002 * cfg["model"]["res"] ** 2 / int(cfg["data"]["batch"]) if g < 0 else g


# ---------------------------------------------------------------------------------------------- trainer


class GanTrainer(KimgTrainer):
    """Holds G, G_ema, the critic (D, its optimiser, augment pipe and ADA controller) and G's optimiser."""

    desc = "gan"

    def __init__(self, cfg: dict, dist: DistEnv, run: RunDir, *, quiet: bool = False,
                 callback: Callable[[dict], None] | None = None):
        from gan_sr.data.datasets import ImageDataset

        self.cfg, self.dist, self.run, self.quiet, self.callback = cfg, dist, run, quiet, callback
        t, d = cfg["train"], cfg["data"]
        self.kind = t["loss"]
        self.batch = int(d["batch"])
        if self.batch % dist.world_size:
            raise ConfigError(f"--batch {self.batch} is the global batch; it must divide by the {dist.world_size} ranks")
        self.local_batch = self.batch // dist.world_size
        self.prec = Precision(dist.device, bf16=cfg["precision"]["bf16"], channels_last=cfg["precision"]["channels_last"])
        self.netcfg = gan_config(cfg["model"]["res"], cfg["model"]["preset"], **cfg["model"]["overrides"])
        G, D = build_gan(self.netcfg)
        self.G, self.D = self.prec.model(G), self.prec.model(D)
        broadcast_state(self.G, dist)
        broadcast_state(self.D, dist)
        self.ema = EMA(self.G, decay=0.0)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=t["lr_g"], betas=tuple(t["betas"]), eps=1e-8)
        opt_d = torch.optim.Adam(self.D.parameters(), lr=t["lr_d"], betas=tuple(t["betas"]), eps=1e-8)
        a = cfg["aug"]
        ada = AdaController(a["mode"], a["p"], target=a["target"], interval=a["interval"], ramp_kimg=a["ramp_kimg"])
        self.critic = Critic("", self.D, opt_d, ada, AugmentPipe(ada.p), r1_gamma(cfg))
        self.critics = {"": self.critic}
        dataset = ImageDataset(d["path"], cfg["model"]["res"], split="train", augment=bool(d["mirror"]))
        self.n_train = len(dataset)
        self.stream = BatchStream(dataset, self.local_batch, seed=t["seed"], rank=dist.rank,
                                  world_size=dist.world_size, num_workers=int(d["workers"]),
                                  pin_memory=dist.device.type == "cuda")
        self.nimg, self.step, self.wall = 0, 0, 0.0
        self.swd_res = int(cfg["model"]["res"])
        gz = torch.Generator().manual_seed(int(t["seed"]) + 7919)
        zdim = self.netcfg["z_dim"]
        self.grid_z = torch.randn(int(cfg["log"]["grid"]), zdim, generator=gz)
        self.interp_z = torch.randn(4, 2, zdim, generator=gz)
        self.swd_ref: Tensor | None = None
        self.last_swd: dict | None = None

    # ---------------------------------------------------------------------------- state

    def payload(self) -> dict:
        return {
            "kind": "gan",
            "model": {"name": self.netcfg.get("arch", MODEL_NAME), "scale": 1, "preset": self.netcfg["preset"],
                      "config": dict(self.netcfg)},
            "state_dict": self.G.state_dict(),
            "ema": self.ema.state_dict(),
            "discriminator": self.D.state_dict(),
            "step": self.step,
            "optim": {"G": self.opt_g.state_dict(), "D": self.critic.opt.state_dict()},
            "sched": {},
            "rng": capture_rng(),
            "data": self.stream.state_dict(),
            "ada": self.ada.state_dict(),
            "meta": {"nimg": self.nimg, "kimg": self.nimg / 1000.0, "d_steps": self.critic.steps, "wall_s": self.wall,
                     "loss": self.kind, "aug": self.ada.mode, "p": self.ada.p, "r_t": self.ada.r_t,
                     "train_images": self.n_train, "config": self.cfg,
                     "swd": None if self.last_swd is None else {str(k): v for k, v in self.last_swd["levels"].items()}},
        }

    def load(self, ck: dict) -> None:
        if ck.get("kind") != "gan" or ck.get("model", {}).get("config") != dict(self.netcfg):
            raise CheckpointError(f"{self.run.last}: holds a different model than this run's config.json")
        self.G.load_state_dict(ck["state_dict"])
        self.ema.load_state_dict(ck["ema"])
        self.D.load_state_dict(ck["discriminator"])
        self.opt_g.load_state_dict(ck["optim"]["G"])
        self.critic.opt.load_state_dict(ck["optim"]["D"])
        self.stream.load_state_dict(ck["data"])
        self.ada.load_state_dict(ck["ada"])
        self.critic.pipe.p = self.ada.p
        m = ck["meta"]
        self.step, self.nimg, self.wall = int(ck["step"]), int(m["nimg"]), float(m["wall_s"])
        self.critic.steps = int(m["d_steps"])
        if self.dist.is_main:
            restore_rng(ck["rng"])
        else:
            seed_everything(int(self.cfg["train"]["seed"]) * 1000 + self.dist.rank + self.step)

    # ---------------------------------------------------------------------------- steps

    def _real(self) -> Tensor:
        return to_gan(self.prec.batch(next(self.stream)))

    def _z(self, n: int) -> Tensor:
        return torch.randn(n, self.netcfg["z_dim"], device=self.dist.device)

    @property
    def ada(self) -> AdaController:
        return self.critic.ada

    def d_step(self, stats: dict) -> float:
        real = self._real()
        with torch.no_grad(), self.prec.autocast():
            fake = self.G(self._z(real.shape[0]))
        loss = self.critic.update(self.kind, self.cfg["train"], self.prec, self.dist, real,
                                  self.prec.batch(fake.float()), stats)
        self.nimg += real.shape[0] * self.dist.world_size
        return loss

    def g_step(self, stats: dict) -> float:
        D, pipe = self.critic.D, self.critic.pipe
        D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.prec.autocast():
            fake = self.G(self._z(self.local_batch))
            f = D(pipe(self.prec.batch(fake)))
            real_logits = None
            if self.kind == "ragan":
                with torch.no_grad():
                    real_logits = D(pipe(self._real()))
            loss = adv.g_loss(self.kind, f, real_logits)
        loss.backward()
        allreduce_gradients(self.G, self.dist)
        self.opt_g.step()
        average_w_avg(self.G, self.dist)
        stats["loss_g"].append(float(loss.detach()))
        self.ema.decay = ema_decay(self.cfg["train"], self.batch, self.nimg)
        self.ema.update(self.G)
        return float(loss.detach())

    def train_step(self, stats: dict) -> dict[str, float]:
        for _ in range(int(self.cfg["train"]["n_critic"])):
            loss_d = self.d_step(stats)
        return {"loss_d": loss_d, "loss_g": self.g_step(stats)}

    # ---------------------------------------------------------------------------- logging

    def modules(self) -> list[torch.nn.Module]:
        return [self.G, self.D]

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.critic.opt}

    @torch.no_grad()
    def samples(self) -> tuple[Tensor, Tensor]:
        """EMA samples of the fixed latents, and 4 interpolation strips (8 steps, linear in w)."""
        g = self.ema.module
        dev = self.dist.device
        trunc = float(self.cfg["train"]["truncation"])
        grid = torch.cat([to_unit(g(z.to(dev), trunc)).float().cpu() for z in self.grid_z.split(16)])
        strips = interpolation(g, self.interp_z.to(dev), steps=8, truncation=trunc).cpu()
        return grid, strips

    def swd_fakes(self, n: int) -> Tensor:
        return generate(self.ema.module, n, seed=12345, device=self.dist.device)

    def log_samples(self, writer, step: int) -> None:
        from gan_sr.io.images import write_image

        grid, strips = self.samples()
        cols = grid_columns(grid.shape[0])
        writer.add_image("samples/fixed_latents", make_grid(grid, cols), step)
        writer.add_image("samples/interpolation", make_grid(strips, 8), step)
        write_image(self.run.samples / f"fakes_{self.nimg:09d}.png", make_grid(grid, cols))

    def postfix(self) -> dict[str, str]:
        return {"p": f"{self.ada.p:.3f}", "r_t": f"{self.ada.r_t:.2f}"}

    def final_hparams(self) -> dict[str, float]:
        return {"hparam/ada_p": self.ada.p}

    def summary(self, last_row: dict) -> dict:
        return {"run": str(self.run.path), "kimg": self.nimg / 1000.0, "steps": self.step, "wall_s": self.wall,
                "p": self.ada.p, "r_t": self.ada.r_t, "train_images": self.n_train,
                **{k: v for k, v in last_row.items() if k not in ("kimg", "p", "r_t", "wall_s")}}


def resumed_config(run_dir: str | Path, kimg: float | None = None) -> dict:
    """The validated config of the GAN run in `run_dir` (its config.json), run to `kimg` when given."""
    run = RunDir.open(run_dir)
    cfg = validate(merge(DEFAULTS, run.read_config()), str(run.config_file))
    if kimg is not None:
        cfg["train"]["kimg"] = float(kimg)
    return cfg


def train_gan(config: dict | None = None, *, run_dir: str | Path | None = None, resume: str | Path | None = None,
              kimg: float | None = None, quiet: bool = False, callback: Callable[[dict], None] | None = None) -> dict:
    """Train (or resume) a GAN run; returns a summary (kimg, wall seconds, final p and r_t, last losses)."""
    if (run_dir is None) == (resume is None):
        raise ConfigError("give either --run-dir for a new run or --resume RUN_DIR, not both or neither")
    probe_device = (config or {}).get("train", {}).get("device", "cpu") if resume is None else None
    if resume is not None:
        cfg = resumed_config(resume, kimg)
        probe_device = cfg["train"]["device"]
    dist = init_distributed(probe_device or "cpu")
    try:
        if resume is not None:
            run = RunDir.open(resume, main=dist.is_main)
            run.write_config(cfg)
        else:
            cfg = validate(copy.deepcopy(config)) if config is not None else validate(recipe())
            if kimg is not None:
                cfg["train"]["kimg"] = float(kimg)
            if not cfg["data"]["path"]:
                raise ConfigError("no training data: pass --data DIR (a `gansr data build` output or a folder of images)")
            from gan_sr.data.datasets import find_split_images

            find_split_images(cfg["data"]["path"], "train")  # fail before the run folder is made
            run = RunDir.create(run_dir, cfg, main=dist.is_main)
        seed_everything(int(cfg["train"]["seed"]) + dist.rank)
        trainer = GanTrainer(cfg, dist, run, quiet=quiet, callback=callback)
        if resume is not None:
            trainer.load(run.load_last(map_location=dist.device))
        return trainer.fit()
    finally:
        shutdown_distributed(dist)
