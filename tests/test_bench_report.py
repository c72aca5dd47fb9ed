"""report.line_plot (the ESRGAN interpolation curve): a PNG of the expected size, and its refusals."""

from __future__ import annotations

import pytest
from PIL import Image

from gan_sr.pipelines import report


def test_line_plot_writes_a_png(tmp_path):
    path = tmp_path / "curve.png"
    report.line_plot(path, [0, 0.5, 1], {"PSNR": [28.2, 28.1, 27.9]}, right={"SSIM": [0.776, 0.777, 0.776]},
                     xlabel="alpha", ylabel="dB", right_label="SSIM", mark_x=0.5, title="sweep")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (640, 420)
        # not a blank canvas: the lines and labels put dark pixels on it
        assert im.convert("L").getextrema()[0] < 100


def test_line_plot_needs_a_series(tmp_path):
    with pytest.raises(ValueError, match="at least one series"):
        report.line_plot(tmp_path / "x.png", [0, 1], {})
