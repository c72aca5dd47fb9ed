"""`gansr data heads`: square character heads from layered visual-novel sprites, or from a user's head boxes.

Layers mode: full-canvas aligned RGBA layers, `<name>_base.png` (or `<name>.png`), `<name>_{eyes,brows,mouth}_*.png`
and optional `<name>_{sweat,blush,glasses,pixelsunglasses}.png`; every eyes x brows x mouth combination (with the
chosen extras) is alpha-composited in the game's order base, eyes, brows, mouth, sweat/blush, glasses. The union
of the alpha boxes of all the character's face layers locates the face exactly; the head square is `expand` x its
longer side, raised by `lift` x the side (hair sits above the brows), one square for all expressions of a
character. Defaults 2.4 / 0.16, tuned on LearnToCodeRPG's 16 characters: adaku's tall locs keep a 2 % margin,
darius's chin about 8 %; a smaller square clips one of them, a larger one adds shoulders to all.
Boxes mode: the user's images and head boxes (CSV or JSON), each box squared around its centre.

Crops are flattened on the background and resized straight from full resolution with MATLAB bicubic (antialiased,
the kernel of the SR degradation). Duplicates: phash of the 256 px (or largest) image, leader clustering in
sorted-id order. Measured on LearnToCodeRPG's 1157 heads (--extras each), 70,860 same-character pairs: with the
drawn-art 13x13 hash 5107 pairs of visibly different expressions are at distance 0, so no threshold can work.
With 64x64 (4096 bits), 45 pixel-identical pairs (goro_mouth_6/7/8 are mouth_1/2/3 with the sweat drawn in) and
15 near-identical ones (player's opaque pixel sunglasses hide closed vs laughing eyes; < 0.001 grey levels apart
on average) are at 0, distinct images (>= 0.016 levels apart) at 12 bits or more (0.1st percentile 27, 1st 54,
median 426): the default threshold 6 drops exactly those 60. goro's sweat drawn twice (<= 0.007 levels) stays at
8-20 bits, kept; a dropped duplicate joins its unit to its original's, so such pairs share a split.
Split unit: (character, eyes, brows, mouth), in boxes mode the source file. Per character, the units with a kept
image, ordered by split.split_unit(unit, seed): the first round(val * n) go to val (>= 1 when n >= 2, <= n - 1),
so val faces are unseen expressions of seen characters.

DIR: <size>/{train,val}/<id>.png (each <size>/ a dataset root), manifest.jsonl, summary.json (it also marks DIR as
a heads build: another configuration is refused without force), LICENSE (the source's), NOTICE.md,
contact_sheet.png. A rerun rewrites the same bytes and deletes files that no kept head names.

Which heads a source yields (`Head`, `plan_layers`, `plan_boxes`, `read_boxes`, `head_box`, `extras_sets`) is
`heads_plan`, importable from here; this module renders, deduplicates, splits and writes them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from gan_sr.data import contact, dedup, split
from gan_sr.data.build import file_sha256
from gan_sr.data.heads_plan import (
    ALTERNATIVES,
    CSV_COLUMNS,
    EXTRAS,
    GROUPS,
    Head,
    extras_sets,
    head_box,
    plan_boxes,
    plan_layers,
    read_boxes,
)
from gan_sr.data.patches import to_uint8
from gan_sr.degrade import imresize
from gan_sr.errors import ConfigError
from gan_sr.io.atomic import atomic_write
from gan_sr.io.images import composite, quantize, read_image, write_image
from gan_sr.io.paths import check_output_outside

FORMAT, VERSION = "gansr-data-heads", 1
SPLITS = ("train", "val")
MANIFEST, SUMMARY, SHEET = "manifest.jsonl", "summary.json", "contact_sheet.png"
NOTICE, LICENSE = "NOTICE.md", "LICENSE"
EXTRAS_MODES = ("none", "each", "all")
DEFAULT_SIZES = (64, 128, 256)
DEFAULT_EXPAND, DEFAULT_LIFT = 2.4, 0.16  # layers: eyes+brows+mouth box -> whole head with hair and chin
BOXES_EXPAND, BOXES_LIFT = 1.0, 0.0  # boxes mode: the user's box already is the head
DEFAULT_HASH_SIZE = 64  # 4096 bits: 13x13 cannot tell expressions apart (module docstring)
DEFAULT_DUP_THRESHOLD = 6  # of the 4096 bits: only (near-)identical images
CREDITS = {"freecodecamp": ("Character Art: Layerto (Noa Trinh)",
                            "https://github.com/freeCodeCamp/LearnToCodeRPG, game/images/chara/")}


@dataclass(frozen=True)
class HeadsConfig:
    """Everything that decides the output; stored in summary.json. expand/lift None: the mode's default."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    expand: float | None = None
    lift: float | None = None
    extras: str = "each"
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    hash_size: int = DEFAULT_HASH_SIZE
    dup_threshold: int = DEFAULT_DUP_THRESHOLD
    val: float = 0.1
    seed: int = 0

    def resolved(self, mode: str) -> HeadsConfig:
        boxes = mode == "boxes"
        pick = lambda v, layers, box: float((box if boxes else layers) if v is None else v)  # noqa: E731
        return replace(self, expand=pick(self.expand, DEFAULT_EXPAND, BOXES_EXPAND), extras="none" if boxes
                       else self.extras, lift=pick(self.lift, DEFAULT_LIFT, BOXES_LIFT),
                       sizes=tuple(sorted({int(s) for s in self.sizes})))

    def validate(self) -> HeadsConfig:
        dedup.check_hash(dedup.DEFAULT_HASH, self.hash_size)
        bits = self.hash_size**2
        for ok, message in (
            (self.sizes and all(8 <= s <= 4096 for s in self.sizes),
             f"--sizes {','.join(map(str, self.sizes))}: sides from 8 to 4096 pixels"),
            (math.isfinite(self.expand) and 0.1 <= self.expand <= 20, f"--expand {self.expand}: from 0.1 to 20"),
            (math.isfinite(self.lift) and -1 <= self.lift <= 1, f"--lift {self.lift}: a share of the side, -1 to 1"),
            (self.extras in EXTRAS_MODES, f"--extras {self.extras!r}: choose one of {', '.join(EXTRAS_MODES)}"),
            (len(self.background) == 3 and all(0 <= c <= 1 for c in self.background),
             f"--background {self.background}: three channel values in [0, 1]"),
            (0 <= self.dup_threshold <= bits, f"--dup-threshold {self.dup_threshold}: between 0 and {bits} bits"),
            (math.isfinite(self.val) and 0 <= self.val < 1, f"--val {self.val}: a fraction in [0, 1)"),
        ):
            if not ok:
                raise ConfigError(message)
        return self

    def to_dict(self) -> dict:
        return {**asdict(self), "sizes": list(self.sizes), "background": [float(c) for c in self.background]}


