"""One table from several `sr bench` runs (experiments/sr_bench_summary.py): cells, medians, order, refusals."""

from __future__ import annotations

import statistics

import pytest

from gan_sr.data.synth import write_synth_dataset
from gan_sr.errors import ConfigError
from gan_sr.pipelines.bench import merge_results, run_bench, write_summary


def fake_run(scale: int, dataset: str, ms_espcn: float, *, gflops=2.0, peak=40.0) -> dict:
    """A results.json-shaped dict: bicubic (no MACs), espcn timed, srgan skipped, one extra --ckpt entry."""
    out_mp_per_s = 1e3 / ms_espcn
    return {
        "meta": {"scale": scale, "threads": 1, "date": "2026-01-01", "git_commit": "abc1234",
                 "matmul_peak": {"fp32": {"gflops": peak}}},
        "datasets": {dataset: {"path": "x", "images": 3}},
        "methods": [
            {"name": "mine", "status": "ok", "datasets": {dataset: {"mean": {"psnr_y": 20.0, "ssim_y": 0.5}}},
             "fp32": {"out_mp_per_s": 1.0, "gflops": 1.0, "peak_pct": 2.5}},
            {"name": "espcn", "status": "ok", "datasets": {dataset: {"mean": {"psnr_y": 30.123, "ssim_y": 0.81234}}},
             "fp32": {"out_mp_per_s": out_mp_per_s, "gflops": gflops, "peak_pct": 100 * gflops / peak}},
            {"name": "srgan", "status": "skipped", "reason": "skipped: no checkpoint"},
            {"name": "bicubic", "status": "ok", "datasets": {dataset: {"mean": {"psnr_y": 28.0, "ssim_y": 0.8}}},
             "fp32": {"out_mp_per_s": 100.0, "gflops": None, "peak_pct": None}},
        ],
    }


def test_merge_cells_order_and_medians():
    runs = [("a", fake_run(2, "Set5", 10.0)), ("b", fake_run(4, "Set5", 30.0, gflops=3.0)),
            ("c", fake_run(4, "anime/test", 50.0, gflops=5.0, peak=50.0)), ("d", fake_run(4, "BSD100", 40.0, gflops=4.0))]
    rows, datasets = merge_results(runs)
    assert datasets == ["Set5", "anime/test", "BSD100"]
    assert [(r["scale"], r["method"]) for r in rows] == [
        (4, "bicubic"), (4, "espcn"), (4, "srgan"), (4, "mine"), (2, "bicubic"), (2, "espcn"), (2, "srgan"), (2, "mine")]
    espcn4 = rows[1]
    assert espcn4["Set5"] == "30.12 / 0.8123" and espcn4["anime/test"] == "30.12 / 0.8123"
    assert espcn4["ms_per_mp"] == pytest.approx(40.0)  # median of 30, 50, 40 ms per output MP
    assert espcn4["gflops"] == pytest.approx(4.0)
    assert espcn4["peak_pct"] == pytest.approx(statistics.median([100 * 3 / 40, 100 * 5 / 50, 100 * 4 / 40]))
    assert espcn4["timed_runs"] == 3
    assert rows[0]["gflops"] is None and rows[0]["ms_per_mp"] == pytest.approx(10.0)
    assert rows[2]["Set5"] == "skipped" and rows[2]["ms_per_mp"] is None and rows[2]["timed_runs"] == 0
    assert "Set5" in rows[4] and "anime/test" not in rows[4]


def test_same_cell_twice_is_refused():
    with pytest.raises(ConfigError, match="b: mine on Set5 at x4 is already in a; give each"):
        merge_results([("a", fake_run(4, "Set5", 10.0)), ("b", fake_run(4, "Set5", 12.0))])


def test_write_summary_markdown(tmp_path):
    runs = [("runs/x2", fake_run(2, "Set5", 10.0, peak=30.0)), ("runs/x4", fake_run(4, "Set5", 20.0, peak=50.0))]
    text = write_summary(tmp_path / "s.md", runs, command="python merge")
    assert (tmp_path / "s.md").read_text() == text
    assert "| scale | method | Set5 | ms_per_mp | gflops | peak_pct | timed_runs |" in text
    assert "| 4 | espcn | 30.12 / 0.8123 | 20.0 | 2.00 | 4.0 | 1 |" in text
    assert "| 2 | bicubic | 28.00 / 0.8000 | 10.0 |  |  | 1 |" in text
    assert "median 40.0 GFLOP/s, range 30.0-50.0" in text and "`python merge`" in text and "`runs/x4`" in text


def test_merge_of_real_runs(tmp_path):
    hr = tmp_path / "hr"
    write_synth_dataset(hr, 2, size=(48, 40), seed=2)
    runs = [(f"x{s}", run_bench("bicubic", hr, s, tmp_path / f"out{s}", runs=1, warmup=0, timing_size=16,
                                peak_size=32, peak_repeats=1)) for s in (2, 4)]
    rows, datasets = merge_results(runs)
    assert datasets == ["hr"] and [r["scale"] for r in rows] == [4, 2]
    for (_, res), row in zip(reversed(runs), rows):
        mean = res["methods"][0]["datasets"]["hr"]["mean"]
        assert row["hr"] == f"{mean['psnr_y']:.2f} / {mean['ssim_y']:.4f}"
        assert row["ms_per_mp"] == pytest.approx(1e3 / res["methods"][0]["fp32"]["out_mp_per_s"])
