"""score_samples, the one scorer of generated images: the same numbers `gansr gan eval` gave before it moved here
(checked against the metric functions composed independently and against values pinned from the old code),
seeding, and one-line errors for sets that cannot be compared."""

from __future__ import annotations

import pytest
import torch

from gan_sr.errors import ConfigError
from gan_sr.gan.networks import Generator, gan_config
from gan_sr.io.checkpoints import save_checkpoint
from gan_sr.metrics.fid import FIDInceptionV3, fid_from_features, inception_features, kid_from_features
from gan_sr.metrics.msssim import msssim_diversity
from gan_sr.metrics.msssim import msssim_batch
from gan_sr.metrics.sample_quality import SampleScorer, edge_sharpness, score_samples
from gan_sr.metrics.swd import swd
from gan_sr.train import gan as T


def _sets(res=32, n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n, 3, res, res, generator=g)
    fake = (real + 0.2 * torch.randn(n, 3, res, res, generator=g)).clamp(0, 1)
    return real, fake


def _reference(real, fake, seed, pairs, net=None):
    """What evaluate_generator computed inline before the refactor."""
    s = swd(real, fake, generator=torch.Generator().manual_seed(seed))
    out = {"images": real.shape[0], "res": real.shape[-1]}
    out.update({f"swd_{r}px": v for r, v in s["levels"].items()})
    out["swd_mean"] = s["mean"]
    out["edge"] = edge_sharpness(fake)
    out["edge_ratio"] = out["edge"] / edge_sharpness(real)
    out["msssim_fake"] = msssim_diversity(fake, pairs=pairs, generator=torch.Generator().manual_seed(seed))
    out["msssim_real"] = msssim_diversity(real, pairs=pairs, generator=torch.Generator().manual_seed(seed))
    if net is not None:
        fr, ff = inception_features(net, real), inception_features(net, fake)
        out["fid"] = fid_from_features(fr, ff)
        out["kid"], out["kid_std"] = kid_from_features(fr, ff, generator=torch.Generator().manual_seed(seed))
    return out


def test_equals_the_metrics_composed_by_hand():
    real, fake = _sets(32)
    got = score_samples(real, fake, seed=5, pairs=40)
    want = _reference(real, fake, 5, 40)
    assert list(got) == list(want)
    assert got == pytest.approx(want, rel=0, abs=0)
    assert set(k for k in got if k.startswith("swd_") and k != "swd_mean") == {"swd_32px", "swd_16px"}


class _PoolFeatures(torch.nn.Module):
    """A cheap stand-in feature network: 4x4 average-pooled pixels (48 features)."""

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def test_fid_kid_from_a_loaded_network_match_the_features_by_hand():
    real, fake = _sets(16, n=8)
    net = _PoolFeatures()
    got = score_samples(real, fake, seed=2, pairs=10, inception=net)
    assert got == pytest.approx(_reference(real, fake, 2, 10, net), rel=1e-12)
    assert got["fid"] > 0


def test_fid_kid_from_a_weights_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save({k: v for k, v in FIDInceptionV3().state_dict().items() if "num_batches" not in k}, path)
    real, fake = _sets(16, n=2)
    out = score_samples(real, fake, seed=2, pairs=4, inception=path)
    assert {"fid", "kid", "kid_std"} <= set(out)


def test_evaluate_generator_goes_through_score_samples_and_keeps_its_numbers(tmp_path):
    """The refactored `gansr gan eval` path: same dict as scoring the generator's samples directly, and the
    values the pre-refactor code printed for this fixed setup (measured once before the move)."""
    from gan_sr.data.synth import make_split_dirs

    torch.manual_seed(0)
    cfg = gan_config(16, "cpu", channel_base=64, channel_max=32, z_dim=16, w_dim=16)
    g = Generator(**cfg)
    ckpt = tmp_path / "g.pt"
    save_checkpoint(ckpt, {"kind": "gan", "model": {"name": "stylegan2-lite", "scale": 1, "preset": "cpu",
                                                    "config": cfg},
                           "state_dict": g.state_dict(), "ema": g.state_dict(), "step": 0, "meta": {}})
    data = make_split_dirs(tmp_path / "data", {"train": 4, "val": 4, "test": 6}, size=16, seed=3)
    got = T.evaluate_generator(ckpt, data, n=6, seed=3, pairs=50)
    real = T.load_reference(data, 16, split="test", limit=6)
    fake = T.generate(T.load_generator(ckpt), 6, seed=3)
    assert got == score_samples(real, fake, seed=3, pairs=50)
    pinned = {"images": 6, "res": 16, "swd_16px": 218.80375627454924, "msssim_fake": 0.1265428962257328,
              "msssim_real": 0.10952938065752851}
    assert got["swd_mean"] == got["swd_16px"]
    assert {k: got[k] for k in pinned} == pytest.approx(pinned, rel=1e-6)


def test_one_scorer_for_many_sets_gives_what_score_samples_gives():
    real, fake = _sets(16, n=4)
    other = fake.flip(-1)
    net = _PoolFeatures()
    scorer = SampleScorer(real, seed=4, pairs=12, inception=net)
    assert scorer.score(fake) == score_samples(real, fake, seed=4, pairs=12, inception=net)
    assert scorer.score(other) == score_samples(real, other, seed=4, pairs=12, inception=net)
    assert scorer.real_diversity() == score_samples(real, fake, seed=4, pairs=12)["msssim_real"]


def test_msssim_batch_shrinks_with_size_and_leaves_the_value_alone():
    assert [msssim_batch(r) for r in (16, 64, 128, 256, 1024)] == [64, 16, 4, 1, 1]
    x = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    a = msssim_diversity(x, pairs=20, batch=msssim_batch(64), generator=torch.Generator().manual_seed(1))
    b = msssim_diversity(x, pairs=20, batch=64, generator=torch.Generator().manual_seed(1))
    assert a == pytest.approx(b, rel=1e-12)


def test_seeded_and_sensitive():
    real, fake = _sets(32)
    assert score_samples(real, fake, seed=0, pairs=20) == score_samples(real, fake, seed=0, pairs=20)
    assert score_samples(real, fake, seed=0, pairs=20) != score_samples(real, fake, seed=1, pairs=20)
    far = torch.zeros_like(fake)
    far[:, 0] = 1.0
    far += 0.01 * torch.rand(far.shape, generator=torch.Generator().manual_seed(0))
    assert score_samples(real, far, pairs=20)["swd_mean"] > score_samples(real, fake, pairs=20)["swd_mean"]


def test_tiny_images_skip_msssim():
    real, fake = _sets(8, n=4)
    out = score_samples(real, fake, pairs=10)
    assert "msssim_fake" not in out and "swd_mean" in out and out["res"] == 8


@pytest.mark.parametrize("real, fake, match", [
    (torch.rand(4, 3, 16, 16), torch.rand(4, 3, 32, 32), "16x16 px but fakes are 32x32"),
    (torch.rand(4, 3, 16, 16), torch.rand(3, 3, 16, 16), "4 real and 3 fake"),
    (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), "at least 2 images"),
    (torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16), r"real images must be a \(N, 3, H, W\)"),
    (torch.rand(4, 3, 16, 16), torch.rand(3, 16, 16), r"fake images must be a \(N, 3, H, W\)"),
])
def test_errors(real, fake, match):
    with pytest.raises(ConfigError, match=match):
        score_samples(real, fake)
