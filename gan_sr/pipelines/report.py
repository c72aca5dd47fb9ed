"""Report writers shared by benchmarks: Markdown/CSV/JSON tables, labelled image grids, plots, one-file HTML.

Everything here takes plain rows (lists of dicts) or tensors and writes a file; nothing knows about models.
Plots use matplotlib's Agg backend so that reports render on machines without a display.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

__all__ = [
    "format_cell", "markdown_table", "write_csv", "write_json", "comparison_grid", "scatter_plot",
    "bar_plot", "line_plot", "png_data_uri", "html_table", "write_html", "tile_crop", "detail_window",
]


def format_cell(value, floatfmt: str = "{:.4f}") -> str:
    """One table cell: floats through `floatfmt` (inf/nan spelled out), None as empty, the rest as str."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return floatfmt.format(value)
    return str(value)


def _columns(rows: Sequence[dict], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return keys


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None, *,
                   floatfmt: dict[str, str] | str = "{:.4f}") -> str:
    """A GitHub Markdown table of `rows`; `floatfmt` is one format or one per column (default "{:.4f}")."""
    cols = _columns(rows, columns)
    fmt = (lambda c: floatfmt.get(c, "{:.4f}")) if isinstance(floatfmt, dict) else (lambda c: floatfmt)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = [format_cell(r.get(c), fmt(c)).replace("|", "\\|") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(path: str | os.PathLike, rows: Sequence[dict], columns: Sequence[str] | None = None) -> None:
    """Rows as CSV with a header; floats at full precision, missing cells empty."""
    cols = _columns(rows, columns)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Indented JSON; non-finite floats become "inf"/"-inf"/null so that every JSON parser reads it."""
    Path(path).write_text(json.dumps(_jsonable(payload), indent=1) + "\n")


def _to_hwc(img: Tensor):
    x = img.detach().float().cpu().clamp(0, 1)
    if x.dim() == 4:
        x = x[0]
    return x.permute(1, 2, 0).numpy()


def comparison_grid(path: str | os.PathLike, tiles: Sequence[tuple[str, Tensor]], *, columns: int | None = None,
                    tile_inches: float = 2.4, title: str | None = None) -> None:
    """A PNG of labelled image tiles (each (3, H, W) in [0, 1]) drawn pixel-exact (nearest neighbour).

    Labels sit above each tile; `columns` defaults to all tiles in one row up to 4, then rows of 4.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not tiles:
        raise ValueError("comparison_grid needs at least one tile")
    n = len(tiles)
    cols = columns or min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(tile_inches * cols, tile_inches * rows + 0.5 + (0.3 if title else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, img) in zip(axes.flat, tiles):
        ax.imshow(_to_hwc(img), interpolation="nearest")
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def scatter_plot(path: str | os.PathLike, points: Sequence[dict], *, x: str, y: str, label: str = "label",
                 group: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
                 logx: bool = False, title: str | None = None) -> None:
    """Scatter of `points` (dicts) with each point annotated by its `label`; one marker series per `group`.

    Points whose x or y is missing or not a positive finite number (for log axes) are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def ok(p):
        vx, vy = p.get(x), p.get(y)
        if not isinstance(vx, (int, float)) or not isinstance(vy, (int, float)):
            return False
        return math.isfinite(vx) and math.isfinite(vy) and (vx > 0 or not logx)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    groups: dict = {}
    for p in points:
        if ok(p):
            groups.setdefault(p.get(group) if group else None, []).append(p)
    markers = "osD^vP*X"
    for i, (g, pts) in enumerate(groups.items()):
        ax.scatter([p[x] for p in pts], [p[y] for p in pts], marker=markers[i % len(markers)],
                   label=str(g) if g is not None else None)
        for p in pts:
            ax.annotate(str(p.get(label, "")), (p[x], p[y]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if logx:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title, fontsize=10)
    if group and groups:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bar_plot(path: str | os.PathLike, panels: Sequence[tuple[str, list[str], dict[str, list[float]]]], *,
             ylabel: str = "", ylim_from_data: bool = True) -> None:
    """Grouped bars, one panel per (title, categories, {series: values per category}); series share colours.

    With `ylim_from_data` the y axis starts just below the smallest value, so that small differences show.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("bar_plot needs at least one panel")
    widest = max(len(c) for _, c, _ in panels)
    width_in = min(24.0, max(6.4, 0.35 * widest * max(1, len(panels[0][2])) / 2 + 2))
    fig, axes = plt.subplots(len(panels), 1, figsize=(width_in, 3.2 * len(panels)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, cats, series) in zip(axes[:, 0], panels):
        k = max(1, len(series))
        w = 0.8 / k
        vals_all = [v for vs in series.values() for v in vs if isinstance(v, (int, float)) and math.isfinite(v)]
        for i, (name, vals) in enumerate(series.items()):
            xs = [j + (i - (k - 1) / 2) * w for j in range(len(cats))]
            ax.bar(xs, vals, width=w, label=name, color=colours[i % len(colours)])
        ax.set_xticks(range(len(cats)))
        crowded = len(cats) > 8 or sum(len(c) for c in cats) > 60
        ax.set_xticklabels(cats, rotation=60 if crowded else 0, ha="right" if crowded else "center",
                           fontsize=7 if len(cats) > 20 else 8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        if ylim_from_data and vals_all:
            lo, hi = min(vals_all), max(vals_all)
            pad = max(0.5, 0.05 * (hi - lo))
            ax.set_ylim(lo - pad, hi + pad)
        ax.legend(fontsize=7, ncol=min(k, 6))
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def line_plot(path: str | os.PathLike, x: Sequence[float], series: dict[str, Sequence[float]], *,
              xlabel: str = "", ylabel: str = "", right: dict[str, Sequence[float]] | None = None,
              right_label: str = "", mark_x: float | None = None, title: str | None = None) -> None:
    """Lines over a shared x axis with markers at the data points; `right` series use a second y axis.

    `mark_x` draws a dashed vertical line (e.g. the chosen setting of a sweep).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not series:
        raise ValueError("line_plot needs at least one series")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles = []
    for i, (name, ys) in enumerate(series.items()):
        handles += ax.plot(list(x), list(ys), marker="o", color=colours[i % len(colours)], label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if right:
        ax2 = ax.twinx()
        for j, (name, ys) in enumerate(right.items(), start=len(series)):
            handles += ax2.plot(list(x), list(ys), marker="s", linestyle="--", color=colours[j % len(colours)],
                                label=name)
        ax2.set_ylabel(right_label)
    if mark_x is not None:
        ax.axvline(mark_x, color="grey", linestyle=":", linewidth=1)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, labels=[h.get_label() for h in handles], fontsize=8, loc="best")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def png_data_uri(path: str | os.PathLike) -> str:
    """A data: URI holding the PNG file's bytes, for embedding in a self-contained HTML page."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def html_table(rows: Sequence[dict], columns: Sequence[str] | None = None, *,
               floatfmt: dict[str, str] | str = "{:.4f}") -> str:
    """An escaped HTML <table> of `rows` (same formatting rules as `markdown_table`)."""
    cols = _columns(rows, columns)
    fmt = (lambda c: floatfmt.get(c, "{:.4f}")) if isinstance(floatfmt, dict) else (lambda c: floatfmt)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_cell(r.get(c), fmt(c)))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%;image-rendering:pixelated}
code{background:#f4f4f4;padding:1px 4px}ul.meta{font-size:0.9em;color:#444}"""


def write_html(path: str | os.PathLike, title: str, sections: Sequence[tuple[str, str]], *,
               images: dict[str, str | os.PathLike] | None = None) -> None:
    """One self-contained HTML page: `sections` are (heading, html body); PNGs are embedded as base64.

    A body may reference an image as {{img:KEY}}, replaced by an <img> of `images[KEY]` (a PNG path).
    """
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        for key, img in (images or {}).items():
            token = "{{img:" + key + "}}"
            if token in body:
                body = body.replace(token, f"<img alt='{html.escape(key)}' src='{png_data_uri(img)}'>")
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts))


def tile_crop(img: Tensor, top: int, left: int, size: int) -> Tensor:
    """The (3, size, size) window at (top, left) of a (3, H, W) or (1, 3, H, W) image, as a CPU float tensor."""
    x = img[0] if img.dim() == 4 else img
    return x[:, top:top + size, left:left + size].detach().float().cpu().clone()


def detail_window(img: Tensor, size: int, stride: int = 8) -> tuple[int, int]:
    """(top, left) of the size x size window with the most gradient energy: where SR methods differ most."""
    x = img[0] if img.dim() == 4 else img
    g = x.float().mean(dim=0)
    h, w = g.shape
    if size >= h or size >= w:
        return 0, 0
    energy = torch.zeros_like(g)
    energy[:, 1:] += (g[:, 1:] - g[:, :-1]).abs()
    energy[1:, :] += (g[1:, :] - g[:-1, :]).abs()
    pooled = torch.nn.functional.avg_pool2d(energy[None, None], size, stride=stride)[0, 0]
    idx = int(torch.argmax(pooled))
    return (idx // pooled.shape[1]) * stride, (idx % pooled.shape[1]) * stride
