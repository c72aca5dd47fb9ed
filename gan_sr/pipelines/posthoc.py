"""`gansr posthoc`: sample the GAN once, upscale the same samples with each SR method, picture and score them.

Output folder: gan_{res}px/ (the GAN's samples), {method}/ (each method's upscaled samples), grid.png (a row per
sample: the GAN sample enlarged nearest-neighbour, then each method), report.md / report.json / index.html.
With --ref (real images at the output resolution) every method is scored by `sample_quality`; a "real" row
scores the reference split against a disjoint split of the same data (the noise floor of the metric).
References are never upsampled: images smaller than the output are refused.

The --sr methods (`Method`, `parse_methods`, `load_methods`, `upscale_batch`) live in `sr_methods`; their names
are importable from here.
"""

from __future__ import annotations

import html
import math
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.io.grids import labelled_grid
from gan_sr.pipelines import report
from gan_sr.pipelines.sr_methods import Method, load_methods, parse_methods, upscale_batch
from gan_sr.progress import progress_bar

__all__ = [
    "DEFAULT_GAN", "default_gan_path", "resolve_gan", "Method", "parse_methods", "load_methods", "upscale_batch",
    "load_real", "score_fields", "real_row", "write_samples", "table_columns",
    "write_reports", "gan_compute", "check_n", "check_scale", "check_pairs", "resolve_inception",
    "run_posthoc",
]

DEFAULT_GAN = "gan_heads_64.pt"
"""The shipped generator, looked up in gan_sr.sr.registry.checkpoints_dir() (which honours GANSR_CHECKPOINTS)."""

DISJOINT_SPLIT = {"test": "val", "val": "test", "train": "val"}
"""The split the "real" noise-floor row compares the reference split against."""

FLOATFMT = {"images": "{}", "msssim": "{:.4f}", "sample_s": "{:.4f}", "upscale_s": "{:.4f}", "total_s": "{:.4f}",
            "fid": "{:.2f}", "kid": "{:.5f}", "kid_std": "{:.5f}", "g0_kimg": "{:.1f}", "joint_kimg": "{:.1f}",
            "g0_wall_s": "{:.0f}", "sr_wall_s": "{:.0f}", "joint_wall_s": "{:.0f}", "total_wall_s": "{:.0f}"}


def default_gan_path() -> Path:
    """checkpoints/gan_heads_64.pt, or that file in $GANSR_CHECKPOINTS."""
    from gan_sr.sr.registry import checkpoints_dir

    return checkpoints_dir() / DEFAULT_GAN


def resolve_gan(gan: str | os.PathLike | None) -> Path:
    """The GAN checkpoint to sample: `gan`, else the shipped default; CheckpointError saying how to make one."""
    path = Path(gan) if gan is not None else default_gan_path()
    if not path.is_file():
        which = f"--gan {path}" if gan is not None else f"the default GAN checkpoint {path}"
        raise CheckpointError(
            f"{which}: no such file. Train a generator with `gansr gan train --data DIR --res 64` and ship it with "
            f"`gansr gan export --ckpt RUN_DIR/last.pt --out {path}`, or pass --gan RUN_DIR/last.pt"
            + ("" if gan is not None else " (GANSR_CHECKPOINTS sets the shipped checkpoints folder)"))
    return path


def _split_files(ref: str | os.PathLike, split: str, option: str = "--ref") -> list[Path]:
    from gan_sr.data.datasets import find_split_images

    try:
        return find_split_images(ref, split)
    except ConfigError as exc:
        raise ConfigError(f"{option} {ref}: {exc}") from None


def _largest_scale(lo: int, side: int) -> int | None:
    fits = [s for s in (2, 3, 4) if lo * s <= side]
    return max(fits) if fits else None


def load_real(ref: str | os.PathLike, res: int, *, split: str = "test", n: int | None = None,
              res_lo: int | None = None) -> Tensor:
    """Up to n real images of `ref` (a built dataset's split or a folder) at res x res, shrunk, never enlarged.

    ConfigError when a reference image is smaller than `res` (suggesting a --scale that fits, from res_lo).
    """
    from gan_sr.io.images import read_size
    from gan_sr.train.gan import load_reference

    files = _split_files(ref, split)
    used = files if n is None else files[: int(n)]
    sizes = [read_size(f) for f in used]
    small = [(f, s) for f, s in zip(used, sizes) if min(s) < res]
    if small:
        f, (w, h) = small[0]
        side = min(min(s) for s in sizes)
        hint = ""
        if res_lo is not None and _largest_scale(res_lo, side) is not None:
            hint = f"use --scale {_largest_scale(res_lo, side)} or "
        raise ConfigError(
            f"--ref {ref}: {len(small)} of {len(used)} reference images ({split}) are smaller than the {res} px "
            f"output (e.g. {f.name} is {w}x{h}); references are never upsampled, so {hint}give a reference set "
            f"of images at least {res} px on the shorter side")
    return load_reference(ref, res, split=split, limit=n)


