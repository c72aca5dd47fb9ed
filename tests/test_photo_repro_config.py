"""The photo-domain reproduction's configs (experiments/configs/*_photo*.toml) load, merge over their recipe
as intended, and the symlinked train/val layout that experiments/photo_repro.sh builds is what the trainer
reads; the anime SRCNN config carries the init fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from gan_sr.data.datasets import PairedDataset
from gan_sr.io.images import write_image
from gan_sr.sr.registry import build_model
from gan_sr.config import load_config
from gan_sr.train.recipes import recipe_path
from gan_sr.train.sr_config import build_config, hr_size, recipe

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"
SCRIPT = ROOT / "experiments" / "photo_repro.sh"
PHOTO = sorted(CONFIGS.glob("*_photo*.toml"))


def test_every_photo_config_is_used_by_the_script_and_vice_versa():
    used = set(re.findall(r"\$C/([\w.]+\.toml)", SCRIPT.read_text()))
    assert {p.name for p in PHOTO} == used and len(used) == 3


@pytest.mark.parametrize("path", PHOTO, ids=lambda p: p.stem)
def test_photo_configs_merge_over_the_cpu_recipe(path):
    raw = load_config(path)
    name, stage = raw["model"]["name"], raw["model"]["stage"]
    for scale in (2, 4):
        cfg = build_config("", scale=scale, config_file=path)
        base = recipe(name, stage, "cpu")
        assert cfg["model"] == {**base["model"], "scale": scale, "overrides": raw["model"].get("overrides", {})}
        for section in ("train", "data", "eval", "log"):
            for key, value in raw.get(section, {}).items():
                assert cfg[section][key] == value, (section, key)
        assert cfg["loss"]["pixel"] == {**base["loss"]["pixel"], **raw["loss"]["pixel"]}
        assert cfg["loss"]["adversarial"]["weight"] == 0 and cfg["loss"]["perceptual"]["weight"] == 0
        assert hr_size(cfg) % scale == 0
        model = build_model(name, scale, cfg["model"]["preset"], **cfg["model"]["overrides"])
        assert model.scale == scale


def test_srcnn_cpu_configs_drop_the_papers_lr_mult_and_use_he_init():
    for path in (CONFIGS / "srcnn_photo_cpu.toml", recipe_path("srcnn_mse_cpu")):
        cfg = build_config("", scale=4, config_file=path)
        assert recipe("srcnn", "mse", "paper")["train"]["lr_mult"] == {"reconstruct": 0.1}
        assert cfg["train"]["lr_mult"] == {}, path.name
        assert cfg["model"]["overrides"] == {"init": "he", "residual": "bicubic"}, path.name
    assert hr_size(build_config("", scale=2, config_file=CONFIGS / "srcnn_photo_cpu.toml")) == 36


def test_espcn_photo_config_takes_the_papers_17px_lr_subimages():
    cfg = build_config("", scale=4, config_file=CONFIGS / "espcn_photo_cpu.toml")
    assert cfg["data"]["lr_size"] == 17 and hr_size(cfg) == 68


def test_symlinked_layout_serves_train_and_held_out_val(tmp_path):
    src = tmp_path / "shared"
    src.mkdir()
    for i in range(3):
        write_image(src / f"t{i}.png", torch.rand(3, 40 + 4 * i, 44))
    write_image(src / "v0.png", torch.rand(3, 48, 48))
    layout = tmp_path / "layout"
    (layout / "train").mkdir(parents=True)
    (layout / "val").mkdir()
    for i in range(3):
        (layout / "train" / f"t{i}.png").symlink_to(src / f"t{i}.png")
    (layout / "val" / "v0.png").symlink_to(src / "v0.png")
    train = PairedDataset(layout, 4, split="train", hr_size=36)
    val = PairedDataset(layout, 4, split="val", augment=False)
    assert [p.name for p in train.files] == ["t0.png", "t1.png", "t2.png"]
    assert [p.name for p in val.files] == ["v0.png"]
    lr, hr = val[0]
    assert hr.shape == (3, 48, 48) and lr.shape == (3, 12, 12)
