"""gansr sr export: clear error without onnx, refusal of size-baking traces, round trip with onnxruntime."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from click.testing import CliRunner

from gan_sr.cli import main
from gan_sr.errors import ConfigError
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.pipelines import export as export_mod
from gan_sr.pipelines.export import MissingDependencyError, check_dynamic_trace, export_onnx
from gan_sr.sr.registry import build_model


def _without(monkeypatch, *packages):
    real = importlib.util.find_spec
    monkeypatch.setattr(export_mod.importlib.util, "find_spec", lambda name, *a: None if name in packages else real(name, *a))


def test_missing_onnx_says_pip_install(monkeypatch, tmp_path):
    _without(monkeypatch, "onnx")
    with pytest.raises(MissingDependencyError, match="pip install onnx"):
        export_onnx(build_model("espcn", 2, channels="rgb"), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_missing_onnx(monkeypatch, tmp_path):
    _without(monkeypatch, "onnx")
    model = build_model("espcn", 2, channels="rgb")
    save_checkpoint(tmp_path / "e.pt", {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict()})
    result = CliRunner().invoke(main, ["sr", "export", "--ckpt", str(tmp_path / "e.pt"), "--scale", "2",
                                       "--onnx", str(tmp_path / "e.onnx")])
    assert result.exit_code == 2 and "pip install onnx" in result.output


def test_trace_check_accepts_convnets_and_refuses_bicubic_paths():
    torch.manual_seed(0)
    assert check_dynamic_trace(build_model("espcn", 2, channels="rgb").eval(), (16, 16)) <= 1e-4
    assert check_dynamic_trace(build_model("srgan", 2, "cpu").eval(), (16, 16)) <= 1e-4
    with pytest.raises(ConfigError, match="cannot be exported with dynamic height/width"):
        check_dynamic_trace(build_model("espcn", 2).eval(), (16, 16))


@pytest.mark.parametrize("args,message", [
    (["--model", "espcn", "--onnx", "x.txt"], "ending in .onnx"),
    (["--model", "bicubic", "--onnx", "x.onnx", "--size", "big"], "--size"),
    (["--model", "nosuch", "--onnx", "x.onnx"], "unknown SR model"),
    (["--onnx", "x.onnx"], "--model"),
])
def test_cli_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    model = build_model("espcn", 4)
    save_checkpoint(tmp_path / "espcn.pt", {"kind": "sr", "model": model.registry_entry, "state_dict": model.state_dict()})
    if args[:2] == ["--model", "espcn"]:
        args = ["--ckpt", "espcn.pt", *args[2:]]
    result = CliRunner().invoke(main, ["sr", "export", "--scale", "4", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_round_trip_with_onnxruntime(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = build_model("espcn", 3, channels="rgb").eval()
    result = export_onnx(model, tmp_path / "e.onnx", size=(20, 24))
    assert result.path.is_file() and result.check_size == (27, 37)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4
    static = export_onnx(build_model("bicubic", 2), tmp_path / "b.onnx", size=(16, 16), dynamic=False)
    assert static.max_abs_diff < 1e-4


def test_onnxruntime_runs_other_batch_and_sizes(tmp_path):
    """Independent of export_onnx's own check: a batch of 2 at a size never traced, compared with eager torch."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(1)
    model = build_model("espcn", 2, channels="rgb").eval()
    export_onnx(model, tmp_path / "e.onnx", size=(16, 16), check=False)
    session = ort.InferenceSession(str(tmp_path / "e.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["lr"] and isinstance(session.get_inputs()[0].shape[2], str)
    x = torch.rand(2, 3, 23, 41)
    (got,) = session.run(None, {"lr": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (2, 3, 46, 82) and float(abs(got - want).max()) < 1e-4
