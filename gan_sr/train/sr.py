"""One trainer for every learnable SR model: composed losses, stages, EMA, validation, resumable runs.

A run is a config dict (TOML on disk; `recipe()` gives the papers' and the CPU-sized ones):
[model] name/scale/preset/stage/overrides, [data] hr_size|lr_size/batch/degradation/workers,
[train] optimiser, lr, schedule, EMA, seed, [loss.pixel|perceptual|adversarial] (a loss is on when its
weight > 0), [eval], [log], [precision]. `train_sr()` runs it in a RunDir (see gan_sr.train.loop):
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

from gan_sr.config import check_keys, load_config, merge
from gan_sr.sr.registry import get_spec, training_stages
from gan_sr.errors import CheckpointError, ConfigError, TrainingDiverged
from gan_sr.train.loop import (
    EMA,
    BatchStream,
    DistEnv,
    LRSchedule,
    Precision,
    RunDir,
    allreduce_gradients,
    barrier,
    broadcast_state,
    capture_rng,
    check_finite,
    flat_hparams,
    image_grid,
    init_distributed,
    open_writer,
    preserved_rng,
    progress,
    restore_rng,
    seed_everything,
    shutdown_distributed,
    unwrap,
    wrap_ddp,
)


DEFAULTS: dict[str, Any] = {
    "model": {"name": "", "scale": 4, "preset": "cpu", "stage": "", "overrides": {}},
    "data": {"hr_size": 96, "lr_size": 0, "batch": 16, "degradation": "bicubic", "workers": 0},
    "train": {
        "steps": 1000, "optimizer": "adam", "lr": 1e-4, "betas": [0.9, 0.999], "momentum": 0.9,
        "weight_decay": 0.0, "lr_mult": {}, "schedule": "constant", "step_size": 0, "milestones": [],
        "gamma": 0.5, "patience": 10, "min_lr": 0.0, "ema_decay": 0.999, "grad_clip": 0.0, "seed": 0,
        "rollback": 0, "warmup": 0, "early_stop": 0,
    },
    "loss": {
        "pixel": {"kind": "l1", "weight": 1.0},
        "perceptual": {"layer": "conv5_4", "criterion": "l1", "weight": 0.0},
        "adversarial": {
            "kind": "ragan", "weight": 0.0, "discriminator": "esrgan", "preset": "paper", "overrides": {},
            "lr": 1e-4, "betas": [0.9, 0.999],
        },
    },
    "eval": {"every": 500, "max_images": 0},
    "log": {"every": 20, "checkpoint_every": 500, "samples": 4},
    "precision": {"bf16": False, "channels_last": False},
}


def _paper_recipes() -> dict[tuple[str, str], dict]:
    """The published recipes (REFERENCE.md section 3); comments in experiments/configs/*_paper.toml."""
    return {
        ("srcnn", "mse"): {
            "model": {"preset": "paper"},
            "data": {"hr_size": 36, "batch": 128, "workers": 4},
            "train": {"steps": 1_000_000, "lr": 1e-4, "lr_mult": {"reconstruct": 0.1}},
            "loss": {"pixel": {"kind": "mse", "weight": 1.0}},
            "eval": {"every": 5000}, "log": {"every": 100, "checkpoint_every": 5000},
        },
        ("espcn", "mse"): {
            "model": {"preset": "paper"},
            "data": {"lr_size": 17, "batch": 16, "workers": 4},
            "train": {"steps": 1_000_000, "lr": 1e-2, "schedule": "plateau", "gamma": 0.1, "patience": 10,
                      "min_lr": 1e-4},
            "loss": {"pixel": {"kind": "mse", "weight": 1.0}},
            "eval": {"every": 5000}, "log": {"every": 100, "checkpoint_every": 5000},
        },
        ("srgan", "mse"): {
            "model": {"preset": "paper"},
            "data": {"hr_size": 96, "batch": 16, "workers": 4},
            "train": {"steps": 1_000_000, "lr": 1e-4},
            "loss": {"pixel": {"kind": "mse", "weight": 1.0}},
            "eval": {"every": 5000}, "log": {"every": 100, "checkpoint_every": 5000},
        },
        ("srgan", "gan"): {
            "model": {"preset": "paper"},
            "data": {"hr_size": 96, "batch": 16, "workers": 4},
            "train": {"steps": 200_000, "lr": 1e-4, "schedule": "multistep", "milestones": [100_000], "gamma": 0.1},
            "loss": {
                "pixel": {"kind": "mse", "weight": 0.0},
                "perceptual": {"layer": "relu5_4", "criterion": "mse", "weight": 0.006},
                "adversarial": {"kind": "ns", "weight": 1e-3, "discriminator": "srgan", "preset": "paper",
                                "lr": 1e-4},
            },
            "eval": {"every": 5000}, "log": {"every": 100, "checkpoint_every": 5000},
        },
        ("esrgan", "psnr"): {
            "model": {"preset": "paper"},
            "data": {"hr_size": 128, "batch": 16, "workers": 4},
            "train": {"steps": 1_000_000, "lr": 2e-4, "schedule": "step", "step_size": 200_000, "gamma": 0.5},
            "loss": {"pixel": {"kind": "l1", "weight": 1.0}},
            "eval": {"every": 5000}, "log": {"every": 100, "checkpoint_every": 5000},
        },
        ("esrgan", "gan"): {
            "model": {"preset": "paper"},
            "data": {"hr_size": 128, "batch": 16, "workers": 4},
            "train": {"steps": 400_000, "lr": 1e-4, "schedule": "multistep",
                      "milestones": [50_000, 100_000, 200_000, 300_000], "gamma": 0.5},
            "loss": {
                "pixel": {"kind": "l1", "weight": 1e-2},
                "perceptual": {"layer": "conv5_4", "criterion": "l1", "weight": 1.0},
                "adversarial": {"kind": "ragan", "weight": 5e-3, "discriminator": "esrgan", "preset": "paper",
                                "lr": 1e-4},
            },
            "eval": {"every": 5000}, "log": {"every": 100, "checkpoint_every": 5000},
        },
    }


def _cpu_recipes() -> dict[tuple[str, str], dict]:
    """Recipes for a 2-core CPU, measured by experiments/sr_recipe_probe.py (results/sr_recipe_probe/).

    PSNR stages: the global bicubic residual (the net starts at the baseline and learns the missing detail;
    without it RRDB spent its first 700 steps below bicubic), Adam with 200 warm-up steps, L1 for RRDB and
    SRResNet (ahead of MSE at equal steps), MSE for the small SRCNN/ESPCN (L1 cost ESPCN 0.3 dB), the rate halved
    after 6 validations without a new best val PSNR and the run stopped after 16 (the curve is flat), so a
    campaign gives each model the hours it needs instead of a fixed step count. channels_last fp32: bf16
    autocast was 3-8x slower on this CPU (no native bf16; results/train_throughput_cpu.md).
    """
    small = {"log": {"every": 20, "checkpoint_every": 500, "samples": 4},
             "precision": {"bf16": False, "channels_last": True}}
    campaign = {"steps": 400_000, "warmup": 200, "schedule": "plateau", "gamma": 0.5, "patience": 6,
                "min_lr": 1e-5, "early_stop": 16}
    residual = {"residual": "bicubic"}
    psnr = {  # RRDB / SRResNet: ~0.3 s a step at one thread, a checkpoint every ~3 minutes
        "model": {"preset": "cpu", "overrides": dict(residual)}, "data": {"hr_size": 64, "batch": 16},
        "train": {**campaign, "lr": 1e-3}, "loss": {"pixel": {"kind": "l1", "weight": 1.0}},
        "eval": {"every": 500, "max_images": 96}, **small,
    }
    gan_model = {"preset": "cpu", "overrides": dict(residual)}  # starts from a PSNR stage of the same net
    return {
        ("srcnn", "mse"): {  # He init, one lr: the paper's init needs ~1e8 backprops (photo_repro/results.md)
            "model": {"preset": "cpu", "overrides": {"init": "he", **residual}}, "data": {"hr_size": 48, "batch": 16},
            "train": {**campaign, "lr": 1e-3, "lr_mult": {}}, "loss": {"pixel": {"kind": "mse", "weight": 1.0}},
            "eval": {"every": 1000, "max_images": 0}, **merge(small, {"log": {"checkpoint_every": 2000}}),
        },
        ("espcn", "mse"): {  # ~10 ms a step: validate on every val patch, every 1000 steps
            "model": {"preset": "cpu", "overrides": dict(residual)}, "data": {"hr_size": 64, "batch": 16},
            "train": {**campaign, "lr": 1e-3}, "loss": {"pixel": {"kind": "mse", "weight": 1.0}},
            "eval": {"every": 1000, "max_images": 0}, **merge(small, {"log": {"checkpoint_every": 2000}}),
        },
        ("srgan", "mse"): copy.deepcopy(psnr),
        ("srgan", "gan"): {
            "model": gan_model, "data": {"hr_size": 64, "batch": 16},
            "train": {"steps": 1000, "lr": 1e-4, "schedule": "multistep", "milestones": [500], "gamma": 0.1},
            "loss": {
                "pixel": {"kind": "mse", "weight": 0.0},
                "perceptual": {"layer": "relu5_4", "criterion": "mse", "weight": 0.006},
                "adversarial": {"kind": "ns", "weight": 1e-3, "discriminator": "srgan", "preset": "cpu", "lr": 1e-4},
            },
            "eval": {"every": 250, "max_images": 96}, **small,
        },
        ("esrgan", "psnr"): copy.deepcopy(psnr),
        ("esrgan", "gan"): {
            "model": gan_model, "data": {"hr_size": 64, "batch": 16},
            "train": {"steps": 1000, "lr": 1e-4, "schedule": "multistep", "milestones": [250, 500, 750], "gamma": 0.5},
            "loss": {
                "pixel": {"kind": "l1", "weight": 1e-2},
                "perceptual": {"layer": "conv5_4", "criterion": "l1", "weight": 1.0},
                "adversarial": {"kind": "ragan", "weight": 5e-3, "discriminator": "esrgan", "preset": "cpu", "lr": 1e-4},
            },
            "eval": {"every": 250, "max_images": 96}, **small,
        },
    }


def _alias_recipes(table: dict) -> dict:
    """srresnet and rrdb are the PSNR stages of srgan and esrgan under their own names."""
    table[("srresnet", "mse")] = copy.deepcopy(table[("srgan", "mse")])
    table[("rrdb", "psnr")] = copy.deepcopy(table[("esrgan", "psnr")])
    return table


def recipe(model: str, stage: str | None = None, preset: str = "cpu") -> dict:
    """The full config for `model`'s `stage` (default: its first) with the `paper` or `cpu` recipe."""
    if model not in training_stages():
        raise ConfigError(f"--model {model}: no training recipe; trainable models are {', '.join(training_stages())}")
    stage = stage or training_stages()[model][0]
    if stage not in training_stages()[model]:
        raise ConfigError(f"--stage {stage}: {model} has stages {', '.join(training_stages()[model])}")
    if preset not in ("paper", "cpu"):
        raise ConfigError(f"--preset {preset}: use paper or cpu")
    table = _alias_recipes(_paper_recipes() if preset == "paper" else _cpu_recipes())
    if (model, stage) not in table and stage == "gan":
        raise ConfigError(f"{model} has no built-in {preset} recipe for its gan stage; give one with --config")
    cfg = merge(DEFAULTS, table.get((model, stage), {}))  # a newly registered model starts from DEFAULTS
    cfg["model"].update(name=model, stage=stage, preset=preset)
    return validate(cfg)


def validate(cfg: dict) -> dict:
    """Check names, kinds and ranges; ConfigError naming the key. Returns cfg."""
    check_keys(cfg, DEFAULTS)
    m, d, t, loss = cfg["model"], cfg["data"], cfg["train"], cfg["loss"]
    if m["name"] not in training_stages():
        raise ConfigError(f"model.name = {m['name']!r}: trainable models are {', '.join(training_stages())}")
    if m["stage"] not in training_stages()[m["name"]]:
        raise ConfigError(f"model.stage = {m['stage']!r}: {m['name']} has stages {', '.join(training_stages()[m['name']])}")
    scales = get_spec(m["name"]).scales
    if int(m["scale"]) not in scales:
        raise ConfigError(f"--scale {m['scale']} is not available for {m['name']}; scales: "
                          f"{', '.join(map(str, scales))}")
    for key, lo in (("batch", 1), ("workers", 0)):
        if int(d[key]) < lo:
            raise ConfigError(f"data.{key} must be >= {lo}, got {d[key]}")
    from gan_sr.data.datasets import DEGRADATIONS

    if d["degradation"] not in DEGRADATIONS:
        raise ConfigError(f"data.degradation = {d['degradation']!r} (--degradation): choose {', '.join(DEGRADATIONS)}")
    if hr_size(cfg) < int(m["scale"]) or hr_size(cfg) % int(m["scale"]):
        raise ConfigError(f"data.hr_size = {hr_size(cfg)} must be a positive multiple of the scale {m['scale']}")
    if int(t["steps"]) < 1:
        raise ConfigError(f"train.steps must be >= 1, got {t['steps']}")
    for key in ("warmup", "early_stop"):
        if int(t[key]) < 0:
            raise ConfigError(f"train.{key} must be >= 0, got {t[key]}")
    if not float(t["lr"]) > 0:
        raise ConfigError(f"train.lr must be > 0, got {t['lr']}")
    if t["optimizer"] not in ("adam", "sgd"):
        raise ConfigError(f"train.optimizer = {t['optimizer']!r}: use adam or sgd")
    if t["schedule"] not in LRSchedule.KINDS:
        raise ConfigError(f"train.schedule = {t['schedule']!r}: use one of {', '.join(LRSchedule.KINDS)}")
    if loss["pixel"]["kind"] not in ("l1", "mse"):
        raise ConfigError(f"loss.pixel.kind = {loss['pixel']['kind']!r}: use l1 or mse")
    if loss["perceptual"]["criterion"] not in ("l1", "mse"):
        raise ConfigError(f"loss.perceptual.criterion = {loss['perceptual']['criterion']!r}: use l1 or mse")
    if float(loss["perceptual"]["weight"]) > 0:
        from gan_sr.losses.perceptual import LAYER_NAMES

        if loss["perceptual"]["layer"] not in LAYER_NAMES:
            raise ConfigError(f"loss.perceptual.layer = {loss['perceptual']['layer']!r} (--perceptual) is not a VGG19 "
                              "layer; use e.g. conv5_4 (before ReLU, ESRGAN) or relu5_4 (after, SRGAN), or none")
    weights = [float(loss[k]["weight"]) for k in ("pixel", "perceptual", "adversarial")]
    if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ConfigError("loss weights must be >= 0 and at least one of loss.pixel/perceptual/adversarial > 0")
    if float(loss["adversarial"]["weight"]) > 0:
        from gan_sr.losses.adversarial import canonical_kind

        canonical_kind(loss["adversarial"]["kind"])
    if int(cfg["eval"]["every"]) < 1 or int(cfg["log"]["checkpoint_every"]) < 1 or int(cfg["log"]["every"]) < 1:
        raise ConfigError("eval.every, log.every and log.checkpoint_every must be >= 1")
    return cfg


def hr_size(cfg: dict) -> int:
    """HR crop side: data.lr_size * scale when lr_size is set, else data.hr_size."""
    lr = int(cfg["data"].get("lr_size") or 0)
    return lr * int(cfg["model"]["scale"]) if lr else int(cfg["data"]["hr_size"])


def build_config(
    model: str,
    *,
    scale: int = 4,
    preset: str | None = None,
    stage: str | None = None,
    config_file: str | Path | None = None,
    overrides: dict | None = None,
) -> dict:
    """recipe(model, stage, preset), then the TOML file, then `overrides` (CLI options), validated."""
    file_cfg = load_config(config_file) if config_file else {}
    fm = file_cfg.get("model", {})
    model = model or fm.get("name", "")
    if not model:
        raise ConfigError("--model is required (or model.name in --config)")
    stage = stage or fm.get("stage") or None
    preset = preset or fm.get("preset") or "cpu"
    cfg = recipe(model, stage, preset)
    cfg = merge(cfg, file_cfg)
    cfg["model"].update(name=model, preset=preset, stage=cfg["model"]["stage"] if not stage else stage)
    cfg["model"]["scale"] = int(scale)
    cfg = merge(cfg, overrides or {})
    return validate(cfg)


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

    def __init__(
        self,
        config: dict | None,
        *,
        data: str | Path | None,
        run_dir: str | Path | None = None,
        resume: str | Path | None = None,
        init: str | Path | None = None,
        vgg_weights: str | Path | None = None,
        device: str = "cpu",
        quiet: bool = False,
        command: str = "",
        steps: int | None = None,
        for_minutes: float | None = None,
    ) -> None:
        self.dist: DistEnv = init_distributed(device)
        self.for_minutes = for_minutes
        self.quiet, self.command = quiet, command or " ".join(sys.argv)
        if resume is not None:
            self.run = RunDir.open(resume, main=self.dist.is_main)
            saved = self.run.read_config()
            self.cfg = validate(saved["config"])
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
        self.evals_since_best, self.wall_before = 0, 0.0
        if resume is not None:
            self._load_state(self.run.load_last())

    # ----------------------------------------------------------------------------------------- setup

    def _run_record(self) -> dict:
        return {"config": self.cfg, "data": str(self.data), "init": self.init, "vgg_weights": self.vgg_weights,
                "command": self.command}

    def _build(self, from_init: bool = True) -> None:
        from gan_sr.data.datasets import PairedDataset
        from gan_sr.sr.registry import build_model

        cfg, dist = self.cfg, self.dist
        m, t, loss = cfg["model"], cfg["train"], cfg["loss"]
        self.scale = int(m["scale"])
        seed_everything(int(t["seed"]))
        self.prec = Precision(dist.device, bf16=bool(cfg["precision"]["bf16"]),
                              channels_last=bool(cfg["precision"]["channels_last"]))
        g = build_model(m["name"], self.scale, m["preset"], **m["overrides"])
        if self.init and from_init:  # a resumed run takes its weights from last.pt instead
            self._load_init(g, self.init)
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

    def _load_init(self, g: nn.Module, path: str | Path) -> None:
        from gan_sr.io.checkpoints import load_checkpoint

        ck = load_checkpoint(path)
        m = self.cfg["model"]
        spec = ck.get("model") or {}
        same_net = spec.get("name") in training_stages() and get_spec(spec["name"]).builder is get_spec(m["name"]).builder
        if ck.get("kind") != "sr" or not same_net or int(spec.get("scale", -1)) != self.scale:
            raise CheckpointError(
                f"--init {path}: holds {ck.get('kind')} model {spec.get('name')} x{spec.get('scale')}, "
                f"this run trains sr model {m['name']} x{self.scale}"
            )
        try:
            g.load_state_dict(ck.weights())
        except RuntimeError as exc:
            raise CheckpointError(
                f"--init {path}: weights do not fit {m['name']} preset {m['preset']} "
                f"(checkpoint preset {spec.get('preset')}): {str(exc).splitlines()[0]}"
            ) from None

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
        groups: dict[float, list] = {}
        for name, p in net.named_parameters():
            mult = next((float(v) for k, v in lr_mult.items() if name.startswith(k)), 1.0)
            groups.setdefault(mult, []).append(p)
        params = [{"params": ps, "lr": float(lr) * mult} for mult, ps in groups.items()]
        if t["optimizer"] == "sgd":
            return torch.optim.SGD(params, lr=float(lr), momentum=float(t["momentum"]),
                                   weight_decay=float(t["weight_decay"]))
        return torch.optim.Adam(params, lr=float(lr), betas=tuple(float(b) for b in betas),
                                weight_decay=float(t["weight_decay"]))

    def _schedule(self, opt: torch.optim.Optimizer) -> LRSchedule:
        t = self.cfg["train"]
        return LRSchedule(opt, t["schedule"], step_size=int(t["step_size"]), milestones=t["milestones"],
                          gamma=float(t["gamma"]), patience=int(t["patience"]), min_lr=float(t["min_lr"]),
                          warmup=int(t["warmup"]), total=int(t["steps"]))

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
            "kind": "sr",
            "model": self.model_entry(),
            "state_dict": self.g.state_dict(),
            "ema": self.ema.state_dict(),
            "step": self.step,
            "optim": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict() if self.opt_d else None},
            "sched": {"g": self.sched_g.state_dict(), "d": self.sched_d.state_dict() if self.sched_d else None},
            "discriminator": d_state,
            "rng": {**capture_rng(), "data": self.stream.state_dict()},
            "meta": {
                "stage": m["stage"], "data": str(self.data), "command": self.command,
                "wall_s": self.wall_before + (time.time() - self.t0), "val": dict(self.last_val),
                "best_psnr": self.best_psnr, "config": self.cfg, "init": self.init,
                "evals_since_best": self.evals_since_best,
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
            self.last_val = _broadcast_floats(self.last_val, dist)
            self.sched_g.observe(self.last_val["psnr"])
            if self.sched_d is not None:
                self.sched_d.observe(self.last_val["psnr"])
            if self.last_val["psnr"] > self.best_psnr:
                self.best_psnr, is_best, self.evals_since_best = self.last_val["psnr"], True, 0
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
        """True once train.early_stop validations in a row brought no new best PSNR (the curve is flat)."""
        patience = int(self.cfg["train"]["early_stop"])
        return patience > 0 and self.evals_since_best >= patience

    def fit(self) -> TrainResult:
        cfg, dist = self.cfg, self.dist
        total = int(cfg["train"]["steps"])
        self.t0 = time.time()
        self.rollbacks_left = int(cfg["train"]["rollback"])
        writer = open_writer(self.run, enabled=dist.is_main)
        bar = progress(total, initial=self.step, enabled=dist.is_main and not self.quiet)
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
                if self.step < total and self.step % log_every == 0 and _past(deadline, dist):
                    self.run.save(self.payload())  # a campaign slice ends here; the same command continues
                    break
                if self.flattened():
                    self.run.save(self.payload())
                    if dist.is_main and not self.quiet:
                        print(f"Stopped at step {self.step}: no new best val PSNR in {self.evals_since_best} "
                              "validations (train.early_stop).", file=sys.stderr)
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

        m, t = self.cfg["model"], self.cfg["train"]
        loss = self.cfg["loss"]
        parts = [f"{loss['pixel']['kind']} x{loss['pixel']['weight']}" if self.w_pix > 0 else "",
                 f"VGG19 {loss['perceptual']['layer']} x{self.w_per}" if self.w_per > 0 else "",
                 f"{loss['adversarial']['kind']} x{self.w_adv}" if self.w_adv > 0 else ""]
        card = {
            "title": f"{m['name']} x{self.scale} ({m['stage']} stage, preset {m['preset']})",
            "model": m["name"], "scale": self.scale, "preset": m["preset"], "stage": m["stage"],
            "parameters": count_params(self.g), "steps": self.step, "batch": self.cfg["data"]["batch"],
            "hr crop": hr_size(self.cfg), "losses": ", ".join(p for p in parts if p),
            "optimizer": f"{t['optimizer']} lr {t['lr']} ({t['schedule']})", "EMA decay": t["ema_decay"],
            "data": str(self.data), "init": self.init or "none",
            "best val PSNR (Y, crop=scale)": self.best_psnr, "last val": self.last_val,
            "wall time (s)": round(self.wall_before + time.time() - self.t0, 1),
            "notes": f"Trained with: {self.command}\n\nWeights: `ema` (used for validation) and `state_dict`.",
        }
        target = self.run.best if self.run.best.exists() else self.run.last
        write_model_card(target, card)


def _past(deadline: float, dist: DistEnv) -> bool:
    """Rank 0's clock decides, so that every rank stops at the same step."""
    stop = torch.tensor([float(time.time() >= deadline)], dtype=torch.float64, device=dist.device)
    if dist.enabled:
        import torch.distributed as tdist

        tdist.broadcast(stop, src=0)
    return bool(stop.item())


def _broadcast_floats(values: dict[str, float], dist: DistEnv) -> dict[str, float]:
    """Rank 0's validation numbers on every rank (only rank 0 validates)."""
    if not dist.enabled:
        return values
    import torch.distributed as tdist

    keys = ("psnr", "ssim")
    t = torch.tensor([float(values.get(k, 0.0)) for k in keys], dtype=torch.float64, device=dist.device)
    tdist.broadcast(t, src=0)
    return dict(zip(keys, t.tolist()))


def train_sr(config: dict | None, *, data: str | Path | None, **kwargs: Any) -> TrainResult:
    """Build an SRTrainer (see its arguments) and run it to config.train.steps."""
    return SRTrainer(config, data=data, **kwargs).fit()


# ------------------------------------------------------------------------------------- interpolation


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
    save_checkpoint(out, {
        "kind": "sr", "model": dict(mb), "state_dict": theta, "step": 0,
        "meta": {"interpolated": {"a": str(a), "b": str(b), "alpha": alpha}},
    })
    return out