def parse_sizes(text: str) -> tuple[int, ...]:
    """'64,128,256' -> (64, 128, 256) (ConfigError otherwise)."""
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise ConfigError(f"--sizes {text!r}: whole numbers separated by commas, like 64,128,256") from None


# ----------------------------------------------------------------------------------------- rendering


class _Renderer:
    """Full-resolution crops of heads; keeps the current character's layers (or source image) decoded."""

    def __init__(self, config: HeadsConfig) -> None:
        self.config, self.key, self.full = config, None, {}

    def _layer(self, path: Path) -> PILImage.Image:
        """A layer as 8-bit RGBA, read through read_image; all layers of a character share one canvas."""
        if path not in self.full:
            im = read_image(path)
            canvas = next(iter(self.full.values())).size if self.full else im.size
            if im.size != canvas:
                raise ConfigError(f"{path}: {im.size[0]}x{im.size[1]}, but the other layers are "
                                  f"{canvas[0]}x{canvas[1]}; layers must be full-canvas and aligned")
            alpha = im.alpha if im.alpha is not None else torch.ones_like(im.rgb[:1])
            self.full[path] = PILImage.fromarray(to_uint8(torch.cat([im.rgb, alpha])), "RGBA")
        return self.full[path]

    def __call__(self, head: Head) -> tuple[torch.Tensor, torch.Tensor]:
        """(rgb, alpha) float crop of the head; sets head.face_box and head.box in layers mode."""
        key = head.face_layers or head.layers
        if key != self.key:
            self.key, self.full = key, {}
            if head.face_layers:
                boxes = [b for b in (self._layer(p).getchannel("A").getbbox() for p in key) if b]
                if not boxes:
                    raise ConfigError(f"{key[0].parent}: the face layers of {head.group} are all transparent")
                self.face = tuple(f(b[i] for b in boxes) for i, f in enumerate((min, min, max, max)))
        if head.face_layers:
            head.face_box, head.box = self.face, head_box(self.face, self.config.expand, self.config.lift)
        canvas = self._layer(head.layers[0]).crop(head.box)  # crop pads with transparent zeros
        for p in head.layers[1:]:
            canvas = PILImage.alpha_composite(canvas, self._layer(p).crop(head.box))
        x = torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).float().div_(255.0)
        return x[:3], x[3:]


