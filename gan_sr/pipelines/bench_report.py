"""What a bench run writes (results.md/.csv/.json, plots, grid, index.html) and the table merged from several runs."""

from __future__ import annotations

import html
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from gan_sr.errors import ConfigError
from gan_sr.pipelines import report
from gan_sr.sr.registry import model_names


def grid_order() -> tuple[str, ...]:
    """Column order of tables and grids: the registry's, then the ESRGAN interpolation; other entries
    (--ckpt NAME=PATH) follow in the order given."""
    return (*model_names(), "esrgan_interp")


SUMMARY_COLUMNS = ("method", "dataset", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "params", "gmacs_per_mp",
                   "ms_fp32", "out_mp_per_s_fp32", "gflops_fp32", "peak_pct_fp32", "ms_bf16", "out_mp_per_s_bf16",
                   "gflops_bf16", "peak_pct_bf16", "peak_mem_mib")


FLOATFMT = {"psnr_y": "{:.2f}", "psnr_rgb": "{:.2f}", "ssim_y": "{:.4f}", "ssim_rgb": "{:.4f}",
            "gmacs_per_mp": "{:.2f}", "ms_fp32": "{:.2f}", "ms_bf16": "{:.2f}", "out_mp_per_s_fp32": "{:.2f}",
            "out_mp_per_s_bf16": "{:.2f}", "gflops_fp32": "{:.2f}", "gflops_bf16": "{:.2f}", "peak_pct_fp32": "{:.1f}",
            "peak_pct_bf16": "{:.1f}", "peak_mem_mib": "{:.1f}"}


def summary_rows(results: dict) -> list[dict]:
    """One row per (method, dataset) with mean quality and the method's costs."""
    rows = []
    for m in results["methods"]:
        if m["status"] != "ok":
            continue
        for ds, d in m["datasets"].items():
            rows.append({"method": m["name"], "dataset": ds, **d["mean"], "params": m["params"],
                         "gmacs_per_mp": m["gmacs_per_mp"],
                         "ms_fp32": m.get("fp32", {}).get("ms_per_image"),
                         "out_mp_per_s_fp32": m.get("fp32", {}).get("out_mp_per_s"),
                         "gflops_fp32": m.get("fp32", {}).get("gflops"),
                         "peak_pct_fp32": m.get("fp32", {}).get("peak_pct"),
                         "ms_bf16": m.get("bf16", {}).get("ms_per_image"),
                         "out_mp_per_s_bf16": m.get("bf16", {}).get("out_mp_per_s"),
                         "gflops_bf16": m.get("bf16", {}).get("gflops"),
                         "peak_pct_bf16": m.get("bf16", {}).get("peak_pct"),
                         "peak_mem_mib": m["peak_mem_mib"]})
    return rows


def per_image_rows(results: dict) -> list[dict]:
    """One row per (method, dataset, image)."""
    return [{"method": m["name"], "dataset": ds, **r}
            for m in results["methods"] if m["status"] == "ok"
            for ds, d in m["datasets"].items() for r in d["per_image"]]


def _columns(results: dict) -> list[str]:
    cols = list(SUMMARY_COLUMNS)
    if not results["meta"]["timing"]:
        cols = [c for c in cols if "fp32" not in c and "bf16" not in c]
    elif not results["meta"]["bf16_timed"]:
        cols = [c for c in cols if "bf16" not in c]
    return cols


def _meta_lines(meta: dict) -> list[str]:
    t = meta["timing_input"]
    timing = (f"batch 1, LR {t[2]}x{t[3]} random input, {meta['warmup']} warm-up + median of {meta['runs']} runs, "
              f"fp32{' and bf16 autocast' if meta['bf16_timed'] else ''}" if meta["timing"]
              else "not timed (--no-timing)")
    return [f"command: `{meta['command']}`", f"date: {meta['date']}, git commit {meta['git_commit']}",
            f"torch {meta['torch']}, python {meta['python']}, {meta['threads']} thread(s), device {meta['device']} "
            f"({meta['device_name']})", f"scale x{meta['scale']}; timing: {timing}",
            *_peak_lines(meta), f"protocol: {meta['protocol']}", f"wall time {meta['wall_s']:.1f} s"]


def _peak_lines(meta: dict) -> list[str]:
    return [f"matmul peak ({k}, same run): {p['gflops']:.1f} GFLOP/s (torch.mm {p['size']}x{p['size']}, best of "
            f"{p['repeats']}, {p['threads']} thread(s), {p['device']})" for k, p in meta.get("matmul_peak", {}).items()]


