"""`gansr compare`: post-hoc SR of one GAN's samples vs jointly trained stacks, scored alike, with the compute.

Every arm draws the same latents (the GAN's `generate` and the stacks' `generate_stack` agree for a seed) and is
scored by one `SampleScorer` (score_samples) against the same real images at the output size; a "real" row
scores a disjoint real split the same way (the noise floor). The compute of each arm is read from its checkpoints' meta, never
typed: the GAN's kimg and wall time plus the SR checkpoint's steps and wall time (and those of the checkpoint it
was initialised from, when that file is at hand) for post-hoc arms; the joint run's own kimg and wall time plus
its recorded G0 and S initialisations for joint arms.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.io.grids import labelled_grid
from gan_sr.pipelines import posthoc as ph
from gan_sr.progress import progress_bar

__all__ = ["COMPUTE_COLUMNS", "sr_compute", "joint_compute", "joint_label", "run_compare"]

COMPUTE_COLUMNS = ("g0_kimg", "g0_wall_s", "sr_steps", "sr_wall_s", "joint_kimg", "joint_wall_s", "total_wall_s")


def _num(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _init_chain(init: str | None, seen: set[str] | None = None) -> tuple[int, float | None, list[str]]:
    """(steps, wall seconds, notes) of the SR checkpoints `init` was trained from, followed while the files exist."""
    if not init or init == "none":
        return 0, 0.0, []
    from gan_sr.io.checkpoints import load_checkpoint

    seen = set() if seen is None else seen
    if init in seen:
        return 0, 0.0, [f"init chain loops at {init}"]
    seen.add(init)
    if not Path(init).is_file():
        return 0, None, [f"initialised from {init}, which is not here: its compute is not counted"]
    try:
        ck = load_checkpoint(init)
    except CheckpointError as exc:
        return 0, None, [f"initialised from {init}, unreadable ({exc}): its compute is not counted"]
    meta = ck.get("meta") or {}
    steps, wall = int(ck.get("step") or 0), _num(meta.get("wall_s"))
    more_steps, more_wall, notes = _init_chain(meta.get("init"), seen)
    total = None if wall is None or more_wall is None else wall + more_wall
    return steps + more_steps, total, [f"incl. init {init} ({steps} steps)"] + notes


def sr_compute(ckpt: str | os.PathLike | None) -> dict:
    """{"sr_steps", "sr_wall_s", "notes"} of an SR checkpoint and its init chain; zeros for weight-free methods."""
    if ckpt is None:
        return {"sr_steps": 0, "sr_wall_s": 0.0, "notes": []}
    from gan_sr.io.checkpoints import load_checkpoint

    ck = load_checkpoint(ckpt)
    meta = ck.get("meta") or {}
    steps, wall = ck.get("step"), _num(meta.get("wall_s"))
    more_steps, more_wall, notes = _init_chain(meta.get("init"))
    if wall is None:
        notes = [f"{ckpt} records no wall time"] + notes
    total = None if wall is None or more_wall is None else wall + more_wall
    return {"sr_steps": None if steps is None else int(steps) + more_steps, "sr_wall_s": total, "notes": notes}


def joint_compute(meta: dict) -> dict:
    """Compute columns of a joint checkpoint: its own kimg/wall, its G0 init's kimg/wall, its S init's steps/wall."""
    g0, sr = meta.get("g0_init") or None, meta.get("sr_init") or None
    notes: list[str] = []
    sr_steps, sr_wall = 0, 0.0
    if sr:
        more_steps, more_wall, notes = _init_chain(sr.get("init"))
        sr_steps = None if sr.get("steps") is None else int(sr["steps"]) + more_steps
        sr_wall = None if _num(sr.get("wall_s")) is None or more_wall is None else float(sr["wall_s"]) + more_wall
        notes = [f"S from {sr.get('path')}"] + notes
    else:
        notes.append("S trained from scratch in the joint run")
    notes.insert(0, f"G0 from {g0.get('path')}" if g0 else "G0 trained from scratch in the joint run")
    row = {"g0_kimg": _num(g0.get("kimg")) if g0 else 0.0, "g0_wall_s": _num(g0.get("wall_s")) if g0 else 0.0,
           "sr_steps": sr_steps, "sr_wall_s": sr_wall,
           "joint_kimg": _num(meta.get("kimg")), "joint_wall_s": _num(meta.get("wall_s"))}
    return {**row, "notes": notes}


def _total(row: dict) -> float | None:
    """Sum of the arm's wall times; None when one of them is not recorded."""
    keys = {"joint": ("g0_wall_s", "sr_wall_s", "joint_wall_s"), "native": ("g0_wall_s",)}.get(
        row["kind"], ("g0_wall_s", "sr_wall_s"))
    parts = [row.get(k) for k in keys]
    return None if any(v is None for v in parts) else float(sum(parts))


