"""FID/KID: the Inception plumbing on a random weights file made here, and the statistics against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_sr.errors import CheckpointError, ConfigError, WeightsMissingError
from gan_sr.metrics import fid as M



@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A file in pytorch-fid's layout: same keys and shapes as pt_inception-2015-12-05, random values."""
    torch.manual_seed(0)
    net = M.FIDInceptionV3()
    state = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith("running_var"):
            state[k] = torch.rand_like(v) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.randn_like(v) * 0.1
        else:
            state[k] = v.clone()
    path = tmp_path_factory.mktemp("w") / M.WEIGHTS_FILE
    torch.save(state, path)
    return path


def test_layout_matches_pytorch_fid(weights_file):
    net = M.load_inception(weights_file)
    keys = net.state_dict().keys()
    for k in ("Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch5x5_2.bn.running_var", "Mixed_7c.branch3x3dbl_3b.conv.weight",
              "Mixed_6e.branch7x7dbl_5.conv.weight", "fc.weight"):
        assert k in keys
    # torchvision's Inception3 (27,161,264 params) minus its aux head (3,326,696) plus 8 more classes (16,392).
    assert sum(p.numel() for p in net.parameters()) == 27_161_264 - 3_326_696 + 16_392
    assert net.fc.weight.shape == (1008, 2048)


def test_features_from_loaded_weights(weights_file):
    net = M.load_inception(weights_file)
    saved = torch.load(weights_file, weights_only=True)
    assert torch.equal(net.Mixed_6b.branch7x7_2.bn.running_var, saved["Mixed_6b.branch7x7_2.bn.running_var"])
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    f = M.inception_features(net, iter([x]))
    assert f.shape == (1, 2048) and f.dtype == torch.float64 and torch.isfinite(f).all()
    assert (f >= 0).all() and f.std() > 0  # ReLU features, global average pooled


def test_pool_branches_follow_the_tensorflow_graph():
    blk = M.InceptionE(8, max_pool=True)
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(M._avg3(torch.ones(1, 1, 4, 4)), torch.ones(1, 1, 4, 4))  # padding excluded from the mean
    with torch.no_grad():
        out = blk(x)
        pool = blk.branch_pool(torch.nn.functional.max_pool2d(x, 3, stride=1, padding=1))
    assert torch.allclose(out[:, -192:], pool)


def test_weights_errors(tmp_path, monkeypatch, weights_file):
    monkeypatch.delenv(M.ENV_VAR, raising=False)
    with pytest.raises(WeightsMissingError, match="--inception PATH"):
        M.load_inception(None)
    with pytest.raises(WeightsMissingError, match="no such file"):
        M.load_inception(tmp_path / "nope.pth")
    monkeypatch.setenv(M.ENV_VAR, str(weights_file))
    assert M.resolve_weights(None) == weights_file
    foreign = tmp_path / "foreign.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, foreign)
    with pytest.raises(CheckpointError, match="not the FID Inception layout.*missing: Conv2d_1a_3x3"):
        M.load_inception(foreign)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="cannot read it"):
        M.load_inception(junk)


def test_frechet_distance_closed_form_for_diagonal_covariances(rng):
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    ref = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert M.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(ref)
    from scipy import linalg

    a, b = torch.randn(6, 6, generator=rng, dtype=torch.float64), torch.randn(6, 6, generator=rng, dtype=torch.float64)
    c1, c2 = (a @ a.T).numpy(), (b @ b.T + 0.1 * torch.eye(6, dtype=torch.float64)).numpy()
    m1, m2 = np.zeros(6), np.ones(6)
    ref = 6.0 + np.trace(c1) + np.trace(c2) - 2 * np.trace(np.real(linalg.sqrtm(c1 @ c2)))
    assert M.frechet_distance(m1, c1, m2, c2) == pytest.approx(ref, rel=1e-8)
    x = torch.randn(400, 5, generator=rng, dtype=torch.float64)
    assert M.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-6)
    few_a, few_b = torch.randn(7, 20, generator=rng, dtype=torch.float64), torch.randn(9, 20, generator=rng, dtype=torch.float64)
    ca, cb = np.cov(few_a.numpy(), rowvar=False), np.cov(few_b.numpy(), rowvar=False)  # rank-deficient
    ref = M.frechet_distance(few_a.mean(0).numpy(), ca, few_b.mean(0).numpy(), cb)
    assert M.fid_from_features(few_a, few_b) == pytest.approx(ref, rel=1e-6)
    assert M.fid_from_features(x, x + 1.0) == pytest.approx(5.0, rel=1e-6)


def _kid_reference(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return sxx + syy - 2 * sxy


def test_kid_matches_unbiased_mmd_and_clips_subsets(rng):
    real = torch.randn(12, 4, generator=rng, dtype=torch.float64)
    fake = torch.randn(9, 4, generator=rng, dtype=torch.float64) + 0.5
    mean, std = M.kid_from_features(real, fake, subsets=1, subset_size=1000, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    fi = torch.randperm(9, generator=g)[:9]
    ri = torch.randperm(12, generator=g)[:9]  # subset clipped to the smaller set
    assert mean == pytest.approx(_kid_reference(fake[fi].numpy(), real[ri].numpy()), rel=1e-9)
    same, _ = M.kid_from_features(real, real.clone(), subsets=20)
    far, _ = M.kid_from_features(real, real + 2.0, subsets=20)
    assert abs(same) < far
    with pytest.raises(ConfigError, match="at least 2 images"):
        M.kid_from_features(real[:1], fake)
    with pytest.raises(ConfigError, match="at least 2 images"):
        M.fid_from_features(real[:1], fake)