def score_fields(scores: dict) -> dict:
    """A score_samples dict as table cells: images, swd_*, msssim (diversity of the scored set), fid/kid."""
    row = {k: v for k, v in scores.items() if k not in ("res", "msssim_fake", "msssim_real")}
    if "msssim_fake" in scores:
        row["msssim"] = scores["msssim_fake"]
    return row


def real_row(ref: str | os.PathLike, scorer, *, split: str) -> tuple[dict | None, str]:
    """The noise floor: as many images of a disjoint split of `ref` (val for test) as reference images, scored
    by `scorer` (a SampleScorer over the reference images) as if they were samples.

    Returns (score_samples dict or None, a sentence saying what was compared or why nothing was).
    """
    from gan_sr.io.images import read_size
    from gan_sr.metrics.sample_quality import SampleScorer
    from gan_sr.train.gan import load_reference

    real = scorer.real
    other = DISJOINT_SPLIT.get(split)
    root, res = Path(ref), real.shape[-1]
    if other is None or not (root / other).is_dir():
        return None, (f"no real-vs-real row: {ref} has no {other or 'other'}/ split disjoint from {split}/ "
                      "(only a built dataset has one)")
    files = _split_files(ref, other)[: real.shape[0]]
    if min(min(read_size(f)) for f in files) < res:
        return None, f"no real-vs-real row: images of {ref}/{other} are smaller than {res} px"
    floor = load_reference(ref, res, split=other, limit=real.shape[0])
    k = floor.shape[0]
    if k < 2:
        return None, f"no real-vs-real row: {ref}/{other} holds fewer than 2 images"
    if k < real.shape[0]:
        scorer = SampleScorer(real[:k], seed=scorer.seed, pairs=scorer.pairs, inception=scorer.net,
                              device=scorer.device)
    return scorer.score(floor), (f"real: {k} images of {other}/ scored against {k} reference images of {split}/ as "
                                 "if they were samples (the metric's noise floor)")


# ---------------------------------------------------------------------------------------------- pictures


def write_samples(folder: Path, images: Tensor) -> None:
    """images[i] -> folder/{i:04d}.png (8-bit lossless)."""
    from gan_sr.io.images import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        write_image(folder / f"{i:04d}.png", im)


# ---------------------------------------------------------------------------------------------- reports


def table_columns(rows: Sequence[dict], first: Sequence[str], last: Sequence[str]) -> list[str]:
    """`first`, then the SWD columns (finest level first, mean last) and MS-SSIM/FID/KID present, then `last`."""
    keys = {k for r in rows for k in r}
    levels = sorted((k for k in keys if re.fullmatch(r"swd_\d+px", k)), key=lambda k: -int(k[4:-2]))
    cols = list(first) + levels + [k for k in ("swd_mean", "msssim", "fid", "kid", "kid_std") if k in keys]
    return cols + [k for k in last if k in keys or k in first]


def write_reports(out: Path, title: str, meta_lines: Sequence[str], rows: Sequence[dict], columns: Sequence[str],
                  payload: dict, *, notes: Sequence[str] = (), grid: Path | None = None) -> dict[str, Path]:
    """report.md, report.json (the payload) and a self-contained index.html (grid embedded) in `out`."""
    files = {"md": out / "report.md", "json": out / "report.json", "html": out / "index.html"}
    fmt = {**FLOATFMT, **{c: "{:.2f}" for c in columns if c.startswith("swd_")}}
    md = [f"# {title}", "", *[f"- {line}" for line in meta_lines], ""]
    if rows:
        md += ["## Results", "", report.markdown_table(rows, columns, floatfmt=fmt), ""]
    md += [f"- {n}" for n in notes] + ([""] if notes else [])
    if grid is not None:
        md += ["## Samples", "", f"![grid]({grid.name})", ""]
    files["md"].write_text("\n".join(md))
    report.write_json(files["json"], payload)
    sections = [("Run", "<ul class='meta'>" + "".join(f"<li>{html.escape(x)}</li>" for x in meta_lines) + "</ul>")]
    if rows:
        body = report.html_table(rows, columns, floatfmt=fmt)
        if notes:
            body += "<ul class='meta'>" + "".join(f"<li>{html.escape(x)}</li>" for x in notes) + "</ul>"
        sections.append(("Results", body))
    if grid is not None:
        sections.append(("Samples", "{{img:grid}}"))
    report.write_html(files["html"], title, sections, images={"grid": grid} if grid is not None else None)
    return files


