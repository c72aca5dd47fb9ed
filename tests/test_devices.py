"""gan_sr.devices.parse_device: the one --device reader (bench, upscale, load_model)."""

import pytest
import torch

from gan_sr.devices import parse_device
from gan_sr.errors import ConfigError


def test_parse_device_reads_what_torch_reads_and_auto():
    assert parse_device("cpu") == parse_device(torch.device("cpu")) == torch.device("cpu")
    assert parse_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_parse_device_refuses_with_one_line_naming_the_value():
    with pytest.raises(ConfigError, match=r"--device 'gpu0' is not a device torch knows \(auto, cpu, cuda"):
        parse_device("gpu0")
    with pytest.raises(ConfigError, match="--device meta: this command runs on cpu or cuda"):
        parse_device("meta", types=("cpu", "cuda"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_parse_device_refuses_cuda_without_one():
    with pytest.raises(ConfigError, match="--device cuda:1: no CUDA device is available here; use --device cpu"):
        parse_device("cuda:1")
