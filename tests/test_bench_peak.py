"""Speed against the physical limit in `sr bench`: the matmul peak and each model's achieved GFLOP/s."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main as cli
from gan_sr.data.synth import write_synth_dataset
from gan_sr.errors import ConfigError
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.metrics.timing import Timing
from gan_sr.pipelines import bench_costs
from gan_sr.pipelines.bench import achieved_gflops, matmul_peak, run_bench
from gan_sr.sr.registry import build_model, model_entry

PEAK = dict(peak_size=64, peak_repeats=2)


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hr")
    write_synth_dataset(d, 2, size=(48, 40), seed=5)
    return d


@pytest.fixture(autouse=True)
def no_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(tmp_path / "no_checkpoints"))


def espcn_macs(h: int, w: int, scale: int) -> int:
    """ESPCN on Y by hand: 5x5 1->64, 3x3 64->32, 3x3 32->r*r, all at LR size with 'same' padding."""
    return h * w * (1 * 25 * 64 + 64 * 9 * 32 + 32 * 9 * scale * scale)


def test_achieved_gflops_is_two_flops_per_mac():
    assert achieved_gflops(10**9, 2.0) == pytest.approx(1.0)
    assert achieved_gflops(3 * 10**6, 1e-3) == pytest.approx(6.0)
    assert achieved_gflops(0, 1.0) is None and achieved_gflops(10, 0.0) is None


def test_matmul_peak_takes_the_best_call(monkeypatch):
    calls = []

    def fake_time_fn(fn, *, warmup, runs, device):
        calls.append((warmup, runs))
        fn()
        return Timing(0.5, 0.25, 1.0, runs, warmup, (0.5, 0.25, 1.0))

    monkeypatch.setattr(bench_costs, "time_fn", fake_time_fn)
    p = matmul_peak(size=100, repeats=3)
    assert calls == [(1, 3)]
    assert p["best_s"] == 0.25 and p["gflops"] == pytest.approx(2 * 100**3 / 0.25 / 1e9)
    assert p["threads"] == torch.get_num_threads() and p["dtype"] == "fp32" and p["size"] == 100


def test_matmul_peak_real_run_is_consistent():
    p = matmul_peak(size=64, repeats=2)
    assert p["gflops"] == pytest.approx(2 * 64**3 / p["best_s"] / 1e9) and p["gflops"] > 0


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(size=8), "--peak-size must be an integer >= 16"),
    (dict(size=True), "--peak-size must be an integer >= 16"),
    (dict(size=64, repeats=0), "repeats must be an integer >= 1"),
    (dict(size=64, dtype="fp8"), "dtype must be one of fp32, bf16"),
])
def test_matmul_peak_bad_options(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        matmul_peak(**kwargs)


def test_bench_reports_gflops_of_a_model_with_known_macs(hr_dir, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "espcn.pt"
    save_checkpoint(path, {"kind": "sr", "model": model_entry("espcn", 4), "state_dict": build_model("espcn", 4).state_dict()})
    res = run_bench("bicubic", hr_dir, 4, tmp_path / "out", ckpts=[f"espcn={path}"], runs=2, warmup=0,
                    timing_size=16, **PEAK)
    peak = res["meta"]["matmul_peak"]["fp32"]
    assert peak["size"] == 64 and peak["threads"] == res["meta"]["threads"] and peak["gflops"] > 0
    bicubic, espcn = res["methods"]
    assert espcn["macs"] == espcn_macs(16, 16, 4)
    fp32 = espcn["fp32"]
    assert fp32["gflops"] == pytest.approx(2 * espcn_macs(16, 16, 4) / fp32["median_s"] / 1e9)
    assert fp32["peak_pct"] == pytest.approx(100 * fp32["gflops"] / peak["gflops"])
    assert bicubic["fp32"]["gflops"] is None and bicubic["fp32"]["peak_pct"] is None  # no conv MACs to count

    out = tmp_path / "out"
    rows = {r["method"]: r for r in csv.DictReader((out / "results.csv").open())}
    assert float(rows["espcn"]["gflops_fp32"]) == pytest.approx(fp32["gflops"])
    assert float(rows["espcn"]["peak_pct_fp32"]) == pytest.approx(fp32["peak_pct"])
    assert rows["bicubic"]["gflops_fp32"] == ""
    md = (out / "results.md").read_text()
    assert "gflops_fp32" in md and "peak_pct_fp32" in md
    assert f"matmul peak (fp32, same run): {peak['gflops']:.1f} GFLOP/s (torch.mm 64x64, best of 2" in md
    assert json.loads((out / "results.json").read_text())["meta"]["matmul_peak"]["fp32"]["size"] == 64
    assert "matmul peak" in (out / "index.html").read_text()


def test_no_timing_means_no_peak(hr_dir, tmp_path):
    res = run_bench("bicubic", hr_dir, 4, tmp_path / "out", timing=False, timing_size=16, peak_size=8)
    assert res["meta"]["matmul_peak"] == {}
    assert "gflops" not in (tmp_path / "out" / "results.csv").read_text()


def test_bad_peak_size_in_bench_and_cli(hr_dir, tmp_path):
    with pytest.raises(ConfigError, match="--peak-size must be an integer >= 16"):
        run_bench("bicubic", hr_dir, 4, tmp_path / "out", runs=1, warmup=0, timing_size=16, peak_size=4)
    r = CliRunner().invoke(cli, ["sr", "bench", "--models", "bicubic", "--data", str(hr_dir), "--out",
                                 str(tmp_path / "cli"), "--peak-size", "4", "--quiet"])
    assert r.exit_code == 2 and "Error: --peak-size must be an integer >= 16" in r.output


def test_cli_prints_the_peak(hr_dir, tmp_path):
    r = CliRunner().invoke(cli, ["sr", "bench", "--models", "bicubic", "--data", str(hr_dir), "--out",
                                 str(tmp_path / "cli"), "--runs", "1", "--warmup", "0", "--timing-size", "16",
                                 "--peak-size", "64"])
    assert r.exit_code == 0, r.output
    assert "matmul peak (fp32):" in r.output and "GFLOP/s (torch.mm 64x64" in r.output
    assert "gflops_fp32" in r.output and "None" not in r.output
