"""The shipped srgan_x4 scored 19.46 dB (Y) against bicubic's 29.75 on the drawn-art test split. Cause: SRResNet's
first init (He-normal everywhere, BN gamma 1) starts with an output of std ~1.6 and a sub-pixel checkerboard,
and a 200-step MSE stage did not undo it. EMA, BN running statistics and the GAN stage were ruled out
(raw vs EMA weights, stored vs recomputed BN statistics: within 0.3 dB). Also: the ship script's bench section."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_sr.degrade import imresize, modcrop
from gan_sr.errors import CheckpointError, ConfigError
from gan_sr.io.checkpoints import load_checkpoint, save_checkpoint
from gan_sr.io.images import quantize, write_image
from gan_sr.metrics.psnr_ssim import psnr, ssim
from gan_sr.sr import registry
from gan_sr.sr.srresnet import ResidualBlock, SRResNet, icnr_

ROOT = Path(__file__).resolve().parents[1]


def _he_everywhere(net: SRResNet) -> SRResNet:
    """The first version's init, for contrast: He-normal convs, zero biases, BN at PyTorch's defaults."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
    return net


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fresh_srresnet_is_small_smooth_and_independent_of_bn_mode(scale):
    torch.manual_seed(0)
    net = registry.build_model("srgan", scale, "cpu")
    lr = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        train_out = net.train()(lr)
        eval_out = net.eval()(lr)
    assert train_out.std().item() < 0.2  # the first init: ~1.6 in train mode, ~100 in eval mode
    torch.testing.assert_close(train_out, eval_out)
    for block in net.body:
        with torch.no_grad():
            x = torch.randn(1, 32, 8, 8)
            torch.testing.assert_close(block(x), x)  # residual blocks start as identities


def test_the_first_init_fails_those_checks():
    torch.manual_seed(0)
    net = _he_everywhere(registry.build_model("srgan", 4, "cpu"))
    lr = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        train_out, eval_out = net.train()(lr), net.eval()(lr)
    assert train_out.std().item() > 0.5
    assert (train_out - eval_out).abs().max().item() > 1.0


@pytest.mark.parametrize("r", [2, 3])
def test_icnr_gives_nearest_neighbour_subpixels(r):
    conv = nn.Conv2d(8, 4 * r * r, 3, padding=1)
    icnr_(conv.weight, r)
    nn.init.zeros_(conv.bias)
    out = F.pixel_shuffle(conv(torch.randn(1, 8, 5, 5)), r)
    blocks = out.unfold(2, r, r).unfold(3, r, r)  # (1, 4, 5, 5, r, r): one r x r block per LR pixel
    torch.testing.assert_close(blocks, blocks[..., :1, :1].expand_as(blocks))
    with pytest.raises(ValueError, match="divisible by"):
        icnr_(torch.empty(5, 8, 3, 3), 2)


def test_bn_layers_left_at_gamma_zero_are_only_the_closing_ones():
    net = SRResNet(4, num_blocks=3, nf=16)
    zero = {id(b.body[4]) for b in net.body if isinstance(b, ResidualBlock)} | {id(net.body_out[1])}
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert bool((m.weight == 0).all()) == (id(m) in zero)
    net_nobn = SRResNet(4, num_blocks=2, nf=16, batch_norm=False)  # no BN: still builds, still trains
    assert net_nobn(torch.rand(1, 3, 6, 6)).shape == (1, 3, 24, 24)