def write_outputs(results: dict, tiles: dict[str, Tensor], out: Path) -> dict[str, Path]:
    """results.md/.csv/.json, per_image.csv, psnr_vs_speed.png, per_image_psnr.png, grid.png, index.html."""
    files = {k: out / v for k, v in (("md", "results.md"), ("csv", "results.csv"), ("json", "results.json"),
                                      ("per_image", "per_image.csv"), ("scatter", "psnr_vs_speed.png"),
                                      ("bars", "per_image_psnr.png"), ("grid", "grid.png"), ("html", "index.html"))}
    meta = results["meta"]
    rows, cols = summary_rows(results), _columns(results)
    skipped = [m for m in results["methods"] if m["status"] != "ok"]
    mem_method = next((m["mem_method"] for m in results["methods"] if m.get("mem_method")), "")
    report.write_csv(files["csv"], rows, cols)
    report.write_csv(files["per_image"], per_image_rows(results))
    images = {}

    g = results["grid"]
    labelled = []
    for name, tile in tiles.items():
        psnr = None
        for m in results["methods"]:
            if m["name"] == name and m["status"] == "ok":
                psnr = next(r["psnr_y"] for r in m["datasets"][g["dataset"]]["per_image"] if r["image"] == g["image"])
        labelled.append((name if psnr is None else f"{name}\n{psnr:.2f} dB (Y)", tile))
    order = {n: i for i, n in enumerate(("HR", *grid_order()))}
    labelled.sort(key=lambda t: order.get(t[0].split("\n")[0], len(order)))
    report.comparison_grid(files["grid"], labelled, columns=min(len(labelled), 4),
                           title=f"{g['dataset']}/{g['image']}, {g['size']}x{g['size']} HR px at "
                                 f"({g['left']}, {g['top']}), x{meta['scale']}")
    images["grid"] = files["grid"]

    if meta["timing"] and rows:
        report.scatter_plot(files["scatter"], rows, x="out_mp_per_s_fp32", y="psnr_y", label="method", group="dataset",
                            xlabel=f"output MP/s (fp32, batch 1, {meta['device']}, {meta['threads']} thread(s))",
                            ylabel="PSNR Y (dB)", logx=True, title=f"Quality vs throughput, x{meta['scale']}")
        images["scatter"] = files["scatter"]
    else:
        files.pop("scatter")
    ok = [m for m in results["methods"] if m["status"] == "ok"]
    if ok:
        panels = []
        for ds in results["datasets"]:
            cats = [r["image"] for r in ok[0]["datasets"][ds]["per_image"]]
            panels.append((f"{ds}: PSNR Y per image, x{meta['scale']}", cats,
                           {m["name"]: [r["psnr_y"] for r in m["datasets"][ds]["per_image"]] for m in ok}))
        report.bar_plot(files["bars"], panels, ylabel="PSNR Y (dB)")
        images["bars"] = files["bars"]
    else:
        files.pop("bars")

    md = [f"# SR bench x{meta['scale']}", "", *[f"- {line}" for line in _meta_lines(meta)], "",
          "## Results (mean per dataset)", "",
          "PSNR dB / SSIM; params; GMAC per output megapixel (conv/linear layers only); ms per image and "
          "output MP/s at batch 1; achieved GFLOP/s = 2 x MACs / median time and its percentage of the matmul "
          f"peak (empty for methods without conv/linear MACs); peak memory MiB ({mem_method}).", "",
          report.markdown_table(rows, cols, floatfmt=FLOATFMT) if rows else "No method ran.", ""]
    if skipped:
        md += ["## Skipped", "", *[f"- {m['name']}: {m['reason']}" for m in skipped], ""]
    md += ["## Files", "", "- per-image scores: per_image.csv (and results.json)",
           f"- visual comparison: grid.png ({g['dataset']}/{g['image']})"]
    md += [f"- {files[k].name}" for k in ("scatter", "bars") if k in files]
    md += ["- index.html (all of it, self-contained)", ""]
    files["md"].write_text("\n".join(md))
    report.write_json(files["json"], results)

    sections = [("Run", "<ul class='meta'>" + "".join(f"<li>{html.escape(line)}</li>"
                                                         for line in _meta_lines(meta)) + "</ul>"),
                ("Results (mean per dataset)",
                 report.html_table(rows, cols, floatfmt=FLOATFMT) if rows else "<p>No method ran.</p>")]
    if skipped:
        sections.append(("Skipped", "<ul>" + "".join(f"<li><b>{html.escape(m['name'])}</b>: "
                                                      f"{html.escape(m['reason'])}</li>" for m in skipped) + "</ul>"))
    sections.append(("Visual comparison", "{{img:grid}}"))
    if "scatter" in images:
        sections.append(("Quality vs throughput", "{{img:scatter}}"))
    if "bars" in images:
        sections.append(("Per image", "{{img:bars}}"))
    report.write_html(files["html"], f"SR bench x{meta['scale']}", sections, images=images)
    return files


