"""PairedDataset and ImageDataset against the files on disk and independent degradations."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.utils.data import DataLoader

from gan_sr.data.datasets import ImageDataset, PairedDataset, collate_pairs, find_split_images
from gan_sr.data.synth import make_split_dirs, synth_image
from gan_sr.degrade import downscale
from gan_sr.errors import ConfigError
from gan_sr.io.images import read_image, write_image

LEVEL = 1.0 / 255.0


def _q8(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255


def _assert_rounds_to(lr: torch.Tensor, ref: torch.Tensor) -> None:
    """lr is ref clamped and rounded to 8 bits; at exact half-levels float noise may round either way."""
    q = _q8(ref)
    off = lr != q
    if off.any():
        assert (lr[off] - q[off]).abs().max().item() <= LEVEL + 1e-6
        frac = (ref[off].clamp(0, 1) * 255) % 1
        assert torch.all((frac - 0.5).abs() < 1e-3), "differs from the reference away from a rounding tie"


def _box(x: torch.Tensor, s: int) -> torch.Tensor:
    """Box average over s x s blocks, written out with reshape so it does not share code with degrade."""
    c, h, w = x.shape
    return x.reshape(c, h // s, s, w // s, s).mean(dim=(2, 4))


def _transforms(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips/rotations of a square image, built from transpose and flips."""
    out = []
    for t in (x, x.transpose(-2, -1)):
        out += [t, t.flip(-1), t.flip(-2), t.flip(-2, -1)]
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A built layout of non-square images whose sides are not multiples of 3 or 4."""
    return make_split_dirs(tmp_path_factory.mktemp("ds") / "data", {"train": 3, "val": 2, "test": 2}, (50, 62), seed=4)


@pytest.fixture(scope="module")
def square(tmp_path_factory):
    return make_split_dirs(tmp_path_factory.mktemp("sq") / "data", {"train": 2, "val": 1}, 48, seed=9)


def _source(root, split, i) -> torch.Tensor:
    return read_image(find_split_images(root, split)[i]).rgb


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shapes_train_crop_and_whole_val(data, scale):
    ds = PairedDataset(data, scale, hr_size=24)
    assert len(ds) == 3
    lr, hr = ds[1]
    assert hr.shape == (3, 24, 24) and lr.shape == (3, 24 // scale, 24 // scale)
    assert lr.dtype == hr.dtype == torch.float32
    assert 0 <= lr.min() and lr.max() <= 1
    val = PairedDataset(data, scale, split="val")
    lr, hr = val[0]
    h, w = 50 - 50 % scale, 62 - 62 % scale
    assert hr.shape == (3, h, w) and lr.shape == (3, h // scale, w // scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_val_lr_is_bicubic_of_modcropped_hr(data, scale):
    ds = PairedDataset(data, scale, split="val")
    for i in range(len(ds)):
        lr, hr = ds[i]
        src = _source(data, "val", i)
        assert torch.equal(hr, src[:, : hr.shape[1], : hr.shape[2]])
        _assert_rounds_to(lr, downscale(hr, scale))
        assert torch.equal(ds[i][0], lr), "val items must be deterministic"


def test_area_degradation_and_float_lr(data):
    lr, hr = PairedDataset(data, 2, split="test", degradation="area", lr_bits=None)[0]
    assert torch.allclose(lr, _box(hr, 2), atol=1e-6)
    lr8, _ = PairedDataset(data, 2, split="test", degradation="area")[0]
    _assert_rounds_to(lr8, _box(hr, 2))
    assert not torch.equal(lr8, lr), "lr_bits=None keeps the unrounded LR"


def test_centre_crop_on_val(data):
    lr, hr = PairedDataset(data, 4, split="val", hr_size=32)[1]
    src = _source(data, "val", 1)
    assert torch.equal(hr, src[:, 9:41, 15:47])
    _assert_rounds_to(lr, downscale(hr, 4))


def test_train_random_crop_is_a_window_of_the_source(data):
    ds = PairedDataset(data, 4, hr_size=16, augment=False)
    src = _source(data, "train", 0)
    torch.manual_seed(0)
    corners = set()
    for _ in range(12):
        lr, hr = ds[0]
        hits = [(t, l) for t in range(50 - 15) for l in range(62 - 15)
                if torch.equal(src[:, t : t + 16, l : l + 16], hr)]
        assert hits, "crop is not a window of the source image"
        corners.add(hits[0])
        _assert_rounds_to(lr, downscale(hr, 4))
    assert len(corners) > 3


def test_augmentation_is_the_same_for_lr_and_hr(square):
    ds = PairedDataset(square, 4)
    src = _source(square, "train", 1)
    src_lr = _q8(downscale(src, 4))
    torch.manual_seed(1)
    seen = set()
    for _ in range(24):
        lr, hr = ds[1]
        k = next(k for k, t in enumerate(_transforms(src)) if torch.equal(t, hr))
        seen.add(k)
        # bicubic commutes with flips and rotations up to float rounding, so the LR must be the same transform
        assert (lr - _transforms(src_lr)[k]).abs().max() <= LEVEL + 1e-6
    assert len(seen) >= 5, "flips and rotations should all occur"
    no_aug = PairedDataset(square, 4, augment=False)
    assert all(torch.equal(no_aug[1][1], src) for _ in range(5))


def test_callable_degradation_hook(square):
    def darker(hr, scale):
        return downscale(hr, scale) * 0.5

    lr, hr = PairedDataset(square, 2, split="val", degradation=darker)[0]
    _assert_rounds_to(lr, downscale(hr, 2) * 0.5)

    def wrong(hr, scale):
        return hr

    with pytest.raises(ConfigError, match=r"degradation 'wrong' returned \(3, 48, 48\).*expected \(3, 24, 24\)"):
        PairedDataset(square, 2, split="val", degradation=wrong)[0]


def test_cache_does_not_change_items(data):
    cached = PairedDataset(data, 3, split="val")
    uncached = PairedDataset(data, 3, split="val", cache_mb=0)
    assert cached._store.used > 0 and uncached._store.used == 0
    for i in range(2):
        assert all(torch.equal(a, b) for a, b in zip(cached[i], uncached[i]))
    lr, hr = cached[0]
    hr.mul_(0)  # a caller scribbling on an item must not reach the cache
    assert cached[0][1].max() > 0


def test_flat_folder_serves_any_split_and_alpha_is_composited(tmp_path):
    rgb = synth_image(0, 0, 32)
    alpha = torch.ones(1, 32, 32)
    alpha[:, :8] = 0
    write_image(tmp_path / "sprite.png", rgb, alpha)
    write_image(tmp_path / "plain.png", synth_image(0, 1, 32))
    (tmp_path / "README.md").write_text("not an image")
    for split in ("train", "val", "test"):
        assert len(PairedDataset(tmp_path, 2, split=split)) == 2
    lr, hr = PairedDataset(tmp_path, 2, split="val")[1]  # sorted: plain.png, sprite.png
    assert torch.equal(hr[:, :8], torch.ones(3, 8, 32))
    assert torch.equal(hr[:, 8:], rgb[:, 8:])


def test_dataloader_batches(data):
    loader = DataLoader(PairedDataset(data, 4, hr_size=16), batch_size=3, num_workers=0)
    lr, hr = next(iter(loader))
    assert lr.shape == (3, 3, 4, 4) and hr.shape == (3, 3, 16, 16)


def test_collate_pairs_names_the_fix():
    batch = [(torch.zeros(3, 4, 4), torch.zeros(3, 8, 8)), (torch.zeros(3, 4, 5), torch.zeros(3, 8, 10))]
    with pytest.raises(ConfigError, match="hr_size"):
        collate_pairs(batch)
    lr, hr = collate_pairs(batch[:1] * 2)
    assert lr.shape == (2, 3, 4, 4)


def test_folder_errors(tmp_path, data):
    with pytest.raises(ConfigError, match=f"{tmp_path / 'missing'} does not exist"):
        PairedDataset(tmp_path / "missing", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no images and no train/val/test"):
        PairedDataset(tmp_path / "empty", 2)
    (tmp_path / "f.png").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        ImageDataset(tmp_path / "f.png", 16)
    (tmp_path / "built" / "train").mkdir(parents=True)
    write_image(tmp_path / "built" / "train" / "a.png", synth_image(0, 0, 16))
    with pytest.raises(ConfigError, match=r"has no val/ folder \(it has train/\)"):
        PairedDataset(tmp_path / "built", 2, split="val")
    (tmp_path / "built" / "test").mkdir()
    with pytest.raises(ConfigError, match=r"built/test holds no images"):
        PairedDataset(tmp_path / "built", 2, split="test")
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        PairedDataset(data, 2, split="dev")


def test_option_errors(data):
    with pytest.raises(ConfigError, match="hr_size must be a positive multiple of the scale 3"):
        PairedDataset(data, 3, hr_size=32)
    with pytest.raises(ConfigError, match="scale must be a positive integer"):
        PairedDataset(data, 0)
    with pytest.raises(ConfigError, match="unknown degradation 'gauss'"):
        PairedDataset(data, 2, degradation="gauss")
    with pytest.raises(ConfigError, match="cache_mb must be >= 0"):
        PairedDataset(data, 2, cache_mb=-1)
    with pytest.raises(ConfigError, match="unknown fit 'pad'"):
        ImageDataset(data, 16, fit="pad")


def test_too_small_images_are_skipped_or_refused(tmp_path):
    write_image(tmp_path / "big.png", synth_image(0, 0, 40))
    write_image(tmp_path / "small.png", synth_image(0, 1, (20, 40)))
    with pytest.warns(UserWarning, match=r"skipping 1 of 2 .*small.png is 40x20 px, hr_size 32 needs at least 32x32"):
        ds = PairedDataset(tmp_path, 4, hr_size=32)
    assert [p.name for p in ds.files] == ["big.png"]
    with pytest.raises(ConfigError, match="every image is too small.*hr_size 64"):
        PairedDataset(tmp_path, 4, hr_size=64)
    with pytest.warns(UserWarning, match="res 32 with fit='crop'"):
        assert len(ImageDataset(tmp_path, 32, fit="crop")) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(ImageDataset(tmp_path, 32)) == 2, "resize keeps every image"


def test_image_dataset_resize(tmp_path):
    src = synth_image(2, 0, (64, 80))
    write_image(tmp_path / "a.png", src)
    ds = ImageDataset(tmp_path, 32, split="val")
    x = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    _assert_rounds_to(x, _box(src[:, :, 8:72], 2))  # centre square, box-averaged for a whole factor
    y = ImageDataset(tmp_path, 24, split="test")[0]
    assert y.shape == (3, 24, 24) and 0 <= y.min() and y.max() <= 1
    train = ImageDataset(tmp_path, 32)
    torch.manual_seed(0)
    outs = [train[0] for _ in range(16)]
    assert all(torch.equal(o, x) or torch.equal(o, x.flip(-1)) for o in outs)
    assert any(torch.equal(o, x.flip(-1)) for o in outs) and any(torch.equal(o, x) for o in outs)
    assert all(torch.equal(ImageDataset(tmp_path, 32, augment=False)[0], x) for _ in range(4))


def test_image_dataset_crop(data):
    val = ImageDataset(data, 40, split="val", fit="crop")
    src = _source(data, "val", 0)
    assert torch.equal(val[0], src[:, 5:45, 11:51])
    train = ImageDataset(data, 40, fit="crop", augment=False)
    torch.manual_seed(0)
    crops = {train[0].sum().item() for _ in range(10)}
    assert train[0].shape == (3, 40, 40) and len(crops) > 1


@pytest.mark.shared
def test_t91_bmp_folder(shared_datasets):
    with pytest.warns(UserWarning, match="too small"):
        ds = PairedDataset(shared_datasets / "T91", 4, hr_size=128, cache_mb=0)
    assert 0 < len(ds) < 91
    assert all(p.suffix == ".bmp" for p in ds.files)
    lr, hr = ds[0]
    assert lr.shape == (3, 32, 32) and hr.shape == (3, 128, 128)
