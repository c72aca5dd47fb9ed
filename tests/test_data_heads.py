"""`gansr data heads`: layer discovery, head boxes, flattening, dedup, split by combination, outputs, reruns and
every bad input, on tiny layer folders and frames drawn on the fly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gan_sr.cli import main as cli_main
from gan_sr.data import heads as H
from gan_sr.data.datasets import ImageDataset
from gan_sr.errors import ConfigError

W, HT = 64, 96  # canvas of the synthetic sprites
SIZES = (16, 32)
CFG = H.HeadsConfig(sizes=SIZES)
FIELDS = {"id", "unit", "split", "character", "eyes", "brows", "mouth", "extras", "layers", "face_box", "box",
          "phash", "status", "duplicate_of", "distance"}


def _layer(path: Path, draw) -> None:
    im = Image.new("RGBA", (W, HT), (0, 0, 0, 0))
    draw(ImageDraw.Draw(im))
    im.save(path)


def make_layers(folder: Path) -> Path:
    """ann and bob: base, 2 eyes x 2 brows x 2 mouths; ann has a sweat overlay; bob's mouth_b is a copy of
    mouth_a (an exact duplicate layer set); plus an NPC without layers and another outfit, both ignored."""
    folder.mkdir(parents=True)
    for name, skin in (("ann", (240, 200, 170, 255)), ("bob", (150, 100, 70, 255))):
        def base(d, skin=skin):
            d.rectangle((12, 62, 52, 95), fill=(40, 80, 200, 255))  # body, opaque
            d.ellipse((16, 22, 48, 58), fill=skin)
            d.chord((14, 14, 50, 40), 180, 360, fill=(60, 30, 10, 255))  # hair
        _layer(folder / f"{name}_base.png", base)
        _layer(folder / f"{name}_eyes_open.png", lambda d: [d.ellipse((x, 34, x + 6, 40), fill=(0, 0, 0, 255))
                                                             for x in (22, 36)])
        _layer(folder / f"{name}_eyes_shut.png", lambda d: [d.line((x, 38, x + 7, 38), fill=(0, 0, 0, 255), width=2)
                                                             for x in (21, 36)])
        _layer(folder / f"{name}_brows_flat.png", lambda d: [d.line((x, 30, x + 8, 30), fill=(50, 20, 0, 255), width=2)
                                                              for x in (21, 35)])
        _layer(folder / f"{name}_brows_up.png", lambda d: [d.line((x, 29, x + 8, 26), fill=(50, 20, 0, 255), width=2)
                                                            for x in (21, 35)])
        _layer(folder / f"{name}_mouth_a.png", lambda d: d.ellipse((24, 45, 40, 53), fill=(200, 0, 40, 255)))
        if name == "ann":
            _layer(folder / f"{name}_mouth_b.png", lambda d: d.rectangle((29, 48, 35, 50), fill=(20, 0, 0, 255)))
            _layer(folder / f"{name}_sweat.png", lambda d: d.ellipse((42, 30, 46, 38), fill=(120, 200, 255, 200)))
        else:
            shutil.copy(folder / f"{name}_mouth_a.png", folder / f"{name}_mouth_b.png")
    shutil.copy(folder / "ann_base.png", folder / "npc.png")
    shutil.copy(folder / "ann_base.png", folder / "ann_apron.png")
    (folder / "LICENSE").write_text("BSD 3-Clause License\n\nCopyright (c) 2020, freeCodeCamp.org\n")
    return folder


def make_frames(folder: Path) -> tuple[Path, list[tuple]]:
    """Three frames (RGB and RGBA, two sizes) and four head boxes, two of them in f0.png, one past the border."""
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (w, h) in (("f0.png", (80, 60)), ("f1.png", (80, 60)), ("sub/f2.png", (50, 70))):
        im = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        if name.startswith("sub"):
            im.putalpha(255)
        im.save(folder / name)
    rows = [("f0.png", 10, 10, 30, 40), ("f0.png", 40, 5, 70, 25), ("f1.png", 0, 0, 80, 60),
            ("sub/f2.png", -10, 50, 20, 90)]
    return folder, rows


def write_csv(path: Path, rows, header: str = "file,x0,y0,x1,y1") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def layers(tmp_path_factory) -> Path:
    return make_layers(tmp_path_factory.mktemp("heads") / "layers")


@pytest.fixture(scope="module")
def built(layers, tmp_path_factory) -> tuple[Path, H.HeadsReport]:
    out = tmp_path_factory.mktemp("heads_out") / "out"
    return out, H.build_heads(layers, out, CFG)


def test_layers_counts_sizes_manifest_and_files(layers, built):
    out, report = built
    s = report.summary
    assert s["counts"] == {"images": 24, "kept": 20, "duplicate": 4, "units": 16}  # ann 8 x (none, sweat), bob 8
    assert s["characters"]["ann"]["units"] == 8 and s["characters"]["bob"]["duplicate"] == 4
    assert sorted(s["ignored_files"]) == ["ann_apron.png", "npc.png"]
    assert s["config"]["expand"] == H.DEFAULT_EXPAND and s["config"]["lift"] == H.DEFAULT_LIFT
    lines = manifest(out)
    assert len(lines) == 24 and all(set(r) == FIELDS for r in lines)
    assert lines == sorted(lines, key=lambda r: r["id"])
    r = next(r for r in lines if r["id"] == "ann__e-open__b-up__m-a__x-sweat")
    assert [Path(p).name for p in r["layers"]] == ["ann_base.png", "ann_eyes_open.png", "ann_brows_up.png",
                                                   "ann_mouth_a.png", "ann_sweat.png"]
    assert (r["character"], r["eyes"], r["brows"], r["mouth"], r["extras"]) == ("ann", "open", "up", "a", ["sweat"])
    boxes = [Image.open(p).getchannel("A").getbbox() for p in layers.glob("ann_*_*.png") if "sweat" not in p.name]
    face = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    assert tuple(r["face_box"]) == face and tuple(r["box"]) == H.head_box(face, H.DEFAULT_EXPAND, H.DEFAULT_LIFT)
    x0, y0, x1, y1 = r["box"]
    assert x1 - x0 == y1 - y0 == round(2.4 * max(face[2] - face[0], face[3] - face[1]))
    kept = {x["id"]: x["split"] for x in lines if x["status"] == "kept"}
    for size in SIZES:
        for split in H.SPLITS:
            files = sorted((out / str(size) / split).iterdir())
            assert [p.stem for p in files] == sorted(i for i, sp in kept.items() if sp == split)
            for p in files:
                with Image.open(p) as im:
                    assert im.size == (size, size) and im.mode == "RGB"
        assert len(ImageDataset(out / str(size), size, split="val")) == sum(sp == "val" for sp in kept.values())
    assert (out / "LICENSE").read_bytes() == (layers / "LICENSE").read_bytes()
    notice = (out / "NOTICE.md").read_text()
    assert "Character Art: Layerto (Noa Trinh)" in notice and "BSD 3-Clause" in notice and "LICENSE" in notice
    assert s["licence"]["credit"] == "Character Art: Layerto (Noa Trinh)"
    assert Image.open(report.sheet).size[0] > 0 and report.sheet == out / "contact_sheet.png"


def test_split_by_combination_with_every_character_in_val(built):
    lines = manifest(built[0])
    split_of: dict[str, set] = {}
    for r in lines:
        split_of.setdefault(r["unit"], set()).add(r["split"])
    assert all(len(v) == 1 for v in split_of.values())  # no combination in two splits, extras variants included
    for ch in ("ann", "bob"):
        val = {r["unit"] for r in lines if r["character"] == ch and r["split"] == "val" and r["status"] == "kept"}
        assert len(val) == 1  # round(0.1 * n), at least 1
    for r in lines:  # a duplicate's combination shares the split of the one it duplicates
        if r["duplicate_of"]:
            assert r["split"] == next(x["split"] for x in lines if x["id"] == r["duplicate_of"])


def test_val_units_rounding_and_limits():
    units = {f"c{i}": "c" for i in range(20)} | {"solo": "s", "p0": "p", "p1": "p"}
    val = H.val_units(units, 0.1, seed=0)
    assert sum(u.startswith("c") for u in val) == 2 and "solo" not in val and len(val & {"p0", "p1"}) == 1
    assert H.val_units(units, 0.1, seed=0) == val and H.val_units(units, 0.1, seed=1) != val
    assert H.val_units({"p0": "p", "p1": "p"}, 0.9, 0) in ({"p0"}, {"p1"})  # never the whole character
    assert H.val_units(units, 0.0, 0) == set()


def test_dedup_drops_exact_duplicate_layer_set(built):
    out = built[0]
    dups = [r for r in manifest(out) if r["status"] == "duplicate"]
    assert sorted(r["id"] for r in dups) == sorted(f"bob__e-{e}__b-{b}__m-b" for e in ("open", "shut")
                                                   for b in ("flat", "up"))
    for r in dups:
        assert r["duplicate_of"] == r["id"].replace("__m-b", "__m-a") and r["distance"] == 0
        assert not any((out / str(s) / sp / f"{r['id']}.png").exists() for s in SIZES for sp in H.SPLITS)
    assert [d["id"] for d in built[1].summary["duplicates"]] == [r["id"] for r in dups]


def test_extras_sets_and_layer_order(layers):
    allx = H.extras_sets(["sweat", "blush", "glasses", "pixelsunglasses"], "all")
    assert len(allx) == 12 and not any({"glasses", "pixelsunglasses"} <= set(x) for x in allx)
    assert H.extras_sets(["sweat", "glasses"], "each") == [(), ("sweat",), ("glasses",)]
    assert H.extras_sets(["sweat"], "none") == [()]
    heads, _ = H.plan_layers(layers, "none")
    assert len(heads) == 16 and all(h.layers[0].name.endswith("_base.png") for h in heads)


def test_background_flattening_and_padding(layers, tmp_path):
    colours = {}
    for bg in ((0.0, 0.0, 0.0), (0.2, 0.4, 0.6)):
        out = tmp_path / f"bg{bg[1]}"
        cfg = H.HeadsConfig(sizes=(32,), expand=4.0, extras="none", background=bg)  # the square leaves the canvas
        H.build_heads(layers, out, cfg)
        r = next(r for r in manifest(out) if r["status"] == "kept")
        assert r["box"][0] < 0 and r["box"][2] > W  # padded on both sides
        a = np.asarray(Image.open(out / "32" / r["split"] / f"{r['id']}.png"))
        colours[bg] = a
        assert a[0, 0].tolist() == a[0, -1].tolist() == [round(c * 255) for c in bg]
    black, blue = colours.values()
    assert black[-1, 16].tolist() == blue[-1, 16].tolist() == [40, 80, 200]  # opaque body: no background shows


def test_rerun_is_idempotent_and_other_config_is_refused(layers, tmp_path):
    out = tmp_path / "out"
    H.build_heads(layers, out, CFG)
    before = tree(out)
    (out / "16" / "train" / "stray.png").write_bytes(b"x")
    (out / "16" / "val" / ".a.png.123.tmp").write_bytes(b"x")
    some_val = next((out / "32" / "val").iterdir())
    shutil.move(some_val, out / "32" / "train" / some_val.name)  # as if an earlier run died before moving it
    H.build_heads(layers, out, CFG)
    assert tree(out) == before
    with pytest.raises(ConfigError, match=r"--out .*another configuration.*val: 0\.1 vs 0\.3.*--force"):
        H.build_heads(layers, out, H.HeadsConfig(sizes=SIZES, val=0.3))
    with pytest.raises(ConfigError, match=r"sizes: \[16, 32\] vs \[24\]"):
        H.build_heads(layers, out, H.HeadsConfig(sizes=(24,)))
    report = H.build_heads(layers, out, H.HeadsConfig(sizes=(24,)), force=True)
    assert report.summary["config"]["sizes"] == [24] and not (out / "16").exists() and (out / "24" / "train").is_dir()


def test_refuses_foreign_folder_and_output_inside_source(layers, tmp_path):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"--out .*foreign.*not empty"):
        H.build_heads(layers, tmp_path / "foreign", CFG, force=True)
    with pytest.raises(ConfigError, match=r"--out .*inside the input"):
        H.build_heads(layers, layers / "out", CFG)


def test_boxes_mode_csv_and_json(tmp_path):
    frames, rows = make_frames(tmp_path / "frames")
    csv_path = write_csv(tmp_path / "boxes.csv", rows)
    json_path = tmp_path / "boxes.json"
    json_path.write_text(json.dumps([{"file": f, "box": list(b)} for f, *b in rows]))
    a = H.build_heads(frames, tmp_path / "a", H.HeadsConfig(sizes=(16,), val=0.5), boxes=csv_path)
    H.build_heads(frames, tmp_path / "b", H.HeadsConfig(sizes=(16,), val=0.5), boxes=json_path)
    la, lb = manifest(tmp_path / "a"), manifest(tmp_path / "b")
    assert [r["id"] for r in la] == [r["id"] for r in lb] and tree(tmp_path / "a" / "16") == tree(tmp_path / "b" / "16")
    assert a.summary["counts"]["images"] == 4 and a.summary["config"]["expand"] == H.BOXES_EXPAND
    by_file = {}
    for r in la:
        by_file.setdefault(r["unit"], set()).add(r["split"])
        x0, y0, x1, y1 = r["face_box"]
        assert r["box"][2] - r["box"][0] == r["box"][3] - r["box"][1] == max(x1 - x0, y1 - y0)
    assert sorted(by_file) == ["f0.png", "f1.png", "sub/f2.png"] and all(len(v) == 1 for v in by_file.values())
    assert {s for v in by_file.values() for s in v} == {"train", "val"}  # 3 files, val 0.5 -> 2 in val
    past = next(r for r in la if r["unit"] == "sub/f2.png")
    im = np.asarray(Image.open(tmp_path / "a" / "16" / past["split"] / f"{past['id']}.png"))
    assert im[-1, -1].tolist() == [255, 255, 255]  # past the frame's corner: padded, flattened on white


@pytest.mark.parametrize("rows, header, text, match", [
    ([("nope.png", 0, 0, 5, 5)], None, None, r"boxes\.csv line 2: 'nope\.png' is not a file"),
    ([("f0.png", 0, 0, 5, 5), ("f0.png", 9, 0, 9, 5)], None, None, r"line 3: box .* x1 > x0"),
    ([("f0.png", 100, 100, 120, 120)], None, None, r"line 2: box .* outside the 80x60 image f0\.png"),
    ([("f0.png", 0, "a", 5, 5)], None, None, r"line 2: x0, y0, x1, y1 must be four numbers"),
    ([("f0.png", 0, 0, 5)], None, None, r"line 2: expected 5 columns"),
    ([("f0.png", 0, 0, 5, 5)], "name,x0,y0,x1,y1", None, r"boxes\.csv: line 1 must be the header"),
    (None, None, '[{"file": "f0.png", "box": [0, 0, 5, 5]}, {"file": "f0.png"}]', r"boxes\.json entry 1: expected"),
    (None, None, '[{"file": "f0.png", "box": [0, 0, 5, 5]},\n oops]', r"boxes\.json: not valid JSON \(line 2"),
    (None, None, None, r"--boxes .*missing\.csv: no such file"),
    (None, None, "file,x0,y0,x1,y1\nf0.png,0,0,5,5\nf0.png," + "1" * 200_000, r"boxes\.csv line 3: not valid CSV"),
    (None, None, "file,x0,y0,x1,y1\nf\0.png,0,0,5,5\n", r"boxes\.csv line 2: 'f\\x00\.png' is not a file"),
])
def test_bad_boxes_files(tmp_path, rows, header, text, match):
    frames, _ = make_frames(tmp_path / "frames")
    if rows is not None:
        boxes = write_csv(tmp_path / "boxes.csv", rows, header or "file,x0,y0,x1,y1")
    elif text is not None:
        boxes = tmp_path / ("boxes.csv" if text.startswith("file,") else "boxes.json")
        boxes.write_text(text)
    else:
        boxes = tmp_path / "missing.csv"
    with pytest.raises(ConfigError, match=match):
        H.build_heads(frames, tmp_path / "out", CFG, boxes=boxes)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("config, match", [
    (H.HeadsConfig(sizes=(4,)), r"--sizes 4"),
    (H.HeadsConfig(val=1.0), r"--val 1\.0"),
    (H.HeadsConfig(expand=0.0), r"--expand 0\.0"),
    (H.HeadsConfig(extras="some"), r"--extras 'some'"),
    (H.HeadsConfig(dup_threshold=5000), r"--dup-threshold 5000"),
])
def test_bad_options(layers, tmp_path, config, match):
    with pytest.raises(ConfigError, match=match):
        H.build_heads(layers, tmp_path / "out", config)


def test_folder_that_is_no_layer_folder(tmp_path):
    frames, _ = make_frames(tmp_path / "frames")
    with pytest.raises(ConfigError, match=r"SRC .*frames: not a layer folder.*--boxes"):
        H.build_heads(frames, tmp_path / "out", CFG)
    with pytest.raises(ConfigError, match=r"SRC .*nothing: not a folder"):
        H.build_heads(tmp_path / "nothing", tmp_path / "out", CFG)


def test_cli_table_and_error_line(layers, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli_main, ["data", "heads", str(layers), "--out", str(tmp_path / "o"), "--sizes", "16",
                                   "--quiet", "--extras", "none"])
    assert res.exit_code == 0, res.output
    assert "| train |" in res.output and "| all | 16 | 16 | 2 | 4 |" in res.output and "contact sheet:" in res.output
    res = runner.invoke(cli_main, ["data", "heads", str(layers), "--out", str(tmp_path / "p"), "--sizes", "16,x"])
    assert res.exit_code == 2 and res.output.count("Error:") == 1 and "--sizes" in res.output