def _method_order(name: str) -> tuple[int, str]:
    order = grid_order()
    return (order.index(name), "") if name in order else (len(order), name)


def merge_results(runs: Sequence[tuple[str, dict]]) -> tuple[list[dict], list[str]]:
    """Rows (scale, method) x datasets from several bench results (each (source, results.json dict)).

    A dataset cell is "PSNR / SSIM" on Y (or "skipped"); cost columns are the medians over the runs of that
    scale, since each run times the method on the same random input: ms per output megapixel (fp32, batch 1),
    achieved GFLOP/s and its percentage of that run's matmul peak. Returns (rows, dataset labels in order).
    ConfigError when two runs score the same method on the same dataset and scale.
    """
    cells: dict[tuple[int, str], dict] = {}
    seen: dict[tuple[int, str, str], str] = {}
    datasets: list[str] = []
    for source, res in runs:
        scale = res["meta"]["scale"]
        for ds in res["datasets"]:
            if ds not in datasets:
                datasets.append(ds)
        for m in res["methods"]:
            row = cells.setdefault((scale, m["name"]), {"scale": scale, "method": m["name"], "_cost": []})
            for ds in res["datasets"]:
                key = (scale, m["name"], ds)
                if key in seen:
                    raise ConfigError(f"{source}: {m['name']} on {ds} at x{scale} is already in {seen[key]}; "
                                      "give each (method, dataset, scale) once")
                seen[key] = source
                if m["status"] != "ok":
                    row[ds] = "skipped"
                    continue
                mean = m["datasets"][ds]["mean"]
                row[ds] = f"{mean['psnr_y']:.2f} / {mean['ssim_y']:.4f}"
            fp32 = m.get("fp32") if m["status"] == "ok" else None
            if fp32:
                row["_cost"].append((1e3 / fp32["out_mp_per_s"], fp32.get("gflops"), fp32.get("peak_pct")))
    rows = []
    for _, row in sorted(cells.items(), key=lambda kv: (-kv[0][0], _method_order(kv[0][1]))):
        cost = row.pop("_cost")

        def med(i, cost=cost):
            vals = [c[i] for c in cost if c[i] is not None]
            return statistics.median(vals) if vals else None

        rows.append({**row, "ms_per_mp": med(0), "gflops": med(1), "peak_pct": med(2), "timed_runs": len(cost)})
    return rows, datasets


def write_summary(path: str | os.PathLike, runs: Sequence[tuple[str, dict]], *, command: str = "") -> str:
    """The merged Markdown table of `merge_results`, with the runs and matmul peaks it came from; returns the text."""
    rows, datasets = merge_results(runs)
    cols = ["scale", "method", *datasets, "ms_per_mp", "gflops", "peak_pct", "timed_runs"]
    peaks = [r["meta"].get("matmul_peak", {}).get("fp32", {}).get("gflops") for _, r in runs]
    peaks = [p for p in peaks if p is not None]
    threads = sorted({r["meta"]["threads"] for _, r in runs})
    lines = ["# SR bench summary", "",
             "PSNR / SSIM on Y (crop = scale, MATLAB bicubic LR, 8-bit SR) per dataset; ms per output megapixel "
             "(fp32, batch 1), achieved GFLOP/s (2 x MACs / time) and % of the matmul peak: medians over the runs "
             "of that scale (timed_runs). Empty cost cells: methods without conv/linear MACs.", ""]
    if command:
        lines += [f"- command: `{command}`"]
    if peaks:
        lines += [f"- matmul peak (fp32, measured in each run): median {statistics.median(peaks):.1f} GFLOP/s, "
                  f"range {min(peaks):.1f}-{max(peaks):.1f}; torch thread(s): {', '.join(map(str, threads))}"]
    lines += ["- runs: " + ", ".join(f"`{src}` ({r['meta']['date']}, commit {r['meta']['git_commit']})"
                                     for src, r in runs), "",
              report.markdown_table(rows, cols, floatfmt={"ms_per_mp": "{:.1f}", "gflops": "{:.2f}",
                                                          "peak_pct": "{:.1f}"})]
    text = "\n".join(lines)
    Path(path).write_text(text)
    return text
