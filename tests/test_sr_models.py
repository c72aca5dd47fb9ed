"""SR models against their papers: shapes, parameter counts from the layer sizes, hand-written
forward passes, colour handling of the Y-only models, init, and MAC counts against REFERENCE.md §3."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gan_sr.colour import rgb_to_ycbcr
from gan_sr.degrade import imresize
from gan_sr.errors import ConfigError
from gan_sr.sr import registry
from gan_sr.sr.bicubic import Bicubic
from gan_sr.sr.discriminators import SRGANDiscriminator, UNetDiscriminatorSN, VGGStyleDiscriminator
from gan_sr.sr.espcn import ESPCN
from gan_sr.sr.rrdbnet import RRDBNet, ResidualDenseBlock
from gan_sr.sr.srcnn import SRCNN
from gan_sr.sr.srresnet import SRResNet


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    """Parameters of a k x k convolution."""
    return c_in * c_out * k * k + (c_out if bias else 0)


ALL = [(s.name, p) for s in registry.list_models() for p in s.presets]


@pytest.fixture(scope="module")
def rrdb23() -> RRDBNet:
    """The paper's x4 RRDBNet, built once (16.7 M parameters)."""
    return RRDBNet(4)


@pytest.mark.parametrize("name,preset", ALL)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_model_and_scale_gives_rgb_of_the_right_size(name, preset, scale, rng):
    # Depth does not change shapes: two blocks keep this fast; the full nets are built in the count tests.
    shallow = {"num_blocks": 2} if "num_blocks" in registry.get_spec(name).options(preset) else {}
    model = registry.build_model(name, scale, preset, **shallow).eval()
    lr = torch.rand(2, 3, 9, 7, generator=rng)
    with torch.no_grad():
        sr = model(lr)
    assert model.scale == scale
    assert sr.shape == (2, 3, 9 * scale, 7 * scale)
    assert sr.dtype == torch.float32 and torch.isfinite(sr).all()