def resize_all(rgb: torch.Tensor, alpha: torch.Tensor, config: HeadsConfig) -> dict[int, np.ndarray]:
    """Flatten on the background, then MATLAB bicubic from full resolution to each size: (s, s, 3) uint8."""
    flat = composite(rgb, alpha, config.background)
    return {s: to_uint8(quantize(imresize(flat, size=(s, s)), 8)) for s in config.sizes}


# --------------------------------------------------------------------------------------------- build


@dataclass
class HeadsReport:
    """What a build wrote: the summary (as in summary.json), the folder, the contact sheet and the time taken."""

    summary: dict
    out: Path
    sheet: Path
    seconds: float


def build_heads(src: str | os.PathLike, out: str | os.PathLike, config: HeadsConfig | None = None, *,
                boxes: str | os.PathLike | None = None, force: bool = False, progress: bool = False) -> HeadsReport:
    """Build the heads of a layer folder (or, with `boxes`, of the boxes in SRC's images) in `out`."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    src, out, mode = Path(src), Path(out), "layers" if boxes is None else "boxes"
    if not src.is_dir():
        raise ConfigError(f"SRC {src}: not a folder")
    config = (config or HeadsConfig()).resolved(mode).validate()
    check_output_outside([src], out)
    if boxes is not None:
        heads, ignored = plan_boxes(src, Path(boxes), config.expand, config.lift), []
    elif any(src.glob("*_base.png")) and any(src.glob("*_eyes_*.png")):
        heads, ignored = plan_layers(src, config.extras)
    else:
        raise ConfigError(f"SRC {src}: not a layer folder (no *_base.png with *_eyes_*.png files); "
                          "for your own images pass --boxes with their head boxes")
    wanted = {"format": FORMAT, "version": VERSION, "mode": mode, "source": str(src.resolve()),
              "boxes": boxes and {"path": str(Path(boxes).resolve()), "sha256": file_sha256(Path(boxes))},
              "config": config.to_dict()}
    _prepare_out(out, wanted, force)

    heads.sort(key=lambda h: h.id)
    render, sizes = _Renderer(config), config.sizes
    hash_side = 256 if 256 in sizes else sizes[-1]
    thumb_side = min((s for s in sizes if s >= 96), default=sizes[-1])
    records, bits, thumbs = [], [], {}
    for h in tqdm(heads, desc="heads", unit="img", disable=not progress or not sys.stderr.isatty()):
        images = resize_all(*render(h), config)
        bits.append(dedup.fingerprint(images[hash_side], dedup.DEFAULT_HASH, config.hash_size))
        for s, im in images.items():  # all go to train/ first: duplicates are deleted, val ones moved
            write_image(out / str(s) / "train" / f"{h.id}.png", im.transpose(2, 0, 1))
        thumbs[h.id] = images[thumb_side]
        records.append({"id": h.id, "unit": h.unit, "split": None, **h.meta, "layers": [str(p) for p in h.layers],
                        "face_box": list(h.face_box), "box": list(h.box), "phash": dedup.bits_to_hex(bits[-1]),
                        "status": "kept", "duplicate_of": None, "distance": None})

    # for thousands of 4096-bit fingerprints all-pairs is faster than building the multi-index tables
    dd = dedup.Deduplicator(config.hash_size**2, config.dup_threshold, brute_force=len(heads) <= 20_000)
    leader, dup, dist = dd.add(np.stack(bits))
    kept = [r for r, d in zip(records, dup) if not d]
    root = {r["unit"]: r["unit"] for r in records}  # a duplicate joins its unit to its original's: one split
    for r, lead, is_dup, d in zip(records, leader, dup, dist):
        if is_dup:
            r.update(status="duplicate", duplicate_of=kept[lead]["id"], distance=int(d))
            for s in sizes:
                (out / str(s) / "train" / f"{r['id']}.png").unlink()
            a, b = _find(root, r["unit"]), _find(root, kept[lead]["unit"])
            root[max(a, b)] = min(a, b)
    groups = {_find(root, h.unit): h.group for h, r in zip(heads, records) if r["status"] == "kept"}
    val = val_units({u: groups[u] for u in sorted(groups)}, config.val, config.seed)
    for s in sizes:
        (out / str(s) / "val").mkdir(parents=True, exist_ok=True)
    for r in records:
        u = _find(root, r["unit"])
        r["split"] = ("val" if u in val else "train") if u in groups else None
        if r["status"] == "kept" and r["split"] == "val":
            for s in sizes:
                os.replace(out / str(s) / "train" / f"{r['id']}.png", out / str(s) / "val" / f"{r['id']}.png")
    _remove_strays(out, sizes, {r["id"]: r["split"] for r in records if r["status"] == "kept"})

    licence, licence_bytes = licence_info(src)
    if licence_bytes is not None:
        atomic_write(out / LICENSE, lambda f: f.write(licence_bytes))
    atomic_write(out / NOTICE, lambda f: f.write(notice_text(src, mode, licence, config)), text=True)
    sheet = write_contact_sheet(out / SHEET, records, thumbs, config, mode)
    lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    atomic_write(out / MANIFEST, lambda f: f.write(lines), text=True)
    summary = summarize(records, wanted, ignored, licence)
    _write_json(out / SUMMARY, summary)
    return HeadsReport(summary=summary, out=out, sheet=sheet, seconds=time.perf_counter() - t0)


def _find(root: dict[str, str], u: str) -> str:
    while root[u] != u:
        u = root[u]
    return u


def val_units(units: dict[str, str], fraction: float, seed: int) -> set[str]:
    """Per group (unit -> group), the first round(fraction * n) units by split_unit; >= 1 if n >= 2, <= n - 1."""
    by_group: dict[str, list[str]] = defaultdict(list)
    for unit, group in units.items():
        by_group[group].append(unit)
    val: set[str] = set()
    for members in by_group.values():
        n, k = len(members), math.floor(fraction * len(members) + 0.5)
        k = min(max(k, 1) if fraction > 0 and n >= 2 else k, n - 1)
        val.update(sorted(members, key=lambda u: (split.split_unit(u, seed), u))[:k])
    return val


def _prepare_out(out: Path, wanted: dict, force: bool) -> None:
    """Create DIR, or check that it holds a heads build with the same configuration (replaced with force)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    try:
        found = json.loads((out / SUMMARY).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        found = None
    if isinstance(found, dict) and found.get("format") == FORMAT:
        old, new = found.get("config") or {}, wanted["config"]
        diff = [f"{k}: {old.get(k)} vs {new[k]}" for k in new if old.get(k) != new[k]]
        diff += [f"{k}: {found.get(k)} vs {wanted[k]}" for k in wanted if k != "config" and found.get(k) != wanted[k]]
        if diff and not force:
            raise ConfigError(f"--out {out}: holds a heads build with another configuration ({'; '.join(diff)}); "
                              "pass --force to replace it, or choose another folder")
        for name in (MANIFEST, SUMMARY, SHEET, LICENSE, NOTICE) if diff else ():
            (out / name).unlink(missing_ok=True)
        for size in old.get("sizes", []) if diff else ():
            if isinstance(size, int) and (out / str(size)).is_dir():
                shutil.rmtree(out / str(size))
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: is not empty and holds no heads build ({SUMMARY} of format {FORMAT}); "
                          "choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / SUMMARY, {**wanted, "complete": False})


def _remove_strays(out: Path, sizes: tuple[int, ...], kept: dict[str, str]) -> None:
    """Delete what no kept head names in DIR/<size>/{train,val}: files of an earlier run, temp files."""
    for s in sizes:
        for name in SPLITS:
            for entry in os.scandir(out / str(s) / name):
                if entry.is_file() and (not entry.name.endswith(".png") or kept.get(entry.name[:-4]) != name):
                    os.unlink(entry.path)


def _write_json(path: Path, obj: object) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2) + "\n"), text=True)


