"""Turn a finished training run into a shipped checkpoint: checkpoints/{name}_x{scale}.pt + model card.

Keeps the EMA generator weights (what validation used) and the run's metadata; drops optimiser,
scheduler, discriminator and RNG state, which only resuming needs. The card ends with a "Bench" section:
the shipped file's Y PSNR/SSIM on the test split of --bench-data beside bicubic's at the same scale,
scored by gan_sr.pipelines.bench (never typed by hand); the numbers also go into the checkpoint's meta.
Given a shipped checkpoint instead of a run folder, it rewrites only the card (and meta["bench"]).
    python experiments/ship_checkpoint.py runs/anime/espcn_x4_mse
    python experiments/ship_checkpoint.py runs/anime/srgan_x4_gan --which last.pt --note "GAN stage: ..."
    python experiments/ship_checkpoint.py checkpoints/espcn_x4.pt     # card only, from the file's own meta
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gan_sr.errors import ConfigError, GansrError
from gan_sr.io.atomic import atomic_write
from gan_sr.io.checkpoints import checkpoint_size_mb, git_commit, load_checkpoint, save_checkpoint, write_model_card
from gan_sr.pipelines.bench import load_samples, resolve_dataset, score_samples
from gan_sr.sr.registry import checkpoints_dir, load_model

KEEP = ("kind", "model", "step", "meta")
DEFAULT_BENCH_DATA = "data/anime"
TRAINED_BY = ("Trained on one core of a shared 2-core CPU by experiments/campaign.sh: time slices in round robin, the "
              "same command continuing the run across sessions until its val curve was flat (train.early_stop) or "
              "the campaign was stopped (steps and wall time above).")


def bench_checkpoint(path: str | Path, data: str | Path = DEFAULT_BENCH_DATA) -> dict[str, Any]:
    """Mean Y PSNR/SSIM of the checkpoint at `path` and of bicubic on `data` (a built dataset: its test split)."""
    check_bench_data(data)
    model = load_model(Path(path))
    scale = int(model.scale)
    label, folder = resolve_dataset(str(data))
    samples = load_samples(folder, scale)
    rows = {}
    for name, net in (("model", model), ("bicubic", load_model("bicubic", scale))):
        mean = score_samples(net, samples, scale, label=name)["mean"]
        rows[name] = {"psnr_y": round(mean["psnr_y"], 4), "ssim_y": round(mean["ssim_y"], 5)}
    return {"data": str(folder), "label": label, "images": len(samples), "scale": scale, "commit": git_commit(dirty=True), **rows}


def check_bench_data(data: str | Path | None) -> None:
    """ConfigError unless `data` is None (no bench) or a folder."""
    if data is not None and not Path(data).is_dir():
        raise ConfigError(f"--bench-data {data}: no such folder; build it with `gansr data build ... --out {data}`, "
                          "point --bench-data at a folder of HR images, or pass --no-bench")


def bench_section(name: str, bench: dict[str, Any]) -> str:
    """The card's markdown "Bench" section for bench_checkpoint()'s result."""
    m, b = bench["model"], bench["bicubic"]
    return "\n".join([
        "## Bench", "",
        f"Y PSNR / SSIM on `{bench['data']}` ({bench['images']} images) at x{bench['scale']}, computed by "
        f"`gan_sr.pipelines.bench` (code at commit {bench.get('commit') or 'unknown'}) when this card was written "
        "(LR = MATLAB bicubic of the modcropped HR, SR clamped and rounded to 8 bit, crop = scale).", "",
        "| method | PSNR Y | SSIM Y |", "|---|---|---|",
        f"| {name} | {m['psnr_y']:.2f} | {m['ssim_y']:.4f} |",
        f"| bicubic | {b['psnr_y']:.2f} | {b['ssim_y']:.4f} |", "",
    ])


def write_card(out: Path, ck: dict, note: str, bench: dict | None) -> Path:
    """The model card of the shipped checkpoint `out` (payload `ck`), with the bench section when given."""
    meta = ck.get("meta", {})
    val = meta.get("val", {})
    card = {
        "model": ck["model"]["name"], "scale": ck["model"]["scale"], "preset": ck["model"].get("preset"),
        "stage": meta.get("stage"),
        "global residual": {"bicubic": "on: output = network + bicubic upsample of the input (not in the paper)"}.get(
            (ck["model"].get("config") or {}).get("residual", "none"), "off (as the paper)"),
        "data": meta.get("data"), "command": meta.get("command"), "steps": ck.get("step"),
        "wall time (s)": round(float(meta.get("wall_s", 0.0)), 1),
        "val PSNR / SSIM (Y, crop=scale)": f"{val.get('psnr', float('nan')):.2f} / {val.get('ssim', float('nan')):.4f}",
        "weights": "EMA generator", "size (MB)": round(checkpoint_size_mb(out), 2), "commit": meta.get("commit", ""),
        "notes": (note + " " if note else "") + meta.get("trained_by", TRAINED_BY),
    }
    card_path = write_model_card(out, card)
    if bench is not None:
        text = card_path.read_text().rstrip("\n") + "\n\n" + bench_section(out.name, bench)
        atomic_write(card_path, lambda f: f.write(text), text=True)
    return card_path


def _same_architecture(a: dict, b: dict) -> bool:
    """Whether the two model entries build networks with identical parameter names and shapes."""
    from gan_sr.sr.registry import build_model

    def shapes(m: dict) -> dict | None:
        try:
            net = build_model(m["name"], int(m["scale"]), m.get("preset", "cpu"), **(m.get("config") or {}))
        except ConfigError:
            return None
        return {k: tuple(v.shape) for k, v in net.state_dict().items()}

    sa = shapes(a)
    return sa is not None and sa == shapes(b)


def ship_run(run_dir: str | Path, which: str = "best.pt", note: str = "",
             bench_data: str | Path | None = DEFAULT_BENCH_DATA, as_name: str | None = None) -> Path:
    """Ship `run_dir/which` as checkpoints/{name}_x{scale}.pt with its card; returns the checkpoint path.
    as_name: ship it under another registered model whose network is the same (a PSNR stage as its GAN
    family's checkpoint at a scale without a GAN stage, e.g. rrdb as esrgan)."""
    check_bench_data(bench_data)
    src = Path(run_dir) / which
    ck = load_checkpoint(src)
    shipped = {k: ck[k] for k in KEEP if k in ck}
    shipped["state_dict"] = ck["ema"] if ck.get("ema") is not None else ck["state_dict"]
    shipped["ema"] = None
    if as_name is not None:
        renamed = {**shipped["model"], "name": as_name}
        if not _same_architecture(shipped["model"], renamed):
            raise ConfigError(f"--as {as_name}: its network differs from {shipped['model']['name']}'s")
        shipped["model"] = renamed
    shipped["meta"] = {**ck.get("meta", {}), "shipped_from": str(src), "commit": git_commit(dirty=True), "ship_note": note}
    out = checkpoints_dir() / f"{shipped['model']['name']}_x{shipped['model']['scale']}.pt"
    save_checkpoint(out, shipped)
    return _bench_and_card(out, shipped, note, bench_data)


def recard(ckpt: str | Path, note: str | None = None, bench_data: str | Path | None = DEFAULT_BENCH_DATA) -> Path:
    """Rewrite the card of a shipped checkpoint from its own meta (weights untouched); returns its path."""
    check_bench_data(bench_data)
    out = Path(ckpt)
    ck = load_checkpoint(out)
    if not isinstance(ck.get("model"), dict):
        raise ConfigError(f"{out}: not a shipped SR checkpoint (no model entry)")
    note = ck.get("meta", {}).get("ship_note", "") if note is None else note
    ck["meta"] = {**ck.get("meta", {}), "ship_note": note}
    return _bench_and_card(out, ck, note, bench_data)


def _bench_and_card(out: Path, ck: dict, note: str, bench_data: str | Path | None) -> Path:
    bench = bench_checkpoint(out, bench_data) if bench_data is not None else None
    ck["meta"] = {**ck.get("meta", {}), "bench": bench}
    save_checkpoint(out, ck)
    write_card(out, ck, note, bench)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="a run folder, or a shipped checkpoint (.pt) to re-card")
    ap.add_argument("--which", default="best.pt", help="best.pt (by val PSNR) or last.pt (GAN stages)")
    ap.add_argument("--note", default=None, help="extra text for the model card (re-card: default the stored one)")
    ap.add_argument("--bench-data", default=DEFAULT_BENCH_DATA,
                    help="built dataset (its test split) or folder of HR images for the card's bench section")
    ap.add_argument("--no-bench", action="store_true", help="write the card without the bench section")
    ap.add_argument("--as", dest="as_name", default=None,
                    help="ship under another model name with the same network (rrdb as esrgan, srresnet as srgan)")
    args = ap.parse_args(argv)
    data = None if args.no_bench else args.bench_data
    try:
        if args.source.suffix == ".pt":
            out = recard(args.source, args.note, data)
        else:
            out = ship_run(args.source, args.which, args.note or "", data, args.as_name)
    except GansrError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    bench = load_checkpoint(out)["meta"].get("bench")
    score = (f"; Y PSNR/SSIM {bench['model']['psnr_y']:.2f}/{bench['model']['ssim_y']:.4f}, bicubic "
             f"{bench['bicubic']['psnr_y']:.2f}/{bench['bicubic']['ssim_y']:.4f}") if bench else ""
    print(f"shipped {out} ({checkpoint_size_mb(out):.2f} MB){score}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