def check_n(n: int, ref) -> int:
    """--n as a positive int (at least 2 when scoring against --ref); ConfigError otherwise."""
    if isinstance(n, bool) or not isinstance(n, int) or n < (2 if ref is not None else 1):
        need = "at least 2 (SWD and MS-SSIM compare sets) with --ref" if ref is not None else "at least 1"
        raise ConfigError(f"--n {n}: must be {need}")
    return n


def check_scale(scale) -> int:
    """--scale as an int >= 2 (each method then checks the scales it has); ConfigError otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise ConfigError(f"--scale {scale!r}: must be an integer of at least 2 (2, 3 or 4)")
    return scale


def check_pairs(pairs) -> int:
    """--pairs (MS-SSIM image pairs) as a positive int; ConfigError otherwise."""
    if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 1:
        raise ConfigError(f"--pairs {pairs!r}: must be a positive number of MS-SSIM image pairs")
    return pairs


def resolve_inception(inception, device):
    """The FID Inception loaded once (from a weights path), or None; a loaded module passes through."""
    if inception is None or isinstance(inception, nn.Module):
        return inception
    from gan_sr.metrics.fid import load_inception

    return load_inception(inception, device)


def train_pool(ref, res: int, limit: int = 2000) -> Tensor | None:
    """The training split of a built dataset `ref` at res px, for the no-copying distance; None without one (a
    plain folder of references has no training images to compare with)."""
    from gan_sr.train.gan import load_reference

    if not (Path(ref) / "train").is_dir():
        return None
    try:
        return load_reference(ref, res, split="train", limit=limit)
    except ConfigError:
        return None


def score_rows(rows: list[dict], key: str, real_fields: dict, outputs: dict[str, Tensor], real: Tensor, *, ref,
               split: str, n: int, seed: int, pairs: int, inception, device, quiet: bool,
               lo_res: int | None = None) -> list[str]:
    """Score each row's images (outputs[row[key]]) against `real` in place, append the real-vs-real noise-floor
    row (`real_fields` fills its other label columns) and return the notes that explain them. lo_res: also
    score everything shrunk to the GAN's resolution."""
    from gan_sr.metrics.sample_quality import SampleScorer

    train = train_pool(ref, real.shape[-1])
    scorer = SampleScorer(real, seed=seed, pairs=pairs, inception=inception, device=device, lo_res=lo_res,
                          train=train)
    k = real.shape[0]
    bar = progress_bar(len(rows) + 1, desc="score", unit="set", enabled=not quiet)
    try:
        for row in rows:
            row.update(score_fields(scorer.score(outputs[row[key]][:k])))
            bar.update()
        floor, sentence = real_row(ref, scorer, split=split)
        bar.update()
    finally:
        bar.close()
    notes = [f"scored on the first {k} samples: {ref} ({split}) holds {k} images"] if k < n else []
    notes.append(sentence)
    if floor is not None:
        rows.append({key: "real", **real_fields, "source": f"{ref} ({DISJOINT_SPLIT[split]} vs {split})",
                     **score_fields(floor)})
    if lo_res:
        notes.append(f"swd_at_{lo_res}px: SWD x1e3 (mean over levels) with every set, reference included, shrunk "
                     f"to {lo_res} px (MATLAB bicubic, antialiased): what the generator drew, whatever the upscaler "
                     "added")
    notes.append("edge: mean Sobel magnitude of Y on each image's strongest 10 % of pixels (line-art crispness); "
                 "edge_ratio: against the reference images (1 = as crisp as real heads, below = blurrier)")
    if train is not None:
        notes.append(f"nn_rms_train: median RMS distance ([0, 1] pixels) from each image to its nearest of "
                     f"{train.shape[0]} training images; nn_rms_train_real: the same for the reference images, "
                     "which are unseen (a set far below it copies training images)")
    if scorer.real_diversity() is not None:
        notes.append(f"MS-SSIM diversity of the {k} reference images: {scorer.real_diversity():.4f} "
                     f"({pairs} random pairs; lower = more diverse, a method far above it has lost variety)")
    return notes


def gan_compute(meta: dict) -> dict:
    """{"kimg", "wall_s"} of a GAN checkpoint's meta (None where the file does not say)."""
    return {"kimg": meta.get("kimg"), "wall_s": meta.get("wall_s")}