def joint_label(path: Path, taken: set[str]) -> str:
    """The run's name for RUN/{last,best,stack}.pt, else the file's stem; prefixed "joint-" unless it starts
    with "joint"; made unique and folder-safe."""
    stem = path.parent.name if path.stem in ("last", "best", "stack") and path.parent.name else path.stem
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", stem) or "stack"
    base = stem if stem.startswith("joint") else "joint-" + stem
    label, i = base, 2
    while label in taken:
        label, i = f"{base}-{i}", i + 1
    return label


def run_compare(*, gan: str | os.PathLike | None = None, joint: Sequence[str | os.PathLike] = (),
                native: Sequence[str | os.PathLike] = (), methods: str | Sequence[str] = ("all",), scale: int = 2, n: int = 64, seed: int = 0,
                ref: str | os.PathLike | None = None, split: str = "test", out: str | os.PathLike = "out/compare",
                inception=None, device: str | torch.device = "cpu", quiet: bool = False, batch: int = 16,
                pairs: int = 1000) -> dict:
    """Post-hoc arms (GAN + each SR method), joint arms (each stack) and native arms (a GAN trained at the output
    resolution), same latent seeds, same reference, one table.

    Writes OUT/{gan_RESpx, METHOD, joint-RUN, native-RUN}/NNNN.png, grid.png, report.md, report.json, index.html; returns
    what report.json holds (plus "files").
    """
    from gan_sr.io.checkpoints import load_checkpoint
    from gan_sr.io.images import write_image
    from gan_sr.io.paths import check_output_outside
    from gan_sr.train.gan import generate, load_generator

    scale, n, pairs = ph.check_scale(scale), ph.check_n(n, ref), ph.check_pairs(pairs)
    if ref is None:
        raise ConfigError("--ref is required: compare scores every arm against real images at the output resolution")
    gan_path = ph.resolve_gan(gan)
    methods = [methods] if isinstance(methods, str) else list(methods or [])
    parsed = ph.parse_methods(methods, scale) if methods else []
    joint_paths = [Path(p) for p in joint]
    for p in joint_paths:
        if not p.is_file():
            raise CheckpointError(f"--joint {p}: no such checkpoint file; pass a `gansr joint-train` RUN/last.pt")
    native_paths = [Path(p) for p in native]
    for p in native_paths:
        if not p.is_file():
            raise CheckpointError(f"--native {p}: no such checkpoint file; pass a `gansr gan train` RUN/last.pt")
    if not parsed and not joint_paths and not native_paths:
        raise ConfigError("nothing to compare: give --sr methods, --joint stacks and/or --native generators")
    out = Path(out)
    check_output_outside([ref], out, [gan_path] + joint_paths + native_paths
                         + [m.ckpt for m in parsed if m.ckpt is not None and m.ckpt.is_file()])
    models = ph.load_methods(parsed, scale, device)
    g = load_generator(gan_path, device)
    res_lo, res_hi = g.res, g.res * scale
    stacks, taken = {}, {m.label for m in parsed}
    if joint_paths:
        from gan_sr.train import joint as api
        for p in joint_paths:
            stack = api.load_stack(p, device)
            if stack.res_hi != res_hi:
                raise ConfigError(f"--joint {p}: its stack makes {stack.res_hi} px images ({stack.res_lo} px x"
                                  f"{stack.scale}) but the post-hoc arms make {res_hi} px ({res_lo} px GAN x{scale}); "
                                  f"compare arms of one output size (set --scale {stack.res_hi // res_lo})"
                                  if stack.res_hi % res_lo == 0 else
                                  f"--joint {p}: its stack makes {stack.res_hi} px images but the post-hoc arms make "
                                  f"{res_hi} px; compare arms of one output size")
            label = joint_label(p, taken)
            taken.add(label)
            stacks[label] = (p, stack)
    natives = {}
    for p in native_paths:
        gn = load_generator(p, device)
        if gn.res != res_hi:
            raise ConfigError(f"--native {p}: a {gn.res} px generator, but the arms make {res_hi} px images")
        label = joint_label(p, taken).replace("joint-", "native-", 1)
        taken.add(label)
        natives[label] = (p, gn)
    real = ph.load_real(ref, res_hi, split=split, n=n, res_lo=res_lo)
    inception = ph.resolve_inception(inception, device)
    gan_meta = load_checkpoint(gan_path).get("meta") or {}

    bar = progress_bar(n * (1 + len(models) + len(stacks) + len(natives)), desc="compare", unit="img", enabled=not quiet)
    outputs: dict[str, Tensor] = {}
    timing: dict[str, dict] = {}
    try:
        t0 = time.perf_counter()
        lo = generate(g, n, seed=seed, device=device)
        sample_s = (time.perf_counter() - t0) / n
        bar.update(n)
        for m in parsed:
            bar.set_postfix_str(m.label, refresh=False)
            t0 = time.perf_counter()
            outputs[m.label] = ph.upscale_batch(lo, models[m.label], batch=batch, device=device, on_batch=bar.update)
            up = (time.perf_counter() - t0) / n
            timing[m.label] = {"sample_s": sample_s, "upscale_s": up, "total_s": sample_s + up}
        for label, (_, stack) in stacks.items():
            bar.set_postfix_str(label, refresh=False)
            t0 = time.perf_counter()
            _, outputs[label] = api.generate_stack(stack, n, seed=seed, batch=batch, device=device)
            timing[label] = {"total_s": (time.perf_counter() - t0) / n}
            bar.update(n)
        for label, (_, gn) in natives.items():
            t0 = time.perf_counter()
            outputs[label] = generate(gn, n, seed=seed, device=device)
            timing[label] = {"total_s": (time.perf_counter() - t0) / n}
            bar.update(n)
    finally:
        bar.close()

    out.mkdir(parents=True, exist_ok=True)
    ph.write_samples(out / f"gan_{res_lo}px", lo)
    for label, hi in outputs.items():
        ph.write_samples(out / label, hi)
    grid = out / "grid.png"
    write_image(grid, labelled_grid([(f"GAN {res_lo}px", lo)] + list(outputs.items())))

    gan_c = ph.gan_compute(gan_meta)
    rows: list[dict[str, Any]] = []
    k = real.shape[0]
    for m in parsed:
        c = sr_compute(None if m.ckpt is None or not m.ckpt.is_file() else m.ckpt)
        row = {"arm": m.label, "kind": "posthoc", "source": str(m.ckpt) if m.ckpt is not None else "(no weights)",
               "g0_kimg": _num(gan_c["kimg"]), "g0_wall_s": _num(gan_c["wall_s"]), "sr_steps": c["sr_steps"],
               "sr_wall_s": c["sr_wall_s"], "joint_kimg": None, "joint_wall_s": None,
               "compute_note": "; ".join(c["notes"])}
        rows.append(row)
    for label, (p, _) in stacks.items():
        c = joint_compute(load_checkpoint(p).get("meta") or {})
        rows.append({"arm": label, "kind": "joint", "source": str(p),
                     **{key: c[key] for key in COMPUTE_COLUMNS if key in c}, "compute_note": "; ".join(c["notes"])})
    for label, (p, _) in natives.items():
        c = ph.gan_compute(load_checkpoint(p).get("meta") or {})
        rows.append({"arm": label, "kind": "native", "source": str(p), "g0_kimg": _num(c["kimg"]),
                     "g0_wall_s": _num(c["wall_s"]), "sr_steps": None, "sr_wall_s": None, "joint_kimg": None,
                     "joint_wall_s": None, "compute_note": f"a {res_hi} px GAN trained natively"})
    for row in rows:
        row["total_wall_s"] = _total(row)
        row.update(timing[row["arm"]])
    notes = ph.score_rows(rows, "arm", {"kind": "real"}, outputs, real, ref=ref, split=split, n=n, seed=seed,
                          pairs=pairs, inception=inception, device=device, quiet=quiet, lo_res=res_lo)
    notes += [
        "SWD x1e3 per Laplacian level and mean, against the same reference images (lower is closer); msssim: mean "
        "MS-SSIM between random pairs of the arm's images (diversity; lower = more varied)",
        f"seconds per sample on {device} with {torch.get_num_threads()} thread(s): post-hoc arms sample the GAN "
        f"(sample_s) then upscale (upscale_s, batches of {batch}); joint arms run the whole stack, native arms "
        "their generator (total_s)",
        "compute, read from the checkpoints: g0_* = the GAN (post-hoc, native) or the joint run's G0 initialisation; "
        "sr_* = the SR checkpoint (with the checkpoints it was initialised from, when present) or the joint run's "
        "S initialisation; joint_* = the joint run itself; total_wall_s sums the wall times (empty when one is "
        "not recorded). Wall times are of whatever machine trained each file.",
    ]
    columns = ph.table_columns(rows, ["arm", "kind", "images"],
                               ["sample_s", "upscale_s", "total_s", *COMPUTE_COLUMNS, "compute_note", "source"])
    meta_lines = [
        f"GAN of the post-hoc arms: {gan_path} ({res_lo} px)",
        f"joint stacks: {', '.join(str(p) for p in joint_paths) or 'none'}",
        f"native {res_hi} px generators: {', '.join(str(p) for p in native_paths) or 'none'}",
        f"{n} latents from seed {seed} (the same latent i in every arm); x{scale} to {res_hi} px",
        f"reference: {ref} ({split}), {k} images",
    ]
    payload = {"gan": str(gan_path), "joint": [str(p) for p in joint_paths],
               "native": [str(p) for p in native_paths], "res_lo": res_lo, "res_hi": res_hi,
               "scale": scale, "n": n, "seed": seed, "device": str(device), "ref": str(ref), "split": split,
               "pairs": pairs,
               "rows": rows, "notes": notes}
    files = ph.write_reports(out, f"Post-hoc SR vs joint stack vs native, x{scale} ({res_lo} -> {res_hi} px)", meta_lines,
                             rows, columns, payload, notes=notes, grid=grid)
    return {**payload, "files": {key: str(v) for key, v in {**files, "grid": grid}.items()}}
