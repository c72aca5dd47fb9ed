"""`gansr compare`: one row per arm scored against the same references, compute read from the checkpoints' meta
written here (GAN kimg/wall, SR steps/wall with the init chain, the joint run and its inits), the same latents in
every arm (a stack made of the GAN and an SR checkpoint reproduces that post-hoc arm), and one-line errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

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
from gan_sr.pipelines import compare as C
from gan_sr.train.gan import generate, load_generator
from test_posthoc import GAN_CFG, one_line_error, save_gan, save_sr


@pytest.fixture(scope="module")
def t(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    save_gan(root / "gan.pt", {"kimg": 12.5, "wall_s": 340.0})
    save_sr(root / "psnr.pt", "espcn", 2, step=300, meta={"wall_s": 20.0, "init": None})
    save_sr(root / "espcn.pt", "espcn", 2, step=700, meta={"wall_s": 55.0, "init": str(root / "psnr.pt")}, seed=1)
    save_sr(root / "orphan.pt", "srcnn", 2, step=50, meta={"wall_s": 9.0, "init": str(root / "gone.pt")})
    make_split_dirs(root / "data", {"test": 4, "val": 4}, size=32, seed=5)
    return root


def joint_meta(t, **extra):
    return {"kimg": 3.0, "nimg": 3000, "wall_s": 100.0, "alpha": 1.0, "phase": "joint",
            "g0_init": {"path": str(t / "gan.pt"), "kimg": 12.5, "nimg": 12500, "wall_s": 340.0},
            "sr_init": {"path": str(t / "espcn.pt"), "name": "espcn", "scale": 2, "steps": 700, "wall_s": 55.0,
                        "init": str(t / "psnr.pt")}, "train_images": 10, **extra}


def fake_joint_api(gan, res_hi=32):
    """Stands in for gan_sr.train.joint: a 'stack' whose hi images are the bicubic upscale of the GAN's samples."""
    def generate_stack(stack, n, *, seed=0, batch=64, truncation=1.0, device="cpu"):
        lo = generate(load_generator(gan), n, seed=seed)
        return lo, imresize(lo, 2).clamp(0, 1)

    return SimpleNamespace(load_stack=lambda p, device="cpu": SimpleNamespace(res_lo=16, scale=res_hi // 16,
                                                                              res_hi=res_hi),
                           generate_stack=generate_stack)


def use_fake_joint(monkeypatch, fake):
    import gan_sr.train.joint as joint

    monkeypatch.setattr(joint, "load_stack", fake.load_stack)
    monkeypatch.setattr(joint, "generate_stack", fake.generate_stack)


def test_one_row_per_arm_with_compute_from_the_checkpoints(t, tmp_path, monkeypatch):
    run = tmp_path / "runs" / "joint_a"
    save_checkpoint(run / "last.pt", {"kind": "joint", "model": {"name": "stack"}, "step": 9, "meta": joint_meta(t)})
    use_fake_joint(monkeypatch, fake_joint_api(t / "gan.pt"))
    out = tmp_path / "cmp"
    res = C.run_compare(gan=t / "gan.pt", joint=[run / "last.pt"], methods=["bicubic", f"espcn={t / 'espcn.pt'}",
                                                                          f"orphan={t / 'orphan.pt'}"],
                        scale=2, n=4, seed=0, ref=t / "data", split="test", out=out, quiet=True, pairs=20)
    rows = {r["arm"]: r for r in res["rows"]}
    assert list(rows) == ["bicubic", "espcn", "orphan", "joint_a", "real"]
    assert [r["kind"] for r in rows.values()] == ["posthoc"] * 3 + ["joint", "real"]
    b, e, o, j = rows["bicubic"], rows["espcn"], rows["orphan"], rows["joint_a"]
    assert (b["g0_kimg"], b["g0_wall_s"], b["sr_steps"], b["sr_wall_s"]) == (12.5, 340.0, 0, 0.0)
    assert b["total_wall_s"] == 340.0
    assert (e["sr_steps"], e["sr_wall_s"], e["total_wall_s"]) == (700 + 300, 55.0 + 20.0, 340.0 + 75.0)
    assert "incl. init" in e["compute_note"] and "psnr.pt" in e["compute_note"]
    assert o["sr_wall_s"] is None and o["total_wall_s"] is None and "gone.pt" in o["compute_note"]
    assert (j["g0_kimg"], j["g0_wall_s"], j["sr_steps"], j["sr_wall_s"], j["joint_kimg"], j["joint_wall_s"]) == \
        (12.5, 340.0, 1000, 75.0, 3.0, 100.0)
    assert j["total_wall_s"] == 340.0 + 75.0 + 100.0
    assert b["joint_kimg"] is None and "sample_s" not in j and j["total_s"] > 0
    # same latents, same references, same scorer: the stand-in stack equals the bicubic arm
    assert j["swd_mean"] == b["swd_mean"] and j["msssim"] == b["msssim"]
    assert rows["real"]["swd_mean"] != b["swd_mean"] and rows["real"]["images"] == 4
    md = (out / "report.md").read_text()
    for arm in rows:
        assert sum(line.startswith(f"| {arm} |") for line in md.splitlines()) == 1
    assert "| bicubic | posthoc | 4 |" in md and "| 12.5 | 340 | 0 | 0 |" in md
    assert json.loads((out / "report.json").read_text())["rows"][3]["joint_wall_s"] == 100.0
    assert "data:image/png;base64," in (out / "index.html").read_text()
    assert sorted(p.name for p in (out / "joint_a").iterdir()) == [f"{i:04d}.png" for i in range(4)]