def run_posthoc(methods: str | Sequence[str], *, gan: str | os.PathLike | None = None, scale: int = 4, n: int = 64,
                seed: int = 0, out: str | os.PathLike = "out/posthoc", ref: str | os.PathLike | None = None,
                split: str = "test", inception=None, device: str | torch.device = "cpu", truncation: float = 1.0,
                quiet: bool = False, batch: int = 16, pairs: int = 1000) -> dict:
    """Sample the GAN once (n latents from `seed`), upscale the samples with every method, write and score them.

    methods: registry names, "all", or LABEL=CKPT; pairs: random image pairs for MS-SSIM diversity.
    Returns what report.json holds (plus "files").
    """
    from gan_sr.io.checkpoints import load_checkpoint
    from gan_sr.io.paths import check_output_outside
    from gan_sr.train.gan import generate, load_generator

    scale, n, pairs = check_scale(scale), check_n(n, ref), check_pairs(pairs)
    if not math.isfinite(float(truncation)):
        raise ConfigError(f"--truncation {truncation}: must be a finite number")
    gan_path = resolve_gan(gan)
    parsed = parse_methods(methods, scale)
    out = Path(out)
    check_output_outside([ref] if ref is not None else [], out,
                         [gan_path] + [m.ckpt for m in parsed if m.ckpt is not None and m.ckpt.is_file()])
    models = load_methods(parsed, scale, device)
    g = load_generator(gan_path, device)
    res_lo, res_hi = g.res, g.res * scale
    real = load_real(ref, res_hi, split=split, n=n, res_lo=res_lo) if ref is not None else None
    inception = resolve_inception(inception, device)
    gan_meta = load_checkpoint(gan_path).get("meta") or {}

    bar = progress_bar(n * (1 + len(models)), desc="posthoc", unit="img", enabled=not quiet)
    try:
        t0 = time.perf_counter()
        lo = generate(g, n, seed=seed, truncation=truncation, device=device)
        sample_s = (time.perf_counter() - t0) / n
        bar.update(n)
        outputs: dict[str, Tensor] = {}
        times: dict[str, float] = {}
        for m in parsed:
            bar.set_postfix_str(m.label, refresh=False)
            t0 = time.perf_counter()
            outputs[m.label] = upscale_batch(lo, models[m.label], batch=batch, device=device, on_batch=bar.update)
            times[m.label] = (time.perf_counter() - t0) / n
    finally:
        bar.close()

    out.mkdir(parents=True, exist_ok=True)
    write_samples(out / f"gan_{res_lo}px", lo)
    for label, hi in outputs.items():
        write_samples(out / label, hi)
    grid = out / "grid.png"
    from gan_sr.io.images import write_image

    write_image(grid, labelled_grid([(f"GAN {res_lo}px", lo)] + list(outputs.items())))

    rows: list[dict[str, Any]] = [
        {"method": m.label, "model": m.name, "source": str(m.ckpt) if m.ckpt is not None else "(no weights)",
         "sample_s": sample_s, "upscale_s": times[m.label], "total_s": sample_s + times[m.label]} for m in parsed]
    notes: list[str] = []
    if real is not None:
        notes = score_rows(rows, "method", {"model": "-"}, outputs, real, ref=ref, split=split, n=n, seed=seed,
                           pairs=pairs, inception=inception, device=device, quiet=quiet, lo_res=res_lo)
        notes.append("SWD x1e3 per Laplacian level and mean (lower is closer to the reference); msssim: mean "
                     "MS-SSIM of random pairs of the method's images (diversity)")
    notes.append(f"seconds per sample on {device} with {torch.get_num_threads()} thread(s): sample_s for the GAN, "
                 f"upscale_s for the method (batches of {batch}, fp32), total_s both")
    columns = table_columns(rows, ["method", "model"] + (["images"] if real is not None else []),
                            ["sample_s", "upscale_s", "total_s", "source"])
    meta_lines = [
        f"GAN: {gan_path} ({res_lo} px; {_fmt_compute(gan_compute(gan_meta))})",
        f"{n} samples, latent seed {seed}, truncation {truncation:g}; x{scale} to {res_hi} px",
        f"reference: {ref} ({split})" if ref is not None else "no reference (--ref): images and grid only",
    ]
    payload = {"gan": str(gan_path), "gan_compute": gan_compute(gan_meta), "res_lo": res_lo, "res_hi": res_hi,
               "scale": scale, "n": n, "seed": seed, "truncation": float(truncation), "device": str(device),
               "pairs": pairs,
               "ref": None if ref is None else str(ref), "split": split, "rows": rows, "notes": notes,
               "methods": {m.label: {"model": m.name, "ckpt": None if m.ckpt is None else str(m.ckpt)} for m in parsed}}
    files = write_reports(out, f"Post-hoc SR of GAN samples, x{scale}", meta_lines, rows, columns, payload,
                          notes=notes, grid=grid)
    return {**payload, "files": {k: str(v) for k, v in {**files, "grid": grid}.items()}}


def _fmt_compute(c: dict) -> str:
    kimg, wall = c.get("kimg"), c.get("wall_s")
    k = f"{kimg:g} kimg" if isinstance(kimg, (int, float)) else "kimg not recorded"
    w = f"{wall:.0f} s" if isinstance(wall, (int, float)) else "wall time not recorded"
    return f"trained {k} in {w}"
