"""Community SR weights: every layout users keep (BasicSR params_ema / params, bare, the original ESRGAN key
names, .safetensors, Real-ESRGAN's x2 pixel-unshuffle layout, SRVGGNetCompact) loads, is detected with its
scale, and computes exactly what the native model does; anything else gets one clear error."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from gan_sr.cli import main
from gan_sr.errors import CheckpointError
from gan_sr.io.images import write_image
from gan_sr.sr.registry import build_model, load_model
from gan_sr.sr.srvgg import SRVGGNetCompact
from model_checks import same_model_output


def _rrdb(scale=4, **kw):
    torch.manual_seed(scale)
    return build_model("rrdb", scale, "cpu", num_blocks=2, nf=8, gc=4, **kw).eval()


def _old_names(state: dict, num_blocks: int) -> dict:
    """BasicSR names -> the original ESRGAN repository's (its B.sequential flattens the up/HR blocks)."""
    ups = sorted(k.split(".")[0] for k in state if k.startswith("conv_up") and k.endswith("weight"))
    index = {"conv_first": "model.0", "conv_body": f"model.1.sub.{num_blocks}"}
    for n, name in enumerate(ups):
        index[name] = f"model.{3 + 3 * n}"
    index["conv_hr"] = f"model.{3 + 3 * len(ups) - 1}"
    index["conv_last"] = f"model.{3 + 3 * len(ups) + 1}"
    out = {}
    for k, v in state.items():
        parts = k.split(".")
        if parts[0] == "body":
            out[f"model.1.sub.{parts[1]}.RDB{parts[2][-1]}.{parts[3]}.0.{parts[4]}"] = v
        else:
            out[f"{index[parts[0]]}.{parts[1]}"] = v
    return out


LAYOUTS = {
    "params_ema": lambda sd, nb: {"params_ema": sd, "iter": 5},
    "params": lambda sd, nb: {"params": sd},
    "bare": lambda sd, nb: dict(sd),
    "module_prefix": lambda sd, nb: {f"module.{k}": v for k, v in sd.items()},
    "old_esrgan": lambda sd, nb: _old_names(sd, nb),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("scale", [4, 2])
def test_rrdb_layouts_load_and_match_the_native_model(tmp_path, layout, scale):
    net = _rrdb(scale)
    path = tmp_path / "community.pth"
    torch.save(LAYOUTS[layout](net.state_dict(), 2), path)
    loaded = load_model(path)
    x = torch.rand(1, 3, 12, 12)
    assert loaded.scale == scale and type(loaded).__name__ == "RRDBNet"
    with torch.no_grad():
        assert same_model_output(loaded(x), net(x))


def test_safetensors_and_the_realesrgan_x2_unshuffle_layout(tmp_path):
    net = _rrdb(2, unshuffle=2)  # Real-ESRGAN x2plus: pixel-unshuffle 2, then the x4 body
    assert net.conv_first.in_channels == 12
    save_file(net.state_dict(), str(tmp_path / "x2plus.safetensors"))
    loaded = load_model(tmp_path / "x2plus.safetensors")
    x = torch.rand(1, 3, 12, 12)
    assert loaded.scale == 2 and loaded.unshuffle == 2
    with torch.no_grad():
        assert loaded(x).shape == (1, 3, 24, 24) and same_model_output(loaded(x), net(x))


@pytest.mark.parametrize("act", ["prelu", "leakyrelu"])
def test_srvgg_compact_loads_with_its_scale_and_depth(tmp_path, act):
    torch.manual_seed(0)
    net = SRVGGNetCompact(4, nf=8, num_conv=3, act=act).eval()
    torch.save({"params": net.state_dict()}, tmp_path / "animevideov3.pth")
    loaded = load_model(tmp_path / "animevideov3.pth")
    x = torch.rand(1, 3, 10, 10)
    assert isinstance(loaded, SRVGGNetCompact) and loaded.scale == 4 and len(loaded.body) == len(net.body)
    with torch.no_grad():
        assert same_model_output(loaded(x), net(x))


def test_unknown_unsafe_and_mismatched_files_give_one_clear_error(tmp_path):
    torch.save({"encoder.weight": torch.zeros(4, 3, 3, 3)}, tmp_path / "other.pth")
    unknown = r"other\.pth: a raw state_dict of 1 tensors in no known SR architecture .*encoder\.weight \(4, 3, 3, 3\)"
    with pytest.raises(CheckpointError, match=unknown):
        load_model(tmp_path / "other.pth")
    torch.save({"params_ema": {"iter": 3}}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match=r"empty\.pth: no state dict of tensors"):
        load_model(tmp_path / "empty.pth")
    (tmp_path / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match=r"broken\.safetensors: not a readable \.safetensors file"):
        load_model(tmp_path / "broken.safetensors")
    torch.save({"params": _rrdb(4).state_dict()}, tmp_path / "x4.pth")
    with pytest.raises(CheckpointError, match=r"holds a x4 rrdb model, but --scale 2"):
        load_model(tmp_path / "x4.pth", 2)


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_in_community_weights_is_never_run(tmp_path, capsys):
    torch.save({"params": {"w": torch.zeros(1)}, "hook": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="not loaded for safety"):
        load_model(tmp_path / "evil.pth")
    assert "must never run" not in capsys.readouterr().out


def test_upscale_takes_a_community_weights_file(tmp_path):
    torch.save({"params_ema": _rrdb(4).state_dict()}, tmp_path / "community.pth")
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 16, 12))
    res = CliRunner().invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                    "--model", str(tmp_path / "community.pth"), "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    from gan_sr.io.images import read_image

    assert read_image(tmp_path / "out" / "a_x4.png").rgb.shape == (3, 64, 48)


