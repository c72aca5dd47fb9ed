"""A GAN checkpoint put to use: load its generator, sample and interpolate it, score it, export it with a card."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.gan.networks import ARCHS, Generator, build_generator, to_unit


def load_generator(path: str | Path, device: str | torch.device = "cpu", *, ema: bool = True) -> Generator:
    """The generator (EMA weights by default) of a GAN checkpoint, in eval mode."""
    from gan_sr.io.checkpoints import load_checkpoint

    ck = load_checkpoint(path, map_location="cpu")
    if ck.get("kind") != "gan" or ck.get("model", {}).get("name") not in ARCHS:
        raise CheckpointError(f"{path}: a {ck.get('kind')!r} checkpoint of {ck.get('model', {}).get('name')!r}, "
                              f"not a GAN generator ({', '.join(ARCHS)}); pass a `gansr gan train` last.pt")
    cfg = ck["model"]["config"]
    try:
        g = build_generator(cfg)
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: its generator config does not build ({exc})") from None
    try:
        g.load_state_dict(ck.weights(prefer_ema=ema))
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored generator config ({str(exc)[:200]})") from None
    return g.eval().requires_grad_(False).to(device)


@torch.no_grad()
def generate(g: Generator, n: int, *, seed: int = 0, batch: int = 64, truncation: float = 1.0,
             device: str | torch.device = "cpu") -> Tensor:
    """n samples in [0, 1], (n, 3, res, res) on the CPU; latents from a private generator seeded by `seed`."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(int(n), g.z_dim, generator=gen)
    out = [to_unit(g(zb.to(device), truncation).float()).cpu() for zb in z.split(batch)]
    return torch.cat(out) if out else torch.zeros(0, 3, g.res, g.res)


@torch.no_grad()
def interpolation(g: Generator, z_pairs: Tensor, *, steps: int = 8, truncation: float = 1.0) -> Tensor:
    """Rows of `steps` images going linearly in w from z_pairs[i, 0] to z_pairs[i, 1]; (rows*steps, 3, H, W)."""
    rows, dev = z_pairs.shape[0], next(g.parameters()).device
    w = g.mapping_w(z_pairs.reshape(rows * 2, -1).to(dev), truncation).reshape(rows, 2, -1)
    t = torch.linspace(0, 1, steps, device=dev)[None, :, None]
    ws = w[:, :1].lerp(w[:, 1:], t).reshape(rows * steps, -1)
    return to_unit(g.synthesis(ws).float())



def load_reference(ref: str | Path, res: int, *, split: str = "test", limit: int | None = None) -> Tensor:
    """Real images for evaluation at the generator's resolution: a folder of images or a built dataset's split."""
    from gan_sr.data.datasets import ImageDataset

    ds = ImageDataset(ref, res, split=split, augment=False)
    n = len(ds) if limit is None else min(len(ds), int(limit))
    return torch.stack([ds[i] for i in range(n)])


def evaluate_generator(ckpt: str | Path, ref: str | Path, *, split: str = "test", n: int | None = None,
                       seed: int = 0, inception: str | Path | None = None, device: str = "cpu",
                       truncation: float = 1.0, pairs: int = 1000) -> dict:
    """SWD (per level and mean, x1e3), MS-SSIM diversity of fakes and reals; FID/KID with an Inception file.

    As many fakes as real images are drawn (SWD compares equal-sized sets); scored by
    `gan_sr.metrics.sample_quality.score_samples`, the scorer that posthoc and compare share.
    """
    from gan_sr.metrics.sample_quality import score_samples

    if n is not None and n < 2:
        raise ConfigError(f"--n {n}: SWD and MS-SSIM need at least 2 images")
    g = load_generator(ckpt, device)
    real = load_reference(ref, g.res, split=split, limit=n)
    if real.shape[0] < 2:
        raise ConfigError(f"--ref {ref}: needs at least 2 images, found {real.shape[0]}")
    fake = generate(g, real.shape[0], seed=seed, truncation=truncation, device=device)
    return score_samples(real, fake, seed=seed, pairs=pairs, inception=inception, device=device)


