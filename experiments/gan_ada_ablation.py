"""ADA ablation: adaptive p vs no augmentation vs fixed p, same data, budget and seed.

For each mode it trains the 64 px GAN (resuming a run folder that already exists, so a budget can be
extended), logs SWD against training images at every snapshot, and the ADA curves (r_t, p) at every tick.
Then it writes, under --out: curves.png (SWD, r_t and p over kimg), samples_<mode>.png (EMA samples of fixed
latents), results.json (curves and final numbers) and results.md (kimg, wall time, SWD on the held-out split,
MS-SSIM diversity, final p and r_t).

    python experiments/gan_ada_ablation.py --data data/anime --kimg 200
    python experiments/gan_ada_ablation.py --data /tmp/tiny --kimg 0.2 --res 16 --tiny   # plumbing check
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from gan_sr.errors import ConfigError, GansrError
from gan_sr.io.images import write_image
from gan_sr.io.grids import make_grid
from gan_sr.train.gan import build_config, evaluate_generator, generate, load_generator, train_gan

TINY_NET = {"channel_base": 64, "channel_max": 32, "z_dim": 16, "w_dim": 16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="built dataset (train/, and val/ or test/ for the final SWD)")
    ap.add_argument("--kimg", type=float, required=True, help="budget per mode, thousands of real images")
    ap.add_argument("--out", default="experiments/results/gan_ada_ablation")
    ap.add_argument("--run-root", default="runs/gan_ada_ablation", help="where the per-mode run folders live")
    ap.add_argument("--modes", default="ada,none,fixed:0.2", help="comma-separated --aug values")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--preset", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--config", help="TOML config shared by all modes (default: the preset's)")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--ramp-kimg", type=float, default=100.0, help="ADA ramp (the paper's 500 suits long GPU runs)")
    ap.add_argument("--snapshot-kimg", type=float, help="SWD/checkpoint period (default kimg/10)")
    ap.add_argument("--tick-kimg", type=float, help="r_t/p logging period (default snapshot/4)")
    ap.add_argument("--swd-images", type=int, default=512, help="training images SWD is measured against")
    ap.add_argument("--eval-split", default="test", choices=["val", "test"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="tiny networks (plumbing checks only)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--plot-only", action="store_true", help="redraw curves.png from --out's results.json")
    return ap.parse_args(argv)


def mode_tag(spec: str) -> str:
    return spec.replace(":", "").replace(".", "p")


def run_mode(args: argparse.Namespace, spec: str, out: Path) -> dict:
    """Train (or extend) one mode; returns its curves and summary."""
    run = Path(args.run_root) / f"run_{mode_tag(spec)}"
    curve_file = out / f"curves_{mode_tag(spec)}.jsonl"
    snap = args.snapshot_kimg or max(args.kimg / 10, 0.001)
    tick = args.tick_kimg or snap / 4

    def record(row: dict) -> None:
        row = {k: v for k, v in row.items() if k != "trainer" and isinstance(v, (int, float))}
        with curve_file.open("a") as f:
            f.write(json.dumps(row) + "\n")

    start = time.perf_counter()
    if (run / "last.pt").is_file():
        summary = train_gan(resume=run, kimg=args.kimg, quiet=args.quiet, callback=record)
    else:
        if curve_file.exists():
            curve_file.unlink()
        over = {"aug": {"ramp_kimg": args.ramp_kimg},
                "log": {"tick_kimg": tick, "snapshot_kimg": snap, "swd_images": args.swd_images}}
        if args.tiny:  # a whole overrides table: it replaces the config file's, as every config layer does
            over["model"] = {"overrides": TINY_NET}
        if args.config:
            from gan_sr.config import load_config, merge

            over = merge(load_config(args.config), over)
        cfg = build_config(over, data=args.data, res=args.res, preset=args.preset, aug=spec, kimg=args.kimg,
                           batch=args.batch, device=args.device, seed=args.seed)
        summary = train_gan(cfg, run_dir=run, quiet=args.quiet, callback=record)
    elapsed = time.perf_counter() - start
    curves = [json.loads(line) for line in curve_file.read_text().splitlines()] if curve_file.exists() else []
    g = load_generator(run / "last.pt", args.device)
    grid = generate(g, 32, seed=1234, device=args.device)
    write_image(out / f"samples_{mode_tag(spec)}.png", make_grid(grid, 8))
    result = {"mode": spec, "kimg": summary["kimg"], "wall_s": summary["wall_s"], "this_call_s": elapsed,
              "p": summary["p"], "r_t": summary["r_t"], "train_images": summary["train_images"],
              "swd_train": next((c["swd"] for c in reversed(curves) if "swd" in c), None), "curves": curves}
    try:
        ev = evaluate_generator(run / "last.pt", args.data, split=args.eval_split, seed=args.seed,
                                device=args.device, pairs=500)
        result.update(swd_heldout=ev["swd_mean"], heldout_images=ev["images"], msssim_fake=ev.get("msssim_fake"),
                      msssim_real=ev.get("msssim_real"))
    except ConfigError as exc:
        print(f"[{spec}] no held-out evaluation: {exc}", file=sys.stderr)
    return result


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for r in results:
        c = r["curves"]
        swd = [(x["kimg"], x["swd"]) for x in c if "swd" in x]
        if swd:
            axes[0].plot(*zip(*swd), marker="o", label=r["mode"])
        rt = [(x["kimg"], x["r_t"]) for x in c if "r_t" in x and math.isfinite(x["r_t"])]
        if rt:
            k = 5  # each logged r_t is one ADA update (4 minibatches); a moving average shows the trend
            smooth = [sum(v for _, v in rt[max(0, i - k + 1): i + 1]) / len(rt[max(0, i - k + 1): i + 1]) for i in range(len(rt))]
            line, = axes[1].plot([x for x, _ in rt], smooth, label=r["mode"])
            axes[1].plot(*zip(*rt), color=line.get_color(), alpha=0.25, lw=0.8)
        axes[2].plot([x["kimg"] for x in c], [x["p"] for x in c], label=r["mode"])
    axes[1].axhline(0.6, color="gray", ls="--", lw=0.8)
    for ax, title in zip(axes, ("SWD x1e3 vs training images (lower is better)", "r_t = E[sign(D(real_aug))] (5-tick moving average)",
                                "augmentation probability p")):
        ax.set_title(title)
        ax.set_xlabel("kimg")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(results: list[dict], args: argparse.Namespace, path: Path) -> None:
    fmt = lambda v, d=2: "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{d}f}"  # noqa: E731
    lines = [
        "# ADA ablation",
        "",
        f"Data: `{args.data}` ({results[0]['train_images']} training images), {args.res} px, preset {args.preset}"
        f"{' (tiny nets)' if args.tiny else ''}, budget {args.kimg:g} kimg per mode, seed {args.seed}, device {args.device}.",
        f"Command: `python experiments/gan_ada_ablation.py {' '.join(sys.argv[1:])}`",
        "",
        "| mode | kimg | wall s | s/kimg | final p | final r_t | SWD train | SWD held-out | MS-SSIM fakes | MS-SSIM reals |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['mode']} | {r['kimg']:.3f} | {r['wall_s']:.0f} | {r['wall_s'] / max(r['kimg'], 1e-9):.1f} | "
                     f"{fmt(r['p'], 3)} | {fmt(r['r_t'])} | {fmt(r['swd_train'])} | {fmt(r.get('swd_heldout'))} | "
                     f"{fmt(r.get('msssim_fake'), 3)} | {fmt(r.get('msssim_real'), 3)} |")
    lines += ["", "SWD: ProGAN's multi-scale sliced Wasserstein distance x1e3, mean over pyramid levels, EMA generator,"
              " as many fakes as reference images. Curves: curves.png; samples: samples_<mode>.png.", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.plot_only:
        plot(json.loads((out / "results.json").read_text()), out / "curves.png")
        return 0
    torch.manual_seed(args.seed)
    try:
        results = [run_mode(args, spec.strip(), out) for spec in args.modes.split(",") if spec.strip()]
    except GansrError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "curves.png")
    write_markdown(results, args, out / "results.md")
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
