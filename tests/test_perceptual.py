"""VGG19 perceptual loss: torchvision-compatible loading, layer selection, clear errors, never random weights."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from gan_sr.errors import ConfigError, WeightsMissingError
from gan_sr.losses.perceptual import LAYER_NAMES, VGG19_FILE, PerceptualLoss, VGGFeatures, default_weights_path

# torchvision vgg19: conv indices of `features` and their output widths
CONVS = [(0, 64), (2, 64), (5, 128), (7, 128), (10, 256), (12, 256), (14, 256), (16, 256),
         (19, 512), (21, 512), (23, 512), (25, 512), (28, 512), (30, 512), (32, 512), (34, 512)]


@functools.lru_cache(maxsize=1)
def _fake_state(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    state, c_in = {}, 3
    for idx, c in CONVS:
        state[f"features.{idx}.weight"] = torch.randn(c, c_in, 3, 3, generator=g) * (2.0 / (9 * c_in)) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(c, generator=g) * 0.01
        c_in = c
    state["classifier.6.weight"] = torch.zeros(1000, 8)  # the classifier is ignored
    state["classifier.6.bias"] = torch.zeros(1000)
    return state


def fake_vgg19_state(seed: int = 0) -> dict:
    """Random tensors under torchvision's vgg19 keys and shapes, classifier included."""
    return dict(_fake_state(seed))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILE
    torch.save(fake_vgg19_state(), path)
    return path


def reference_features(state: dict, x: torch.Tensor, upto: int, relu_last: bool) -> torch.Tensor:
    """Independent forward with F.conv2d over the state dict, up to conv index `upto`."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = (x - mean) / std
    pools = {4, 9, 18, 27}
    for idx, _ in CONVS:
        h = F.conv2d(h, state[f"features.{idx}.weight"], state[f"features.{idx}.bias"], padding=1)
        if idx == upto:
            return F.relu(h) if relu_last else h
        h = F.relu(h)
        if idx + 2 in pools:
            h = F.max_pool2d(h, 2)
    raise AssertionError(upto)


def test_layer_names_follow_torchvision_indices():
    assert len(LAYER_NAMES) == 37
    assert LAYER_NAMES[34] == "conv5_4" and LAYER_NAMES[35] == "relu5_4" and LAYER_NAMES[36] == "pool5"
    assert LAYER_NAMES[2] == "conv1_2" and LAYER_NAMES[4] == "pool1" and LAYER_NAMES[25] == "conv4_4"


def test_loads_torchvision_keys_and_matches_reference(weights):
    vgg = VGGFeatures(weights, ["conv2_2", "relu2_2", "conv5_4"])
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    out = vgg(x)
    state = fake_vgg19_state()
    torch.testing.assert_close(out["conv2_2"], reference_features(state, x, 7, False), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["relu2_2"], reference_features(state, x, 7, True), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["conv5_4"], reference_features(state, x, 34, False), rtol=1e-4, atol=1e-4)
    assert (out["conv5_4"] < 0).any() and (out["relu2_2"] >= 0).all()  # before vs after activation


def test_frozen_and_stops_at_deepest_layer(weights):
    vgg = VGGFeatures(weights, ["relu3_1"])
    assert len(vgg.features) == 12
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training


def test_loss_zero_on_equal_and_gradient_flows(weights):
    loss = PerceptualLoss(weights, "conv5_4", "l1")
    hr = torch.rand(2, 3, 16, 16)
    assert loss(hr, hr).item() == 0.0
    sr = hr.flip(-1).clone().requires_grad_(True)
    val = loss(sr, hr)
    val.backward()
    assert val.item() > 0 and sr.grad is not None and sr.grad.abs().sum() > 0


def test_hub_cache_is_found(weights, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = default_weights_path()
    assert target == tmp_path / "hub" / "checkpoints" / VGG19_FILE
    with pytest.raises(WeightsMissingError, match="--perceptual none"):
        VGGFeatures(None, ["conv5_4"])
    target.parent.mkdir(parents=True)
    target.write_bytes(weights.read_bytes())
    assert VGGFeatures(None, ["conv5_4"]).weights_path == target


def test_missing_file_names_the_option(tmp_path):
    with pytest.raises(WeightsMissingError, match=r"--vgg-weights .*nope\.pth: no such file"):
        VGGFeatures(tmp_path / "nope.pth", ["conv5_4"])


def test_wrong_keys_rejected(tmp_path):
    state = {k.replace("features", "body"): v for k, v in fake_vgg19_state().items()}
    path = tmp_path / "wrong_keys.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMissingError, match=r"missing features\.0\.weight"):
        VGGFeatures(path, ["conv5_4"])


def test_wrong_shapes_rejected(tmp_path):
    state = fake_vgg19_state()
    state["features.10.weight"] = torch.zeros(128, 128, 3, 3)
    path = tmp_path / "vgg16ish.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMissingError, match=r"features\.10\.weight has shape \(128, 128, 3, 3\)"):
        VGGFeatures(path, ["conv5_4"])


def test_garbage_file_rejected(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(WeightsMissingError, match="cannot read VGG19 weights"):
        VGGFeatures(path, ["conv5_4"])


def test_unknown_layer_and_criterion(weights):
    with pytest.raises(ConfigError, match="conv6_1"):
        VGGFeatures(weights, ["conv6_1"])
    with pytest.raises(ConfigError, match="criterion 'huber'"):
        PerceptualLoss(weights, "conv5_4", "huber")