def test_srcnn_parameter_counts_follow_the_layer_sizes():
    # 9-1-5, n1 = 64, n2 = 32, one channel (Y): the paper's base network.
    assert registry.count_params(SRCNN(4)) == conv(1, 64, 9) + conv(64, 32, 1) + conv(32, 1, 5) == 8129
    nine_five_five = conv(1, 64, 9) + conv(64, 32, 5) + conv(32, 1, 5)
    assert registry.count_params(SRCNN(4, kernels=(9, 5, 5))) == nine_five_five == 57281
    assert registry.count_params(SRCNN(2, channels="rgb")) == conv(3, 64, 9) + conv(64, 32, 1) + conv(32, 3, 5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn_parameter_count(scale):
    expected = conv(1, 64, 5) + conv(64, 32, 3) + conv(32, scale * scale, 3)
    assert registry.count_params(ESPCN(scale)) == expected
    assert registry.count_params(ESPCN(4)) == 24752


def test_srresnet_x4_parameter_count_from_the_paper_layers():
    # Head 9x9 3->64 + PReLU (1 slope); 16 blocks of (conv3 64->64, BN(64), PReLU, conv3, BN);
    # conv3 + BN; two stages of conv3 64->256 + PReLU; tail 9x9 64->3. BN: weight and bias (2*64).
    block = 2 * conv(64, 64, 3) + 2 * 128 + 1
    expected = conv(3, 64, 9) + 1 + 16 * block + conv(64, 64, 3) + 128 + 2 * (conv(64, 256, 3) + 1) + conv(64, 3, 9)
    assert expected == 1_549_462
    assert registry.count_params(SRResNet(4)) == expected
    assert registry.count_params(SRResNet(3)) == expected - 2 * (conv(64, 256, 3) + 1) + conv(64, 576, 3) + 1


def test_rrdbnet_x4_has_exactly_the_papers_parameter_count(rrdb23):
    assert registry.count_params(rrdb23) == 16_697_987
    rdb = conv(64, 32, 3) + conv(96, 32, 3) + conv(128, 32, 3) + conv(160, 32, 3) + conv(192, 64, 3)
    rest = conv(3, 64, 3) + conv(64, 64, 3) + 2 * conv(64, 64, 3) + conv(64, 64, 3) + conv(64, 3, 3)
    assert 23 * 3 * rdb + rest == 16_697_987
    six = registry.count_params(RRDBNet(4, num_blocks=6))
    assert six == 6 * 3 * rdb + rest and abs(six - 4.5e6) < 0.1e6  # Real-ESRGAN's anime model


def test_rrdbnet_keeps_basicsr_parameter_names(rrdb23):
    names = set(rrdb23.state_dict())
    for key in ("conv_first.weight", "body.0.rdb1.conv1.weight", "body.0.rdb3.conv5.bias", "conv_body.weight",
                "conv_up1.weight", "conv_up2.weight", "conv_hr.weight", "conv_last.weight"):
        assert key in names


def test_espcn_matches_a_hand_written_forward(rng):
    r = 3
    model = ESPCN(r, channels="rgb").eval()
    x = torch.rand(1, 3, 5, 4, generator=rng)
    c1, c2, c3 = model.body[0], model.body[2], model.to_subpixels
    h = torch.tanh(F.conv2d(x, c1.weight, c1.bias, padding=2))
    h = torch.tanh(F.conv2d(h, c2.weight, c2.bias, padding=1))
    h = F.conv2d(h, c3.weight, c3.bias, padding=1)
    expected = torch.empty(1, 3, 5 * r, 4 * r)
    for c in range(3):
        for a in range(r):
            for b in range(r):
                expected[0, c, a::r, b::r] = h[0, c * r * r + a * r + b]
    with torch.no_grad():
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_residual_dense_block_matches_the_equations(rng):
    block = ResidualDenseBlock(nf=4, gc=2)
    x = torch.randn(1, 4, 6, 6, generator=rng)
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    c = [block.conv1, block.conv2, block.conv3, block.conv4, block.conv5]
    x1 = lrelu(c[0](x))
    x2 = lrelu(c[1](torch.cat([x, x1], 1)))
    x3 = lrelu(c[2](torch.cat([x, x1, x2], 1)))
    x4 = lrelu(c[3](torch.cat([x, x1, x2, x3], 1)))
    x5 = c[4](torch.cat([x, x1, x2, x3, x4], 1))
    with torch.no_grad():
        assert torch.allclose(block(x), x + 0.2 * x5, atol=1e-6)


def _identity_srcnn(channels: str) -> SRCNN:
    """SRCNN whose three layers pass their input through (positive inputs), so it equals its bicubic."""
    model = SRCNN(3, channels=channels)
    c = 1 if channels == "y" else 3
    with torch.no_grad():
        for layer in (model.extract, model.map, model.reconstruct):
            layer.weight.zero_()
            layer.bias.zero_()
            k = layer.kernel_size[0] // 2
            for i in range(c):
                layer.weight[i, i, k, k] = 1.0
    return model


@pytest.mark.parametrize("channels", ["y", "rgb"])
def test_srcnn_pre_upscales_with_matlab_bicubic(channels, rng):
    lr = 0.3 + 0.4 * torch.rand(1, 3, 8, 7, generator=rng)
    expected = imresize(lr.double(), 3).float()
    with torch.no_grad():
        assert torch.allclose(_identity_srcnn(channels)(lr), expected, atol=1e-5)
        assert torch.allclose(Bicubic(3)(lr), imresize(lr, 3), atol=0)


@pytest.mark.parametrize("cls", [SRCNN, ESPCN])
def test_y_only_models_keep_grey_grey_and_chroma_bicubic(cls, rng):
    torch.manual_seed(1)
    model = cls(4, channels="y").eval()
    with torch.no_grad():  # a visibly non-trivial network
        for p in model.parameters():
            p.normal_(0, 0.3)
        grey = torch.rand(1, 1, 6, 5, generator=rng).expand(1, 3, 6, 5)
        out = model(grey)
        assert (out[:, 0] - out[:, 1]).abs().max() < 1e-5 and (out[:, 1] - out[:, 2]).abs().max() < 1e-5
        assert (out - imresize(grey, 4)).abs().max() > 1e-2  # the network did change the luma
        colour = torch.rand(1, 3, 6, 5, generator=rng)
        cbcr = rgb_to_ycbcr(model(colour))[:, 1:]
        assert torch.allclose(cbcr, imresize(rgb_to_ycbcr(colour)[:, 1:], 4), atol=1e-5)


def test_init_follows_the_papers():
    torch.manual_seed(0)
    srcnn = SRCNN(2)
    assert abs(srcnn.extract.weight.std().item() - 1e-3) < 1e-4 and srcnn.extract.bias.abs().max() == 0
    rdb = RRDBNet(4, num_blocks=1).body[0].rdb1.conv5
    fan_in = rdb.in_channels * 9
    assert abs(rdb.weight.std().item() / (0.1 * math.sqrt(2 / fan_in)) - 1) < 0.05
    espcn = ESPCN(3)
    assert abs(espcn.to_subpixels.weight.std().item() - 1e-3) < 2e-4


def test_bad_model_options_raise_config_errors():
    with pytest.raises(ConfigError, match="channels must be 'y' or 'rgb'"):
        SRCNN(2, channels="yuv")
    with pytest.raises(ConfigError, match="three odd sizes"):
        SRCNN(2, kernels=(9, 2, 5))
    with pytest.raises(ConfigError, match="scale must be an integer >= 2"):
        ESPCN(1)
    with pytest.raises(ConfigError, match="use 2, 3, 4 or 8"):
        RRDBNet(6, num_blocks=1)


def test_srgan_discriminator_follows_the_paper(rng):
    d = SRGANDiscriminator(96)
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2] * 4
    assert not isinstance(d.features[1], nn.BatchNorm2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.features) == 7
    linears = [m for m in d.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512 * 6 * 6, 1024), (1024, 1)]
    assert d(torch.rand(2, 3, 96, 96, generator=rng)).shape == (2, 1)
    with pytest.raises(ConfigError, match="input_size"):
        d(torch.rand(1, 3, 128, 128))
    with pytest.raises(ConfigError, match="multiple of 16"):
        SRGANDiscriminator(100)


