"""Which heads a `gansr data heads` source yields, before any pixel is read: every expression of each layered
character (layers mode), or one head per row of the user's boxes file (boxes mode, checked against image sizes)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from gan_sr.errors import ConfigError
from gan_sr.io.images import read_size

GROUPS = ("eyes", "brows", "mouth")
EXTRAS = ("sweat", "blush", "glasses", "pixelsunglasses")  # in layer order; the two glasses are alternatives
ALTERNATIVES = frozenset({"glasses", "pixelsunglasses"})
CSV_COLUMNS = ["file", "x0", "y0", "x1", "y1"]


@dataclass
class Head:
    """One output image: its layers (boxes mode: its one source image), its split unit and where to crop."""

    id: str
    unit: str  # all heads of one unit land in one split
    group: str  # val units are drawn per group: the character, or "" for a user's files
    layers: tuple[Path, ...]  # composited in this order
    meta: dict  # character, eyes, brows, mouth, extras
    face_layers: tuple[Path, ...] = ()  # layers mode: their alpha union is the face box
    face_box: tuple[float, ...] | None = None
    box: tuple[int, int, int, int] | None = None


def head_box(face: tuple[float, ...], expand: float, lift: float) -> tuple[int, int, int, int]:
    """A square of side expand * max(w, h) around the face box's centre, raised by lift * side."""
    x0, y0, x1, y1 = face
    side = max(1, round(expand * max(x1 - x0, y1 - y0)))
    left, top = round((x0 + x1 - side) / 2), round((y0 + y1 - side) / 2 - lift * side)
    return left, top, left + side, top + side


def extras_sets(available: list[str], mode: str) -> list[tuple[str, ...]]:
    """none: (); each: () and every single extra; all: every subset without both glasses (in layer order)."""
    if mode != "all":
        return [(), *((e,) for e in available if mode == "each")]
    return [c for k in range(len(available) + 1) for c in combinations(available, k) if not ALTERNATIVES <= set(c)]


def plan_layers(src: Path, extras: str) -> tuple[list[Head], list[str]]:
    """Heads of every character with eyes layers, and the PNG files no head uses (no layers, other outfits)."""
    files = sorted(src.glob("*.png"))
    heads, used = [], set()
    for name in sorted({p.stem.split("_eyes_")[0] for p in files if "_eyes_" in p.stem}):
        base = next((p for p in (src / f"{name}_base.png", src / f"{name}.png") if p.is_file()), None)
        parts = {g: {p.stem[len(name) + len(g) + 2 :]: p for p in files if p.stem.startswith(f"{name}_{g}_")}
                 for g in GROUPS}
        missing = [f"{name}_{g}_*.png" for g, v in parts.items() if not v] + ([] if base else [f"{name}_base.png"])
        if missing:
            raise ConfigError(f"{src}: {name} has eyes layers but no {' or '.join(missing)}")
        have = [e for e in EXTRAS if (src / f"{name}_{e}.png").is_file()]
        face = tuple(p for g in GROUPS for p in parts[g].values())
        used.update([base, *face, *(src / f"{name}_{e}.png" for e in have)])
        for (e, eyes), (b, brows), (m, mouth) in ((x, y, z) for x in parts["eyes"].items()
                                                  for y in parts["brows"].items() for z in parts["mouth"].items()):
            unit = f"{name}__e-{e}__b-{b}__m-{m}"
            heads += [Head(id=unit + (f"__x-{'-'.join(xs)}" if xs else ""), unit=unit, group=name,
                           layers=(base, eyes, brows, mouth, *(src / f"{name}_{x}.png" for x in xs)), face_layers=face,
                           meta={"character": name, "eyes": e, "brows": b, "mouth": m, "extras": list(xs)})
                      for xs in extras_sets(have, extras)]
    return heads, [p.name for p in files if p not in used]


def read_boxes(path: Path) -> list[tuple[str, list, str]]:
    """(file, [x0, y0, x1, y1], where) per CSV row (header file,x0,y0,x1,y1) or JSON entry {file, box}."""
    if not path.is_file():
        raise ConfigError(f"--boxes {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--boxes {path}: cannot read it as UTF-8 text ({e})") from None
    rows, shape = [], '{"file": ..., "box": [x0, y0, x1, y1]}'
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--boxes {path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        for i, entry in enumerate(data if isinstance(data, list) else [data]):
            ok = isinstance(data, list) and isinstance(entry, dict) and isinstance(entry.get("file"), str)
            if not ok or not isinstance(entry.get("box"), list):
                raise ConfigError(f"--boxes {path} entry {i}: expected a list of {shape}")
            rows.append((entry["file"], entry["box"], f"{path} entry {i}"))
    elif path.suffix.lower() == ".csv":
        reader = csv.reader(io.StringIO(text))
        header = [c.strip().lower() for c in next(reader, [])]
        if header != CSV_COLUMNS:
            raise ConfigError(f"--boxes {path}: line 1 must be the header {','.join(CSV_COLUMNS)}, got {header}")
        try:
            for row in reader:
                where = f"{path} line {reader.line_num}"
                if len(row) != 5 and any(c.strip() for c in row):
                    raise ConfigError(f"--boxes {where}: expected 5 columns ({','.join(CSV_COLUMNS)}), got {len(row)}")
                rows += [(row[0].strip(), row[1:], where)] if any(c.strip() for c in row) else []
        except csv.Error as e:
            raise ConfigError(f"--boxes {path} line {reader.line_num}: not valid CSV ({e})") from None
    else:
        raise ConfigError(f"--boxes {path}: use a .csv or a .json file")
    if not rows:
        raise ConfigError(f"--boxes {path}: holds no boxes")
    return rows


def plan_boxes(src: Path, boxes: Path, expand: float, lift: float) -> list[Head]:
    """One head per box; every box is checked against its image's size (read from the header only)."""
    heads, seen, sizes, root = [], {}, {}, src.resolve()
    for name, values, where in read_boxes(boxes):
        try:
            face = tuple(float(v) for v in values if not isinstance(v, bool))
        except (TypeError, ValueError):
            face = ()
        if len(face) != 4 or not all(map(math.isfinite, face)):
            raise ConfigError(f"--boxes {where}: x0, y0, x1, y1 must be four numbers, got {values}")
        face = tuple(int(v) if v.is_integer() else v for v in face)
        path = (src / name.replace("\0", "?")).resolve()
        if root not in path.parents or not path.is_file():
            raise ConfigError(f"--boxes {where}: {name!r} is not a file in {src}")
        x0, y0, x1, y1 = face
        if x1 <= x0 or y1 <= y0:
            raise ConfigError(f"--boxes {where}: box {list(face)} needs x1 > x0 and y1 > y0")
        w, h = sizes[path] if path in sizes else sizes.setdefault(path, read_size(path))
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise ConfigError(f"--boxes {where}: box {list(face)} lies outside the {w}x{h} image {name}")
        rel, box = path.relative_to(root).as_posix(), head_box(face, expand, lift)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", rel.rsplit(".", 1)[0])[:60]
        hid = f"{slug}-{hashlib.sha1(rel.encode()).hexdigest()[:6]}__x{box[0]}_y{box[1]}_s{box[2] - box[0]}"
        if hid in seen:
            raise ConfigError(f"--boxes {where}: gives the same head as {seen[hid]}; remove one of them")
        seen[hid] = where
        heads.append(Head(id=hid, unit=rel, group="", layers=(path,), face_box=face, box=box,
                          meta={"character": None, "eyes": None, "brows": None, "mouth": None, "extras": []}))
    return heads