def test_a_real_stack_built_from_the_gan_and_an_sr_checkpoint_reproduces_that_arm(t, tmp_path):
    joint = pytest.importorskip("gan_sr.train.joint")
    from gan_sr.gan.stack import Stack
    from gan_sr.sr import registry

    sr = registry.load_model(t / "espcn.pt", 2)
    stack = Stack(load_generator(t / "gan.pt"), sr, alpha=1.0)
    state = stack.state_dict()
    model = {"name": joint.MODEL_NAME, "scale": 2, "preset": "cpu",
             "config": {"g0": GAN_CFG, "sr": {"name": "espcn", "scale": 2, "preset": "cpu",
                                              "overrides": dict(sr.registry_entry["config"])}}}
    ckpt = tmp_path / "stack" / "last.pt"
    save_checkpoint(ckpt, {"kind": "joint", "model": model, "state_dict": state, "ema": state, "step": 1,
                           "meta": joint_meta(t)})
    res = C.run_compare(gan=t / "gan.pt", joint=[ckpt], methods=[f"espcn={t / 'espcn.pt'}"], scale=2, n=4,
                        ref=t / "data", out=tmp_path / "o", quiet=True, pairs=10)
    rows = {r["arm"]: r for r in res["rows"]}
    assert list(rows) == ["espcn", "joint-stack", "real"]
    assert rows["joint-stack"]["swd_mean"] == pytest.approx(rows["espcn"]["swd_mean"], rel=1e-3)
    assert rows["joint-stack"]["total_wall_s"] == 515.0
    from gan_sr.io.images import read_image

    for i in range(4):
        a, b = (read_image(tmp_path / "o" / arm / f"{i:04d}.png").rgb for arm in ("espcn", "joint-stack"))
        assert (a - b).abs().max() <= 1 / 255 + 1e-6


