"""`gansr posthoc` on a tiny 16 px generator and tiny SR checkpoints: the files it writes, that every method
upscales the same samples (bicubic = gan_sr.degrade.imresize, a checkpoint = its model applied by hand),
determinism, scoring against references at the output size, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.data.synth import make_split_dirs
from gan_sr.degrade import imresize
from gan_sr.errors import ConfigError
from gan_sr.gan.networks import Generator, gan_config
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.io.images import quantize, read_image
from gan_sr.pipelines import posthoc as P
from gan_sr.sr import registry
from gan_sr.train.gan import generate, load_generator

GAN_CFG = gan_config(16, "cpu", channel_base=64, channel_max=32, z_dim=16, w_dim=16)
TINY_SR = {"srcnn": {"widths": (8, 4)}, "espcn": {"widths": (8, 4)}, "srgan": {"num_blocks": 1, "nf": 8},
           "esrgan": {"num_blocks": 1, "nf": 8, "gc": 4}, "srresnet": {"num_blocks": 1, "nf": 8},
           "rrdb": {"num_blocks": 1, "nf": 8, "gc": 4}}


def save_gan(path, meta=None, seed=0):
    torch.manual_seed(seed)
    g = Generator(**GAN_CFG)
    save_checkpoint(path, {"kind": "gan", "model": {"name": "stylegan2-lite", "scale": 1, "preset": "cpu",
                                                    "config": GAN_CFG},
                           "state_dict": g.state_dict(), "ema": g.state_dict(), "step": 0, "meta": meta or {}})
    return path


def save_sr(path, name, scale, *, step=100, meta=None, seed=0):
    torch.manual_seed(seed)
    model = registry.build_model(name, scale, "cpu", **TINY_SR[name])
    save_checkpoint(path, {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict(),
                           "ema": None, "step": step, "meta": meta or {"wall_s": 1.0, "init": None}})
    return path


@pytest.fixture(scope="module")
def t(tmp_path_factory):
    """A shipped-checkpoints folder (tiny GAN as gan_anime_64.pt, tiny SR models at x4 and x2) and data."""
    root = tmp_path_factory.mktemp("posthoc")
    ship = root / "ship"
    save_gan(ship / P.DEFAULT_GAN, {"kimg": 1.5, "wall_s": 12.0})
    for name in TINY_SR:
        for scale in (2, 4):
            save_sr(ship / f"{name}_x{scale}.pt", name, scale)
    make_split_dirs(root / "data", {"test": 5, "val": 5}, size=64, seed=3)
    make_split_dirs(root / "small", {"test": 3, "val": 3}, size=32, seed=4)
    return root


@pytest.fixture()
def shipped(t, monkeypatch):
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(t / "ship"))
    return t / "ship"


def invoke(*args):
    return CliRunner().invoke(main, ["posthoc", *map(str, args)])


def samples(ckpt, n, seed=0):
    return generate(load_generator(ckpt), n, seed=seed)


def png(path):
    return read_image(path).rgb


def test_writes_images_grid_and_reports_with_the_default_gan(t, shipped, tmp_path):
    out = tmp_path / "out"
    r = invoke("--sr", "bicubic,espcn", "--sr", "anime4k", "--n", 3, "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert r.output == ""
    for folder in ("gan_16px", "bicubic", "espcn", "anime4k"):
        assert sorted(p.name for p in (out / folder).iterdir()) == ["0000.png", "0001.png", "0002.png"]
    assert png(out / "gan_16px" / "0000.png").shape == (3, 16, 16)
    assert png(out / "espcn" / "0002.png").shape == (3, 64, 64)
    grid = png(out / "grid.png")
    # a 14 px header row and 3 sample rows of 64 px tiles (2 px gaps); GAN column, then 3 methods
    assert grid.shape == (3, 14 + 3 * (64 + 2), 4 * 64 + 3 * 2)
    rep = json.loads((out / "report.json").read_text())
    assert rep["gan"] == str(shipped / P.DEFAULT_GAN) and rep["gan_compute"] == {"kimg": 1.5, "wall_s": 12.0}
    assert [row["method"] for row in rep["rows"]] == ["bicubic", "espcn", "anime4k"]
    assert all(row["total_s"] == pytest.approx(row["sample_s"] + row["upscale_s"]) and row["total_s"] > 0
               for row in rep["rows"])
    assert not any("swd_mean" in row for row in rep["rows"])
    md = (out / "report.md").read_text()
    assert "| espcn | espcn |" in md and "trained 1.5 kimg in 12 s" in md and "![grid](grid.png)" in md
    page = (out / "index.html").read_text()
    assert "data:image/png;base64," in page and "<table>" in page


def test_every_method_upscales_the_same_samples(t, shipped, tmp_path):
    gan = shipped / P.DEFAULT_GAN
    espcn = t / "espcn_other.pt"
    save_sr(espcn, "espcn", 4, seed=7)
    out = tmp_path / "o"
    res = P.run_posthoc(["bicubic", f"espcn-b={espcn}"], n=4, seed=3, out=out, quiet=True)
    lo = samples(gan, 4, seed=3)
    assert torch.equal(torch.stack([png(out / "gan_16px" / f"{i:04d}.png") for i in range(4)]), quantize(lo))
    bicubic = imresize(lo, 4).clamp(0, 1)
    got = torch.stack([png(out / "bicubic" / f"{i:04d}.png") for i in range(4)])
    assert (got - quantize(bicubic)).abs().max() <= 1 / 255 + 1e-6
    assert (got - bicubic).abs().max() <= 0.5 / 255 + 1e-6
    model = registry.load_model(espcn, 4)
    with torch.no_grad():
        want = model(lo).clamp(0, 1)
    got = torch.stack([png(out / "espcn-b" / f"{i:04d}.png") for i in range(4)])
    assert (got - want).abs().max() <= 0.5 / 255 + 1e-6
    assert res["methods"]["espcn-b"] == {"model": "espcn", "ckpt": str(espcn)}


def test_same_seed_same_samples_across_runs_other_seed_differs(shipped, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert invoke("--sr", "bicubic", "--n", 2, "--seed", seed, "--out", tmp_path / name, "--quiet").exit_code == 0
    read = lambda d: (tmp_path / d / "bicubic" / "0001.png").read_bytes()  # noqa: E731
    assert read("a") == read("b") != read("c")


def test_all_runs_every_registered_method(t, shipped, tmp_path):
    res = P.run_posthoc("all", n=2, scale=2, out=tmp_path / "all", quiet=True)
    assert [r["method"] for r in res["rows"]] == [s.name for s in registry.list_models(shipped_only=True)]
    assert res["res_hi"] == 32


def test_scores_against_references_at_the_output_size(t, shipped, tmp_path):
    out = tmp_path / "scored"
    res = P.run_posthoc(["bicubic", "srcnn"], n=8, seed=0, out=out, ref=t / "data", quiet=True, pairs=30)
    rows = {r["method"]: r for r in res["rows"]}
    assert list(rows) == ["bicubic", "srcnn", "real"]
    for r in rows.values():
        assert r["images"] == 5  # the test split holds 5 images, so 5 of the 8 samples are scored
        assert {"swd_64px", "swd_32px", "swd_16px", "swd_mean", "msssim"} <= set(r)
        assert r["swd_mean"] == pytest.approx((r["swd_64px"] + r["swd_32px"] + r["swd_16px"]) / 3)
    assert rows["real"]["source"].endswith("(val vs test)") and "total_s" not in rows["real"]
    assert any("first 5 samples" in n for n in res["notes"])
    from gan_sr.metrics.sample_quality import score_samples
    from gan_sr.train.gan import load_reference

    real = load_reference(t / "data", 64, split="test")
    lo = samples(shipped / P.DEFAULT_GAN, 8)
    want = score_samples(real, imresize(lo, 4).clamp(0, 1)[:5], seed=0, pairs=30)
    assert rows["bicubic"]["swd_mean"] == pytest.approx(want["swd_mean"])
    assert rows["bicubic"]["msssim"] == pytest.approx(want["msssim_fake"])
    md = (out / "report.md").read_text()
    assert "| real | - | 5 |" in md and "swd_64px" in md


def test_a_plain_reference_folder_has_no_real_row(t, shipped, tmp_path):
    res = P.run_posthoc(["bicubic"], n=2, out=tmp_path / "p", ref=t / "data" / "test", quiet=True, pairs=5)
    assert [r["method"] for r in res["rows"]] == ["bicubic"]
    assert any("no real-vs-real row" in n for n in res["notes"])


def test_upscale_batch_is_fp32_batch_invariant_and_reports_progress():
    model = registry.build_model("espcn", 2, "cpu", widths=(8, 4)).eval()
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    seen = []
    a = P.upscale_batch(x, model, batch=2, on_batch=seen.append)
    b = P.upscale_batch(x, model, batch=16)
    assert seen == [2, 2, 1] and a.dtype == torch.float32 and a.shape == (5, 3, 16, 16)
    assert torch.allclose(a, b, atol=1e-6) and a.min() >= 0 and a.max() <= 1
    with pytest.raises(ConfigError, match="batch must be at least 1"):
        P.upscale_batch(x, model, batch=0)
    with pytest.raises(ConfigError, match=r"\(N, 3, H, W\)"):
        P.upscale_batch(x[0], model)


def one_line_error(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
    for w in words:
        assert w in r.output, (w, r.output)


def test_errors_are_one_line(t, shipped, tmp_path, monkeypatch):
    srgan = shipped / "srgan_x4.pt"
    one_line_error(invoke("--sr", "edsr", "--out", tmp_path / "a"), "--sr 'edsr'", "unknown SR method", "esrgan")
    one_line_error(invoke("--sr", "bicubic,,espcn", "--out", tmp_path / "a"), "empty entry")
    one_line_error(invoke("--sr", f"espcn={srgan}", "--out", tmp_path / "a"), "holds a srgan model, not espcn")
    one_line_error(invoke("--sr", f"a/b={srgan}", "--out", tmp_path / "a"), "label 'a/b'")
    one_line_error(invoke("--sr", f"x={tmp_path / 'none.pt'}", "--out", tmp_path / "a"), "none.pt", "no such")
    one_line_error(invoke("--sr", "bicubic", "--n", 0, "--out", tmp_path / "a"), "--n 0")
    one_line_error(invoke("--sr", "bicubic", "--pairs", 0, "--out", tmp_path / "a"), "--pairs 0")
    one_line_error(invoke("--sr", "bicubic", "--n", 1, "--ref", t / "data", "--out", tmp_path / "a"), "--n 1",
                   "at least 2")
    one_line_error(invoke("--sr", "bicubic", "--scale", 5, "--out", tmp_path / "a"), "--scale 5")
    one_line_error(invoke("--sr", "bicubic", "--ref", t / "small", "--n", 2, "--out", tmp_path / "a"),
                   "--ref", "smaller than the 64 px output", "32x32", "--scale 2", "never upsampled")
    one_line_error(invoke("--sr", "bicubic", "--ref", tmp_path / "nope", "--out", tmp_path / "a"),
                   "--ref", "nope", "does not exist")
    one_line_error(invoke("--sr", "bicubic", "--ref", t / "data", "--out", t / "data" / "out"),
                   "--out", "inside the input")
    one_line_error(invoke("--sr", "bicubic", "--out", shipped), "inputs are never outputs")
    one_line_error(invoke("--sr", "bicubic", "--gan", tmp_path / "g.pt", "--out", tmp_path / "a"),
                   "--gan", "g.pt", "gansr gan train", "gansr gan export")
    one_line_error(invoke("--sr", "bicubic", "--gan", srgan, "--out", tmp_path / "a"), "not a GAN generator")
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(tmp_path / "empty"))
    one_line_error(invoke("--sr", "bicubic", "--out", tmp_path / "a"), "default GAN checkpoint",
                   P.DEFAULT_GAN, "gansr gan train", "gansr gan export", "GANSR_CHECKPOINTS")
    assert not (tmp_path / "a").exists()
    r = invoke("--sr", "bicubic", "--truncation", "nan", "--out", tmp_path / "a")
    assert r.exit_code == 2 and "--truncation" in r.output and "Traceback" not in r.output


def test_missing_shipped_sr_checkpoint_says_how_to_get_one(t, tmp_path, monkeypatch):
    ship = tmp_path / "ship"
    save_gan(ship / P.DEFAULT_GAN)
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(ship))
    one_line_error(invoke("--sr", "esrgan", "--out", tmp_path / "o"), "--sr esrgan", "esrgan_x4.pt",
                   "gansr sr train")


def test_help_ends_with_examples():
    r = CliRunner().invoke(main, ["posthoc", "--help"])
    assert r.exit_code == 0 and "Examples:" in r.output and "gansr posthoc --sr esrgan" in r.output