def test_bench_and_posthoc_take_a_weights_file_by_path(tmp_path):
    torch.save({"params_ema": _rrdb(4).state_dict()}, tmp_path / "RealESRGAN_x4plus_anime.pth")
    for i in range(2):
        write_image(tmp_path / "hr" / f"{i}.png", torch.rand(3, 32, 32))
    from gan_sr.pipelines.bench import run_bench
    from gan_sr.pipelines.posthoc import parse_methods

    res = run_bench(f"bicubic,{tmp_path / 'RealESRGAN_x4plus_anime.pth'}", str(tmp_path / "hr"), 4, out=tmp_path / "b",
                    timing=False)
    names = [m["name"] for m in res["methods"]]
    assert names == ["bicubic", "RealESRGAN_x4plus_anime"]
    (m,) = parse_methods(str(tmp_path / "RealESRGAN_x4plus_anime.pth"), 4)
    assert (m.label, m.name) == ("RealESRGAN_x4plus_anime", "rrdb")


def test_skip_existing_continues_an_interrupted_batch(tmp_path):
    for name in ("a", "b", "c"):
        write_image(tmp_path / "in" / f"{name}.png", torch.rand(3, 8, 8))
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    write_image(tmp_path / "out" / "b_x2.png", torch.zeros(3, 16, 16))  # done before the interruption
    before = (tmp_path / "out" / "b_x2.png").read_bytes()
    res = CliRunner().invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                                    "bicubic", "--scale", "2", "--skip-existing"])
    assert res.exit_code == 1  # one input failed; the others went on
    assert "upscaled 2 of 4" in res.output and "1 already there" in res.output and "broken.png" in res.output
    assert (tmp_path / "out" / "b_x2.png").read_bytes() == before
    assert (tmp_path / "out" / "a_x2.png").is_file() and (tmp_path / "out" / "c_x2.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--tile", "16", "--tile-pad", "16"], "--tile 16 must be larger than --tile-pad 16"),
    (["--scale", "0"], "--scale 0 is not available for bicubic"),
])
def test_upscale_checks_its_arguments_before_any_work(tmp_path, args, message):
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 8, 8))
    res = CliRunner().invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                                    "bicubic", *args])
    assert res.exit_code == 2 and message in res.output and not (tmp_path / "out").exists()


def test_upscale_refuses_an_output_whose_parent_is_missing(tmp_path):
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 8, 8))
    res = CliRunner().invoke(main, ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "typo" / "out"),
                                    "--model", "bicubic"])
    assert res.exit_code == 2 and "does not exist" in res.output and not (tmp_path / "typo").exists()