def _images(n: int, side: int, seed: int) -> torch.Tensor:
    """Band-limited random colour images in [0, 1] (upsampled noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, side // 3, side // 3, generator=g)
    return F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)


def _short_mse_run(net: SRResNet, steps: int = 60) -> float:
    """Y PSNR of `net` (eval mode) on held-out images after `steps` Adam steps of MSE at x2."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    hr = _images(32, 24, seed=1)
    lr = imresize(hr, 0.5).clamp(0, 1)
    g = torch.Generator().manual_seed(2)
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(hr), (8,), generator=g)
        loss = F.mse_loss(net(lr[idx]), hr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    hr_test = _images(4, 36, seed=3)
    with torch.no_grad():
        sr = net.eval()(imresize(hr_test, 0.5).clamp(0, 1)).clamp(0, 1)
    return psnr(sr, hr_test, crop=2).mean().item()


def test_short_mse_run_learns_much_more_than_with_the_first_init():
    torch.manual_seed(0)
    ours = _short_mse_run(SRResNet(2, num_blocks=2, nf=16))
    torch.manual_seed(0)
    first = _short_mse_run(_he_everywhere(SRResNet(2, num_blocks=2, nf=16)))
    assert ours > first + 3.0, (ours, first)


# ------------------------------------------------------------------------- ship_checkpoint.py bench section


def _ship_module():
    spec = importlib.util.spec_from_file_location("ship_checkpoint", ROOT / "experiments" / "ship_checkpoint.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def tiny_run(tmp_path, monkeypatch):
    """A run folder holding an ESPCN x2 best.pt, a built-layout dataset with a 3-image test split, and
    GANSR_CHECKPOINTS pointed at a temporary folder."""
    monkeypatch.setenv("GANSR_CHECKPOINTS", str(tmp_path / "ckpts"))
    torch.manual_seed(0)
    model = registry.build_model("espcn", 2, "cpu")
    run = tmp_path / "run"
    raw = {k: v + 0.01 for k, v in model.state_dict().items()}  # differs from the EMA weights shipped
    save_checkpoint(run / "best.pt", {
        "kind": "sr", "model": model.registry_entry, "state_dict": raw, "ema": model.state_dict(), "step": 7,
        "meta": {"stage": "mse", "data": "somewhere", "command": "gansr sr train ...", "wall_s": 1.5,
                 "val": {"psnr": 30.0, "ssim": 0.9}},
    })
    data = tmp_path / "data"
    for i in range(3):
        write_image(data / "test" / f"im{i}.png", _images(1, 30, seed=10 + i)[0])
    return run, data, model


def _reference_scores(model: nn.Module, folder: Path, scale: int) -> tuple[float, float, float, float]:
    """Mean Y PSNR/SSIM of model and bicubic on folder's images, computed directly from the metrics."""
    from gan_sr.io.images import read_image

    rows = []
    for p in sorted(folder.glob("*.png")):
        hr = modcrop(read_image(p).rgb[None], scale)
        lr = imresize(hr.double(), 1 / scale).float()
        with torch.no_grad():
            sr = quantize(model.eval()(lr).clamp(0, 1))
        bic = quantize(imresize(lr.double(), scale).float().clamp(0, 1))
        rows.append([psnr(sr, hr, crop=scale).item(), ssim(sr, hr, crop=scale).item(),
                     psnr(bic, hr, crop=scale).item(), ssim(bic, hr, crop=scale).item()])
    return tuple(sum(c) / len(c) for c in zip(*rows))


def test_ship_writes_a_bench_section_scored_like_the_metrics(tiny_run):
    ship = _ship_module()
    run, data, model = tiny_run
    out = ship.ship_run(run, note="a note", bench_data=data)
    assert out.name == "espcn_x2.pt"
    ck = load_checkpoint(out)
    torch.testing.assert_close(ck["state_dict"], model.state_dict())  # EMA weights, not the raw ones
    bench = ck["meta"]["bench"]
    ref = _reference_scores(model, data / "test", 2)
    got = (bench["model"]["psnr_y"], bench["model"]["ssim_y"], bench["bicubic"]["psnr_y"], bench["bicubic"]["ssim_y"])
    for a, b in zip(got, ref):
        assert math.isclose(a, b, abs_tol=1e-3), (got, ref)
    card = out.with_suffix(".md").read_text()
    assert "## Bench" in card and f"| bicubic | {ref[2]:.2f} | {ref[3]:.4f} |" in card
    assert f"| espcn_x2.pt | {ref[0]:.2f} | {ref[1]:.4f} |" in card
    assert "a note" in card and "| steps | 7 |" in card


def test_recard_keeps_weights_and_note(tiny_run):
    ship = _ship_module()
    run, data, model = tiny_run
    out = ship.ship_run(run, note="kept note", bench_data=None)
    assert "## Bench" not in out.with_suffix(".md").read_text()
    before = load_checkpoint(out)
    ship.recard(out, bench_data=data)
    after = load_checkpoint(out)
    torch.testing.assert_close(after["state_dict"], before["state_dict"])
    assert after["meta"]["commit"] == before["meta"]["commit"] and after["meta"]["bench"]["images"] == 3
    card = out.with_suffix(".md").read_text()
    assert "kept note" in card and "## Bench" in card


def test_ship_errors_name_the_file_or_option(tiny_run, tmp_path, capsys):
    ship = _ship_module()
    run, data, _ = tiny_run
    with pytest.raises(ConfigError, match=r"--bench-data .*nowhere: no such folder"):
        ship.ship_run(run, bench_data=tmp_path / "nowhere")
    assert not (tmp_path / "ckpts" / "espcn_x2.pt").exists()  # checked before anything is written
    with pytest.raises(CheckpointError, match="last.pt"):
        ship.ship_run(run, which="last.pt", bench_data=data)
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, {"kind": "gan", "state_dict": {}})
    with pytest.raises(ConfigError, match=r"bad.pt: not a shipped SR checkpoint"):
        ship.recard(bad, bench_data=data)
    assert ship.main([str(run), "--bench-data", str(tmp_path / "nowhere")]) == 2
    assert "Error: --bench-data" in capsys.readouterr().err