def test_errors(t, tmp_path, monkeypatch):
    def invoke(*args):
        return CliRunner().invoke(main, ["compare", "--gan", str(t / "gan.pt"), *map(str, args)])

    one_line_error(invoke("--sr", "bicubic", "--out", tmp_path / "a"), "--ref is required")
    one_line_error(invoke("--sr", "bicubic", "--joint", tmp_path / "none.pt", "--ref", t / "data",
                          "--out", tmp_path / "a"), "--joint", "none.pt", "no such checkpoint")
    one_line_error(invoke("--sr", "bicubic", "--ref", t / "data", "--out", t / "data" / "x"), "inside the input")
    one_line_error(invoke("--sr", "bicubic", "--ref", t / "data", "--scale", 4, "--out", tmp_path / "a"),
                   "smaller than the 64 px output", "--scale 2")
    run = tmp_path / "j.pt"
    save_checkpoint(run, {"kind": "joint", "model": {"name": "stack"}, "meta": joint_meta(t)})
    use_fake_joint(monkeypatch, fake_joint_api(t / "gan.pt", res_hi=64))
    one_line_error(invoke("--sr", "bicubic", "--joint", run, "--ref", t / "data", "--out", tmp_path / "a"),
                   "--joint", "64 px", "set --scale 4")
    with pytest.raises(ConfigError, match="nothing to compare"):
        C.run_compare(gan=t / "gan.pt", joint=[], methods=[], scale=2, n=4, ref=t / "data", out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_joint_labels_are_unique_and_name_the_run(tmp_path):
    taken: set[str] = set()
    labels = []
    for p in (tmp_path / "run_a" / "last.pt", tmp_path / "run_a" / "last.pt", tmp_path / "x y.pt",
              tmp_path / "joint_b" / "stack.pt"):
        labels.append(C.joint_label(p, taken))
        taken.add(labels[-1])
    assert labels == ["joint-run_a", "joint-run_a-2", "joint-x_y", "joint_b"]


def test_help_ends_with_examples():
    r = CliRunner().invoke(main, ["compare", "--help"])
    assert r.exit_code == 0 and "Examples:" in r.output and "gansr compare --joint" in r.output


def test_a_native_generator_at_the_output_resolution_is_an_arm_of_its_own(t, tmp_path):
    cfg = gan_config(32, "cpu", channel_base=64, channel_max=32, z_dim=16, w_dim=16)
    torch.manual_seed(3)
    g = Generator(**cfg)
    native = tmp_path / "runs" / "heads32" / "last.pt"
    save_checkpoint(native, {"kind": "gan", "model": {"name": "stylegan2-lite", "scale": 1, "preset": "cpu",
                                                      "config": cfg},
                             "state_dict": g.state_dict(), "ema": g.state_dict(), "step": 0,
                             "meta": {"kimg": 20.0, "wall_s": 400.0}})
    out = tmp_path / "o"
    res = C.run_compare(gan=t / "gan.pt", native=[native], methods=["bicubic"], scale=2, n=4, ref=t / "data",
                        out=out, quiet=True, pairs=4)
    rows = {r["arm"]: r for r in res["rows"] if r["kind"] != "real"}
    assert set(rows) == {"bicubic", "native-heads32"}
    assert rows["native-heads32"]["kind"] == "native" and rows["native-heads32"]["total_wall_s"] == 400.0
    assert torch.equal(read_image(out / "native-heads32" / "0000.png").rgb,
                       quantize(generate(load_generator(native), 1, seed=0))[0])
    small = gan_config(16, "cpu", channel_base=64, channel_max=32, z_dim=16, w_dim=16)
    save_checkpoint(tmp_path / "small.pt", {"kind": "gan", "model": {"name": "stylegan2-lite", "scale": 1,
                                                                      "preset": "cpu", "config": small},
                                            "state_dict": Generator(**small).state_dict(), "step": 0, "meta": {}})
    with pytest.raises(ConfigError, match="a 16 px generator, but the arms make 32 px"):
        C.run_compare(gan=t / "gan.pt", native=[tmp_path / "small.pt"], methods=["bicubic"], scale=2, n=4,
                      ref=t / "data", out=tmp_path / "o2", quiet=True, pairs=4)


def test_edge_sharpness_falls_with_blur_and_scorer_reports_the_new_columns():
    import torch.nn.functional as F

    from gan_sr.metrics.sample_quality import SampleScorer, edge_sharpness

    g = torch.Generator().manual_seed(0)
    sharp = (torch.rand(6, 3, 32, 32, generator=g) > 0.5).float().repeat_interleave(2, -1).repeat_interleave(2, -2)
    blurred = F.avg_pool2d(F.pad(sharp, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert edge_sharpness(blurred) < 0.8 * edge_sharpness(sharp)
    train = torch.rand(10, 3, 64, 64, generator=g)
    scores = SampleScorer(sharp, seed=0, pairs=10, lo_res=32, train=train).score(train[:6].clone())
    assert {"swd_at_32px", "edge", "edge_ratio", "nn_rms_train", "nn_rms_train_real"} <= set(scores)
    assert scores["nn_rms_train"] < 1e-6 < 0.1 < scores["nn_rms_train_real"]  # copies of training images are caught