# ---------------------------------------------------------------------------------------- reporting


def summarize(records: list[dict], head: dict, ignored: list[str], licence: dict) -> dict:
    """summary.json: the configuration, counts per split and per character, the duplicates, the licence."""
    kept = [r for r in records if r["status"] == "kept"]
    dups = [r for r in records if r["status"] == "duplicate"]
    of = lambda rs, key: {r[key] for r in rs} - {None}  # noqa: E731
    return {**head, "complete": True,
            "counts": {"images": len(records), "kept": len(kept), "duplicate": len(dups),
                       "units": len(of(records, "unit"))},
            "splits": {n: {"units": len(of(rs, "unit")), "images": len(rs), "characters": len(of(rs, "character"))}
                       for n in SPLITS for rs in [[r for r in kept if r["split"] == n]]},
            "characters": {c: {"units": len(of([r for r in records if r["character"] == c], "unit")),
                               **{n: sum(r["character"] == c and r["split"] == n for r in kept) for n in SPLITS},
                               "duplicate": sum(r["character"] == c for r in dups)}
                           for c in sorted(of(records, "character"))},
            "duplicates": [{k: r[k] for k in ("id", "duplicate_of", "distance")} for r in dups],
            "ignored_files": ignored, "licence": licence}


def licence_info(src: Path) -> tuple[dict, bytes | None]:
    """The source's LICENSE (its bytes, to copy) and what it says: name, copyright line, known credit."""
    data = (src / LICENSE).read_bytes() if (src / LICENSE).is_file() else None
    lines = [ln.strip() for ln in (data or b"").decode("utf-8", "replace").splitlines() if ln.strip()]
    credit, origin = next((v for k, v in CREDITS.items() if k in " ".join(lines).lower()), (None, None))
    return {"file": LICENSE if data is not None else None, "name": lines[0] if lines else None,
            "copyright": next((ln for ln in lines if ln.lower().startswith("copyright")), None),
            "credit": credit, "origin": origin}, data