def test_esrgan_discriminators(rng):
    vgg = VGGStyleDiscriminator(128)
    assert vgg(torch.rand(2, 3, 128, 128, generator=rng)).shape == (2, 1)
    assert [m.in_features for m in vgg.classifier if isinstance(m, nn.Linear)] == [512 * 4 * 4, 100]
    with pytest.raises(ConfigError, match="4 \\* 2\\^k"):
        VGGStyleDiscriminator(96)
    unet = UNetDiscriminatorSN()
    assert unet(torch.rand(1, 3, 32, 40, generator=rng)).shape == (1, 1, 32, 40)
    names = set(unet.state_dict())
    assert "conv1.parametrizations.weight.original" in names and "conv0.weight" in names
    with pytest.raises(ConfigError, match="divisible by 8"):
        unet(torch.rand(1, 3, 30, 32))


def test_count_macs_matches_hand_counts():
    h, w = 10, 12
    espcn = ESPCN(4)
    assert registry.count_macs(espcn, (h, w)) == h * w * (25 * 64 + 9 * 64 * 32 + 9 * 32 * 16)
    srcnn = SRCNN(2, channels="rgb")
    assert registry.count_macs(srcnn, (1, 3, h, w)) == 4 * h * w * (81 * 3 * 64 + 64 * 32 + 25 * 32 * 3)
    layers = [(96, 3, 64), (48, 64, 64), (48, 64, 128), (24, 128, 128), (24, 128, 256), (12, 256, 256),
              (12, 256, 512), (6, 512, 512)]  # (output side, in, out) of the SRGAN D's eight 3x3 convs at 96 px
    d_macs = sum(side * side * c_in * c_out * 9 for side, c_in, c_out in layers) + 512 * 36 * 1024 + 1024
    assert registry.count_macs(SRGANDiscriminator(96), (96, 96)) == d_macs
    assert registry.count_macs(Bicubic(4), (h, w)) == 0
    with pytest.raises(ConfigError, match="lr_shape"):
        registry.count_macs(espcn, (0, 4))


@pytest.mark.parametrize("model,reference,tolerance", [
    (lambda: ESPCN(4), 3.2e9, 0.03),
    (lambda: SRCNN(4, channels="rgb"), 41e9, 0.03),
    (lambda: RRDBNet(4, num_blocks=6), 740e9, 0.03),
    # REFERENCE gives 329 G; the paper's layers give 287 G (conv MACs only), 13 % lower.
    (lambda: SRResNet(4), 329e9, 0.15),
])
def test_macs_for_a_1080p_output_match_reference(model, reference, tolerance):
    macs = registry.count_macs(model(), (270, 480))
    assert abs(macs / reference - 1) < tolerance, macs


def test_rrdb23_macs_match_reference(rrdb23):
    assert abs(registry.count_macs(rrdb23, (270, 480)) / 2.3e12 - 1) < 0.03  # 1080p output
    assert abs(registry.count_macs(rrdb23, (64, 64)) / 73e9 - 1) < 0.02
