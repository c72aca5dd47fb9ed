"""`gansr sr bench`: the comparison of SR methods."""

from __future__ import annotations

import sys

import click

from gan_sr.cli.common import ModelsHelp, echo_table, examples


@click.command(epilog=examples("gansr sr bench --models all --data Set5,Set14 --scale 4",
                               "gansr sr bench --models bicubic,anime4k,espcn --data data/anime --ckpt espcn=runs/espcn/best.pt",
                               "gansr sr bench --models rrdb,~/models/RealESRGAN_x4plus_anime_6B.pth --data Set5 --scale 4"))
@click.option("--models", default="all", show_default=True, cls=ModelsHelp,
              help="'all' or comma-separated names ({models}) or weights "
                   "files (gansr checkpoints, community .pth/.safetensors; shown by file name). Learned models "
                   "without a checkpoint are listed as skipped.")
@click.option("--data", "data", multiple=True, default=("Set5",), show_default=True,
              help="Comma-separated Set5, Set14, BSD100, T91 (from $GANSR_SHARED/datasets or ../shared/datasets) "
                   "or folders of HR images (a built dataset folder is scored on its test/ split).")
@click.option("--scale", type=int, default=4, show_default=True, help="Upscaling factor.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--out", type=click.Path(file_okay=False), default="out/bench", show_default=True,
              help="Folder for results.md/.csv/.json, plots, grid.png and index.html.")
@click.option("--runs", type=int, default=5, show_default=True, help="Timed runs per method (median reported).")
@click.option("--warmup", type=int, default=1, show_default=True, help="Untimed warm-up runs per method.")
@click.option("--no-timing", is_flag=True, help="Skip the speed measurement (quality, params, MACs, memory only).")
@click.option("--bf16/--no-bf16", default=None,
              help="Also time bf16 autocast. Default: on for CUDA devices with fast bf16, off on CPU "
                   "(emulated there, several times slower).")
@click.option("--timing-size", type=int, default=128, show_default=True, help="Side of the square LR timing input.")
@click.option("--peak-size", type=int, default=None,
              help="Side of the square torch.mm that measures this machine's matmul peak in the same run "
                   "(default 2048 on CPU, 8192 on CUDA); each model's GFLOP/s is reported against it.")
@click.option("--ckpt", "ckpts", multiple=True, metavar="NAME=PATH",
              help="Checkpoint for a learned model (NAME a registry name), or an extra entry under a new NAME. Repeatable.")
@click.option("--grid-image", default=None, help="Image (file stem) of the first dataset for the visual grid; "
                                                 "default: the largest.")
@click.option("--quiet", is_flag=True, help="No progress bar; print only the output folder.")
def bench(models, data, scale, device, out, runs, warmup, no_timing, bf16, timing_size, peak_size, ckpts, grid_image,
          quiet):
    """Compare SR methods: PSNR/SSIM (Y and RGB), params, MACs, speed, memory, pictures."""
    from gan_sr.pipelines.bench import run_bench, summary_rows

    command = " ".join(["gansr", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("gansr") else None
    results = run_bench(models, list(data), scale, out, device=device, runs=runs, warmup=warmup,
                        timing=not no_timing, ckpts=list(ckpts), bf16=bf16, timing_size=timing_size,
                        grid_image=grid_image, progress=not quiet, command=command, peak_size=peak_size)
    if not quiet:
        keys = ("method", "dataset", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "params", "ms_fp32", "gflops_fp32",
                "peak_pct_fp32")
        echo_table([{k: "" if r.get(k) is None else r.get(k) for k in keys if "fp32" not in k or not no_timing}
                    for r in summary_rows(results)], "md")
        for key, peak in results["meta"]["matmul_peak"].items():
            click.echo(f"matmul peak ({key}): {peak['gflops']:.1f} GFLOP/s (torch.mm {peak['size']}x{peak['size']}, "
                       f"{peak['threads']} thread(s))")
        for m in results["methods"]:
            if m["status"] != "ok":
                click.echo(f"{m['name']}: {m['reason']}")
    click.echo(f"Wrote {out}/results.md, results.csv, results.json, plots, grid.png and index.html")
