"""`gansr data build`: patches, manifest, splits, resume and every bad input, on small drawings made on the fly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gan_sr.cli import main as cli_main
from gan_sr.data import build as B
from gan_sr.data import patches
from gan_sr.data.split import assign_split
from gan_sr.errors import ConfigError, ImageError

P = 48
CFG = B.BuildConfig(patch=P)
REQUIRED = {"id", "source", "source_sha256", "box", "patch_hash", "split", "status", "duplicate_of"}


def drawing(path: Path, w: int = 160, h: int = 112, seed: int = 0, flat_left: bool = False, fmt: str = "PNG") -> Path:
    """Pale paper with coloured shapes and black strokes; optionally a flat left half."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (w, h), (245, 240, 230))
    d = ImageDraw.Draw(im)
    x_min = w // 2 if flat_left else 0
    for _ in range(w * h // 600):
        x, y = int(rng.integers(x_min, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            d.ellipse((x, y, x + int(rng.integers(6, 30)), y + int(rng.integers(6, 30))), fill=colour,
                      outline=(0, 0, 0), width=2)
        else:
            d.line((x, y, int(rng.integers(x_min, w)), int(rng.integers(0, h))), fill=(0, 0, 0), width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt)
    return path


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    for k in range(4):
        drawing(folder / f"d{k}.png", seed=k)
    return folder


def test_build_writes_patches_manifest_and_summary(src, tmp_path):
    out = tmp_path / "out"
    before = tree(src)
    result = B.build_dataset([src], out, CFG)
    assert tree(src) == before  # sources are only read
    lines = manifest(out)
    assert len(lines) == 4 * 6 and all(REQUIRED <= set(r) for r in lines)  # 160x112 -> 3x2 patches of 48
    assert len({r["id"] for r in lines}) == len(lines)
    for r in lines:
        data = Path(r["source"]).read_bytes()
        assert r["source_sha256"] == hashlib.sha256(data).hexdigest()
        assert r["split"] == assign_split(r["source_sha256"], CFG.split, CFG.seed)
        x0, y0, x1, y1 = r["box"]
        assert x1 - x0 == P and y1 - y0 == P and 0 <= x0 and x1 <= 160 and y1 <= 112
        png = out / r["split"] / f"{r['id']}.png"
        assert png.exists() == (r["status"] == "kept")
        if r["status"] == "kept":
            expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[y0:y1, x0:x1]
            assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), expected)
    assert Counter(r["status"] for r in lines)["kept"] >= 20
    assert {r["source"]: r["split"] for r in lines}.__len__() == 4  # one split per source
    summary = json.loads((out / "summary.json").read_text())
    assert summary == result.summary
    counts = Counter(r["status"] for r in lines)
    assert summary["patches"] == {"total": len(lines), "kept": counts["kept"], "duplicate": counts["duplicate"],
                                  "low_information": counts["low_information"]}
    for name, c in summary["splits"].items():
        assert c["kept"] == sum(1 for r in lines if r["split"] == name and r["status"] == "kept")
        assert c["kept"] == len(list((out / name).glob("*.png"))) if (out / name).exists() else c["kept"] == 0
    assert json.loads((out / "config.json").read_text())["config"]["patch"] == P
    for sheet in result.sheets:
        assert Image.open(sheet).size[0] > 100


def test_rerun_is_idempotent_and_new_sources_change_nothing_old(src, tmp_path):
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    first = tree(out)
    B.build_dataset([src], out, CFG, report=False)
    assert tree(out) == first
    drawing(src / "e_new.png", seed=10)
    report = B.build_dataset([src], out, CFG, report=False)
    assert report.new_sources == 1 and report.skipped_sources == 4
    old = (out / "manifest.jsonl").read_bytes()
    assert old.startswith(first["manifest.jsonl"])
    assert all(r["source"].endswith("e_new.png") for r in manifest(out)[24:])
    for name, data in first.items():
        if name.endswith(".png") and not name.startswith("report"):
            assert (out / name).read_bytes() == data


def test_interrupted_build_resumes_to_the_same_result(src, tmp_path):
    full = tmp_path / "full"
    B.build_dataset([src], full, CFG, report=False)
    part = tmp_path / "part"
    part.mkdir()
    shutil.copy(full / "config.json", part / "config.json")
    data = (full / "manifest.jsonl").read_bytes().split(b"\n")
    # two finished sources, half of the third one's lines, and a line cut in the middle
    (part / "manifest.jsonl").write_bytes(b"\n".join(data[:15]) + b"\n" + data[15][:40])
    for r in manifest(full)[:15]:  # the patch files the interrupted run had written
        if r["status"] == "kept":
            (part / r["split"]).mkdir(exist_ok=True)
            shutil.copy(full / r["split"] / f"{r['id']}.png", part / r["split"] / f"{r['id']}.png")
    (part / "train").mkdir(exist_ok=True)
    (part / "train" / "stray_0_0.png").write_bytes(b"left by a crash")
    (part / "train" / ".x.png.123.tmp").write_bytes(b"temp")
    report = B.build_dataset([src], part, CFG, report=False)
    assert report.skipped_sources == 2 and report.new_sources == 2
    assert (part / "manifest.jsonl").read_bytes() == (full / "manifest.jsonl").read_bytes()
    assert tree(part) == tree(full)


def test_bad_sources_get_error_lines_and_the_rest_builds(src, tmp_path, monkeypatch):
    (src / "text.png").write_text("this is not an image")
    good = (src / "d0.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("RGB", (40, 90), (9, 9, 9)).save(src / "small.png")
    drawing(src / "locked.png", seed=7)
    real_sha = B.file_sha256

    def sha(path):
        if Path(path).name == "locked.png":
            raise PermissionError(13, "Permission denied")
        return real_sha(path)

    monkeypatch.setattr(B, "file_sha256", sha)
    out = tmp_path / "out"
    result = B.build_dataset([src], out, CFG, report=False)
    errors = {Path(r["source"]).name: r["reason"] for r in manifest(out) if r["status"] == "error"}
    assert set(errors) == {"text.png", "truncated.png", "small.png", "locked.png"}
    assert "text.png: not an image" in errors["text.png"]
    assert "truncated" in errors["truncated.png"]
    assert "40x90 is smaller than one 48x48 patch" in errors["small.png"]
    assert "locked.png: cannot read (Permission denied)" in errors["locked.png"]
    assert result.summary["sources"] == {"total": 8, "used": 4, "error": 4, "duplicate_file": 0}
    assert {e["source"] for e in result.summary["errors"]} == {str((src / n).absolute()) for n in errors}


def test_whole_file_duplicates_are_caught_before_decoding(src, tmp_path, monkeypatch):
    shutil.copy(src / "d1.png", src / "z_copy.png")
    decoded = []
    real = patches.load_working_image
    monkeypatch.setattr(patches, "load_working_image", lambda p, c: decoded.append(Path(p).name) or real(p, c))
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    copy = [r for r in manifest(out) if r["source"].endswith("z_copy.png")]
    assert len(copy) == 1 and copy[0]["status"] == "duplicate" and copy[0]["box"] is None
    assert copy[0]["duplicate_of_source"] == str((src / "d1.png").absolute())
    assert "z_copy.png" not in decoded


def test_near_duplicate_patches_name_the_kept_patch(src, tmp_path):
    pixels = np.asarray(Image.open(src / "d2.png")).astype(np.float32)
    Image.fromarray(np.clip(pixels * 1.03, 0, 255).astype(np.uint8)).save(src / "z_brighter.png")
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    lines = manifest(out)
    by_id = {r["id"]: r for r in lines}
    dups = [r for r in lines if r["source"].endswith("z_brighter.png")]
    assert dups and all(r["status"] == "duplicate" for r in dups)
    for r in dups:
        kept = by_id[r["duplicate_of"]]
        assert kept["status"] == "kept" and kept["source"].endswith("d2.png") and kept["box"] == r["box"]
        a = np.unpackbits(np.frombuffer(bytes.fromhex(r["patch_hash"]), np.uint8))
        b = np.unpackbits(np.frombuffer(bytes.fromhex(kept["patch_hash"]), np.uint8))
        assert int((a != b).sum()) == r["distance"] <= CFG.dup_threshold
        assert not (out / r["split"] / f"{r['id']}.png").exists()


def test_flat_areas_are_low_information(tmp_path):
    src = tmp_path / "src"
    drawing(src / "half.png", w=192, h=96, seed=3, flat_left=True)
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    lines = manifest(out)
    status = {tuple(r["box"][:2]): r["status"] for r in lines}
    assert status[(0, 0)] == status[(0, 48)] == "low_information"  # the flat left half
    assert status[(144, 0)] == status[(144, 48)] == "kept"
    for r in lines:
        assert (r["info"] < CFG.min_info) == (r["status"] == "low_information")


@pytest.mark.parametrize("background", ["white", "black"])
def test_alpha_is_composited_on_the_background(tmp_path, background):
    src = tmp_path / "src"
    rgb = np.asarray(Image.open(drawing(tmp_path / "rgb.png", w=96, h=48, seed=4)))
    alpha = np.zeros((48, 96), np.uint8)
    alpha[:, :48] = 255
    alpha[:, 48:] = 128  # right patch half transparent
    src.mkdir()
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(src / "sprite.png")
    cfg = B.BuildConfig(patch=P, min_info=0.0, background=B.parse_background(background))
    out = tmp_path / "out"
    B.build_dataset([src], out, cfg, report=False)
    right = next(r for r in manifest(out) if r["box"][0] == 48)
    got = np.asarray(Image.open(out / right["split"] / f"{right['id']}.png").convert("RGB")).astype(float)
    bg = 255.0 if background == "white" else 0.0
    expected = rgb[:, 48:].astype(float) * (128 / 255) + bg * (1 - 128 / 255)
    assert np.abs(got - expected).max() <= 1.0


def test_max_side_and_stride(tmp_path):
    src = tmp_path / "src"
    drawing(src / "big.png", w=300, h=200, seed=5)
    cfg = B.BuildConfig(patch=P, stride=24, max_side=150, min_info=0.0, dup_threshold=0)
    out = tmp_path / "out"
    B.build_dataset([src], out, cfg, report=False)
    lines = manifest(out)
    assert all(r["image_size"] == [150, 100] and r["source_size"] == [300, 200] for r in lines)
    assert len(lines) == ((150 - P) // 24 + 1) * ((100 - P) // 24 + 1)
    assert sorted({r["box"][0] for r in lines})[:2] == [3, 27]  # centred grid: (150 - 144) / 2 = 3


def test_symlink_loops_do_not_hang(src, tmp_path):
    (src / "sub").mkdir()
    drawing(src / "sub" / "inner.png", seed=8)
    os.symlink("..", src / "sub" / "loop")
    os.symlink("self.png", src / "self.png")
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    sources = Counter(r["source"] for r in manifest(out))
    names = sorted(Path(s).name for s in sources)
    assert names == ["d0.png", "d1.png", "d2.png", "d3.png", "inner.png"]


def test_output_inside_a_source_is_refused(src, tmp_path):
    before = tree(src)
    with pytest.raises(ConfigError, match=r"--out .*inside the input"):
        B.build_dataset([src], src / "out", CFG)
    with pytest.raises(ConfigError, match=r"--out .*inside the input"):
        B.build_dataset([str(src / "*.png")], src / "patches", CFG)
    out = tmp_path / "out"
    drawing(out / "old" / "x.png")
    with pytest.raises(ConfigError, match="inside the output folder"):
        B.build_dataset([out / "old"], out, CFG)
    assert tree(src) == before


def test_output_from_another_configuration_is_refused_unless_force(src, tmp_path):
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    other = B.BuildConfig(patch=64)
    with pytest.raises(ConfigError, match=r"another configuration \(patch: 48 vs 64\).*--force"):
        B.build_dataset([src], out, other)
    B.build_dataset([src], out, other, force=True, report=False)
    assert json.loads((out / "config.json").read_text())["config"]["patch"] == 64
    assert all(r["box"][2] - r["box"][0] == 64 for r in manifest(out))


def test_foreign_non_empty_output_is_refused(src, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty and holds no config.json"):
        B.build_dataset([src], out, CFG, force=True)
    assert (out / "notes.txt").read_text() == "keep me"


def test_dry_run_writes_only_its_report(src, tmp_path):
    out = tmp_path / "out"
    dry = B.build_dataset([src], out, CFG, dry_run=True)
    assert sorted(p.name for p in out.iterdir()) == ["dry_run"]
    assert sorted(p.name for p in (out / "dry_run").rglob("*")) == [
        "contact_duplicate.png", "contact_low_information.png", "report", "summary.json"]
    real = B.build_dataset([src], out, CFG, report=False)
    assert dry.summary["patches"] == real.summary["patches"]


def test_two_workers_give_the_same_manifest(src, tmp_path):
    B.build_dataset([src], tmp_path / "one", CFG, workers=1, report=False)
    B.build_dataset([src], tmp_path / "two", CFG, workers=2, report=False)
    assert (tmp_path / "one" / "manifest.jsonl").read_bytes() == (tmp_path / "two" / "manifest.jsonl").read_bytes()


@pytest.mark.parametrize("kwargs, message", [
    ({"patch": 4}, "--patch 4"),
    ({"split": (0.5, 0.2, 0.2)}, "sum to 1"),
    ({"min_info": 2.0}, "--min-info 2.0"),
    ({"dup_threshold": 500}, "--dup-threshold 500"),
    ({"max_side": 10}, "--max-side 10"),
])
def test_bad_options_are_refused(src, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        B.build_dataset([src], tmp_path / "out", B.BuildConfig(**kwargs))
    assert not (tmp_path / "out").exists()


def test_empty_or_missing_sources(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="no image files found"):
        B.build_dataset([tmp_path / "empty"], tmp_path / "out", CFG)
    with pytest.raises(ImageError, match="no such file or folder"):
        B.build_dataset([tmp_path / "nope"], tmp_path / "out", CFG)


def test_cli_build_and_error(src, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(cli_main, ["data", "build", str(src), "--out", str(out), "--patch", "48", "--workers", "1",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    assert "| train |" in res.output and (out / "manifest.jsonl").exists()
    res = runner.invoke(cli_main, ["data", "build", str(src), "--out", str(src / "o"), "--quiet"])
    assert res.exit_code == 2 and "Error: --out" in res.output and "inside the input" in res.output
    res = runner.invoke(cli_main, ["data", "build", str(src), "--out", str(out), "--split", "1,1", "--quiet"])
    assert res.exit_code == 2 and "--split" in res.output
    res = runner.invoke(cli_main, ["data", "build", "--help"])
    assert "Examples:" in res.output and "gansr data build" in res.output


def test_sources_are_keyed_by_absolute_path(src, tmp_path, monkeypatch):
    out = tmp_path / "out"
    B.build_dataset([src], out, CFG, report=False)
    first = (out / "manifest.jsonl").read_bytes()
    monkeypatch.chdir(src)
    report = B.build_dataset(["../src/./"], out, CFG, report=False)
    assert report.new_sources == 0 and (out / "manifest.jsonl").read_bytes() == first


def test_split_assignment_follows_the_fractions_and_the_seed():
    from gan_sr.data.split import parse_split

    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
    counts = Counter(assign_split(s, (0.7, 0.2, 0.1), seed=0) for s in shas)
    assert abs(counts["train"] / 3000 - 0.7) < 0.03 and abs(counts["test"] / 3000 - 0.1) < 0.02
    assert {assign_split(s, (0.0, 0.0, 1.0)) for s in shas[:50]} == {"test"}
    assert {assign_split(s, (1.0, 0.0, 0.0)) for s in shas[:50]} == {"train"}
    other_seed = [assign_split(s, (0.5, 0.25, 0.25), seed=1) for s in shas[:200]]
    assert other_seed != [assign_split(s, (0.5, 0.25, 0.25), seed=0) for s in shas[:200]]
    assert parse_split("0.8, 0.1, 0.1") == (0.8, 0.1, 0.1)
    for bad, message in [("0.8,0.2", "three fractions"), ("a,b,c", "three numbers"), ("1.2,-0.1,-0.1", "non-negative")]:
        with pytest.raises(ConfigError, match=message):
            parse_split(bad)
