"""Report helpers: tables, labelled grids, plots and the self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import json
import math

import pytest
import torch
from PIL import Image

from gan_sr.pipelines import report

ROWS = [{"method": "bicubic", "psnr": 28.4321, "params": 0}, {"method": "a|b", "psnr": float("inf"), "params": 12}]


def _png_ok(path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


def test_markdown_table_formats_and_escapes():
    text = report.markdown_table(ROWS, floatfmt={"psnr": "{:.2f}"})
    lines = text.strip().splitlines()
    assert lines[0] == "| method | psnr | params |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| bicubic | 28.43 | 0 |"
    assert lines[3] == "| a\\|b | inf | 12 |"
    assert report.markdown_table([{"a": None, "b": float("nan")}]).splitlines()[2] == "|  | nan |"


def test_csv_and_json_round_trip(tmp_path):
    report.write_csv(tmp_path / "t.csv", ROWS, ["method", "psnr"])
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0] == {"method": "bicubic", "psnr": "28.4321"} and math.isinf(float(rows[1]["psnr"]))
    report.write_json(tmp_path / "t.json", {"rows": ROWS, "path": tmp_path, "nan": float("nan")})
    data = json.loads((tmp_path / "t.json").read_text())  # strict JSON: no Infinity/NaN tokens
    assert data["rows"][1]["psnr"] == "inf" and data["nan"] is None and data["path"] == str(tmp_path)


def test_comparison_grid_draws_tiles_pixel_exact(tmp_path):
    red = torch.zeros(3, 8, 8)
    red[0] = 1
    tiles = [("HR", red), ("bicubic\n30.00 dB", torch.rand(3, 8, 8)), ("x", torch.rand(1, 3, 8, 8))]
    report.comparison_grid(tmp_path / "g.png", tiles, title="t")
    w, h = _png_ok(tmp_path / "g.png")
    assert w > h > 100
    with Image.open(tmp_path / "g.png") as im:
        colours = {c for _, c in im.convert("RGB").getcolors(1 << 20)}
    assert (255, 0, 0) in colours  # the red tile is drawn without smoothing
    with pytest.raises(ValueError):
        report.comparison_grid(tmp_path / "e.png", [])


def test_scatter_and_bars(tmp_path):
    pts = [{"m": "a", "x": 1.0, "y": 20.0, "g": "s1"}, {"m": "b", "x": 100.0, "y": 25.0, "g": "s1"},
           {"m": "c", "x": 0.0, "y": 30.0, "g": "s2"}, {"m": "d", "x": None, "y": 1.0}]
    report.scatter_plot(tmp_path / "s.png", pts, x="x", y="y", label="m", group="g", logx=True)
    _png_ok(tmp_path / "s.png")
    report.bar_plot(tmp_path / "b.png", [("set", ["i1", "i2"], {"a": [20.0, 21.0], "b": [22.0, 19.5]})], ylabel="dB")
    _png_ok(tmp_path / "b.png")


def test_html_is_self_contained(tmp_path):
    report.comparison_grid(tmp_path / "g.png", [("HR", torch.rand(3, 8, 8))])
    report.write_html(tmp_path / "i.html", "Bench <x>", [("Table", report.html_table(ROWS)), ("Grid", "{{img:grid}}")],
                      images={"grid": tmp_path / "g.png"})
    page = (tmp_path / "i.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>Bench &lt;x&gt;</title>" in page and "<td>a|b</td>" in page and "{{img:" not in page
    uri = page.split("src='")[1].split("'")[0]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == (tmp_path / "g.png").read_bytes()


def test_detail_window_finds_the_textured_patch():
    img = torch.full((3, 64, 64), 0.5)
    img[:, 40:56, 8:24] = (torch.arange(16) % 2).float().view(1, 16, 1).expand(3, 16, 16)  # stripes
    top, left = report.detail_window(img, 16, stride=4)
    assert (top, left) == (40, 8)
    assert report.detail_window(img, 64) == (0, 0)
    crop = report.tile_crop(img[None], top, left, 16)
    assert crop.shape == (3, 16, 16) and torch.equal(crop, img[:, 40:56, 8:24])