def notice_text(src: Path, mode: str, licence: dict, config: HeadsConfig) -> str:
    """NOTICE.md: where the images come from, the credit, and that the licence file travels with them."""
    bg = "#" + "".join(f"{round(c * 255):02x}" for c in config.background)
    what = ("character sprites alpha-composited from their layers and cropped to the head" if mode == "layers"
            else "head crops of the images named in the boxes file")
    lic = (f"Licence: {licence['name']} ({licence['copyright'] or 'no copyright line'}). Its text is in LICENSE, "
           "which must travel with the data: keep LICENSE, this NOTICE.md and the credit with every copy."
           if licence["file"] else "The source folder holds no LICENSE file: the images keep their sources' "
           "licence; find it out before sharing them.")
    parts = [f"# Where these images come from\n\nMade by `gansr data heads` from `{src.resolve()}`: {what}, "
             f"flattened onto {bg} and resized (MATLAB bicubic) to {', '.join(map(str, config.sizes))} px.",
             licence["origin"] and f"Origin: {licence['origin']}.", licence["credit"] and f"{licence['credit']}.", lic]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_contact_sheet(path: Path, records: list[dict], thumbs: dict[str, np.ndarray], config: HeadsConfig,
                        mode: str) -> Path:
    """One head per character, random train and val samples, and dropped duplicates beside what they duplicate."""
    sample = lambda rs, k: sorted(rs, key=lambda r: split.split_unit(r["id"]))[:k]  # noqa: E731
    tiles = lambda rs: [(thumbs[r["id"]], r["character"] or r["unit"]) for r in rs]  # noqa: E731
    kept = [r for r in records if r["status"] == "kept"]
    firsts = sorted({r["character"]: r for r in reversed(kept)}.values(), key=lambda r: r["id"])  # one a character
    sections = [("one head per character", tiles(firsts))] if mode == "layers" else []
    sections += [(f"{n}: random sample", tiles(sample([r for r in kept if r["split"] == n], 16))) for n in SPLITS]
    pairs = [t for r in sample([r for r in records if r["status"] == "duplicate"], 8)
             for t in ((thumbs[r["id"]], f"dup d={r['distance']}"), (thumbs[r["duplicate_of"]], "kept"))]
    sections.append((f"dropped duplicates | the kept head each duplicates (phash d <= {config.dup_threshold})", pairs))
    return contact.write_sheet(path, sections, title=f"gansr data heads: {len(kept)} kept of {len(records)}", tile=96)