def export_generator(ckpt: str | Path, out: str | Path, *, ref: str | Path | None = None, split: str = "test",
                     command: str = "") -> dict:
    """Write a slim sampling checkpoint (EMA generator only) of a run's last.pt and its card (`out` with .md)."""
    from gan_sr.io.checkpoints import git_commit, load_checkpoint, save_checkpoint, write_model_card
    from gan_sr.train.gan import r1_gamma  # gan.py imports this module

    ck = load_checkpoint(ckpt)
    g = load_generator(ckpt)  # validates kind and weights
    out = Path(out)
    if out.resolve() == Path(ckpt).resolve():
        raise ConfigError(f"--out {out}: would overwrite the run checkpoint it is exported from")
    m = ck["meta"]
    slim = {"kind": "gan", "model": ck["model"], "state_dict": g.state_dict(), "ema": g.state_dict(),
            "step": ck["step"], "meta": {k: v for k, v in m.items() if k != "config"} | {"source": str(ckpt)}}
    save_checkpoint(out, slim)
    cfg = m.get("config", {})
    card = {
        "title": f"GAN generator: {out.stem}",
        "model": f"{ck['model']['name']} ({g.res} px, preset {ck['model']['preset']})",
        "parameters (G)": sum(p.numel() for p in g.parameters()),
        "training data": f"{cfg.get('data', {}).get('path', '?')} ({m.get('train_images', '?')} images)",
        "loss": m.get("loss"),
        "augmentation": f"{m.get('aug')} (final p {m.get('p', float('nan')):.3f}, "
                        f"r_t {m.get('r_t', float('nan')):.2f})",
        "trained": f"{m.get('kimg', 0):.1f} kimg in {m.get('wall_s', 0) / 3600:.2f} h",
    }
    if cfg:
        t, a = cfg["train"], cfg["aug"]
        card["settings"] = (f"batch {cfg['data']['batch']}, lr G/D {t['lr_g']}/{t['lr_d']}, betas {t['betas']}, "
                            f"R1 gamma {r1_gamma(cfg):.4g}, EMA half-life {t['ema_kimg']} kimg, seed {t['seed']}, "
                            f"ADA target {a['target']} ramp {a['ramp_kimg']} kimg")
    if ref is not None:
        ev = evaluate_generator(out, ref, split=split, pairs=500)
        card["SWD x1e3 (mean over levels)"] = f"{ev['swd_mean']:.2f} vs {ev['images']} images of {ref} ({split})"
        if "msssim_fake" in ev:
            card["MS-SSIM diversity (fakes / reals)"] = f"{ev['msssim_fake']:.3f} / {ev['msssim_real']:.3f}"
    if command:
        card["exported with"] = command
    family = {
        "dcgan": "DCGAN-class generator (gan_sr/gan/dcgan.py: linear to 4x4, nearest x2 + two 3x3 convs per\n"
                 "resolution, pixel norm, equalised lr)",
        "stylegan2-lite": "StyleGAN2-lite: equalised learning rate, modulated/demodulated convs, skip toRGB, no\n"
                          "noise inputs or style mixing",
    }[ck["model"]["name"]]
    card["commit"] = git_commit(dirty=True)
    card["notes"] = (
        "Weights are the EMA generator. Sample with `gansr gan sample --ckpt " + str(out) + " --n 64 --out DIR`.\n"
        f"{family}; residual D with minibatch stddev; ADA 'bgc' augmentation (gan_sr/gan/). Samples are\n"
        f"{g.res} px; upscale them with `gansr posthoc`. Limitations: trained on a small set, so it reproduces\n"
        "that set's styles and can memorise (check the nearest training images); SWD is measured without\n"
        "pretrained weights and is not comparable with published FIDs."
    )
    card_path = write_model_card(out, card)
    return {"checkpoint": str(out), "card": str(card_path), **{k: v for k, v in card.items() if k != "notes"}}
