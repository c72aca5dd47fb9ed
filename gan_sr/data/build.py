"""`gansr data build`: cut source images into patches, drop low-information and near-duplicate patches,
split by source, and write PNG patches with a manifest.

Pipeline per source: sha256 of the bytes (whole-file duplicates stop here), decode, composite alpha on the
stated background, optional downscale to `max_side`, a centred grid of patches, then per patch a low-information
score (lowinfo.py) and a perceptual fingerprint (dedup.py). Workers write the patches that pass the
low-information test; the main process decides near-duplicates in source order (leader clustering over a
multi-index hash of the kept fingerprints) and appends the source's block of lines to the manifest.

Layout of DIR: config.json (refuses reruns with other settings), manifest.jsonl (append-only, one block of
lines per finished source, so an interrupted build resumes after the last complete block), summary.json,
{train,val,test}/<id>.png, report/contact_*.png. A dry run writes only DIR/dry_run/.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_sr.data import contact, dedup, lowinfo, split
from gan_sr.errors import ConfigError, GansrError, ImageError
from gan_sr.io.images import composite, list_images, read_image, write_image
from gan_sr.io.paths import check_output_outside
from gan_sr.progress import progress_bar

FORMAT = "gansr-data-build"
VERSION = 1
MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
CONFIG = "config.json"
REPORT = "report"
DRY_RUN = "dry_run"
OWNED = (CONFIG, MANIFEST, SUMMARY, REPORT, DRY_RUN, *split.SPLITS)
STATUSES = ("kept", "duplicate", "low_information", "error")

BACKGROUNDS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grey": (0.5, 0.5, 0.5)}


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the output; stored in DIR/config.json."""

    patch: int = 128
    stride: int | None = None  # None: the patch size (non-overlapping)
    max_side: int | None = None  # downscale sources whose longer side exceeds this first
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)  # alpha is composited on this colour
    hash: str = dedup.DEFAULT_HASH
    hash_size: int = dedup.DEFAULT_HASH_SIZE
    dup_threshold: int = dedup.DEFAULT_DUP_THRESHOLD
    min_info: float = lowinfo.DEFAULT_MIN_INFO
    split: tuple[float, float, float] = split.DEFAULT_SPLIT
    seed: int = 0

    @property
    def step(self) -> int:
        return self.stride or self.patch

    @property
    def n_bits(self) -> int:
        return self.hash_size * self.hash_size

    def validate(self) -> BuildConfig:
        if self.patch < 8:
            raise ConfigError(f"--patch {self.patch}: must be at least 8 pixels")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"--stride {self.stride}: must be a positive number of pixels")
        if self.max_side is not None and self.max_side < self.patch:
            raise ConfigError(f"--max-side {self.max_side}: must be at least the patch size {self.patch}")
        if len(self.background) != 3 or not all(0.0 <= c <= 1.0 for c in self.background):
            raise ConfigError(f"--background {self.background}: three channel values in [0, 1]")
        dedup.check_hash(self.hash, self.hash_size)
        if not 0 <= self.dup_threshold <= self.n_bits:
            raise ConfigError(f"--dup-threshold {self.dup_threshold}: must be between 0 and {self.n_bits} bits")
        lowinfo.check_min_info(self.min_info)
        split.parse_split(self.split)
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["background"] = [float(c) for c in self.background]
        d["split"] = [float(c) for c in self.split]
        return d


def parse_background(text: str) -> tuple[float, float, float]:
    """'white' | 'black' | 'grey' | '#rrggbb' -> RGB in [0, 1] (ConfigError otherwise)."""
    t = text.strip().lower()
    if t in BACKGROUNDS:
        return BACKGROUNDS[t]
    if len(t) == 7 and t.startswith("#"):
        try:
            return tuple(int(t[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            pass
    raise ConfigError(f"--background {text!r}: use white, black, grey or #rrggbb")


# ------------------------------------------------------------------------------------------- sources


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha_or_error(path: Path) -> tuple[str | None, str | None]:
    try:
        return file_sha256(path), None
    except OSError as e:
        return None, f"{path}: cannot read ({e.strerror or e})"


# ------------------------------------------------------------------------------------- per-source work


def load_working_image(path: Path, config: BuildConfig) -> tuple[torch.Tensor, int, bool, tuple[int, int]]:
    """Decode, composite alpha on the background, downscale to max_side.

    Returns (rgb (3, H, W) float, source bit depth, source grayscale, source (width, height)).
    """
    image = read_image(path)
    rgb = composite(image.rgb, image.alpha, config.background)
    w, h = image.size
    if config.max_side and max(w, h) > config.max_side:
        scale = config.max_side / max(w, h)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        rgb = F.interpolate(rgb[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]
        rgb = rgb.clamp_(0.0, 1.0)
    return rgb, image.bit_depth, image.grayscale, (w, h)


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (rgb.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def patch_grid(width: int, height: int, patch: int, step: int) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of a grid of patches, row by row, centred so the unused margin is split evenly."""
    if width < patch or height < patch:
        return []
    nx, ny = (width - patch) // step + 1, (height - patch) // step + 1
    ox = (width - ((nx - 1) * step + patch)) // 2
    oy = (height - ((ny - 1) * step + patch)) // 2
    return [(ox + i * step, oy + j * step, ox + i * step + patch, oy + j * step + patch)
            for j in range(ny) for i in range(nx)]


def patch_id(source_sha256: str, box: Sequence[int]) -> str:
    return f"{source_sha256[:16]}_{box[0]}_{box[1]}"


def process_source(path: Path, sha: str, split_name: str, config: BuildConfig, out: Path | None) -> dict:
    """Patches of one source with their scores and fingerprints; writes those above min_info under `out`."""
    try:
        rgb, depth, gray, (sw, sh) = load_working_image(path, config)
        gray = gray and len(set(config.background)) == 1  # a coloured background makes a grey source colour
    except GansrError as e:
        return {"error": str(e)}
    except OSError as e:
        return {"error": f"{path}: cannot read ({e.strerror or e})"}
    _, h, w = rgb.shape
    boxes = patch_grid(w, h, config.patch, config.step)
    if not boxes:
        where = f" after downscaling to {w}x{h}" if (w, h) != (sw, sh) else ""
        return {"error": f"{path}: {sw}x{sh}{where} is smaller than one {config.patch}x{config.patch} patch"}
    u8 = to_uint8(rgb)
    patches = []
    for box in boxes:
        x0, y0, x1, y1 = box
        p = u8[y0:y1, x0:x1]
        info = lowinfo.info_score(p)
        bits = dedup.fingerprint(p, config.hash, config.hash_size)
        pid = patch_id(sha, box)
        low = info < config.min_info
        if out is not None and not low:
            write_image(out / split_name / f"{pid}.png", rgb[:, y0:y1, x0:x1], bit_depth=depth, grayscale=gray)
        patches.append({"id": pid, "box": list(box), "hash": dedup.bits_to_hex(bits), "info": round(info, 4),
                        "low": low})
    return {"patches": patches, "source_size": [sw, sh], "image_size": [w, h]}


def _process_args(args: tuple) -> dict:
    return process_source(*args)


_LIMITS = None


def _init_worker() -> None:
    """One thread per worker process for torch and the BLAS/OpenMP pools sklearn uses."""
    global _LIMITS
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    _LIMITS = threadpool_limits(limits=1)


# ------------------------------------------------------------------------------------------- manifest


def read_manifest(path: Path, *, repair: bool = False) -> list[dict]:
    """Complete source blocks of a manifest. With `repair`, an unfinished last block is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    records: list[dict] = []
    starts: list[int] = []
    pos = 0
    for lineno, line in enumerate(data[:end].split(b"\n")[:-1], 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise ConfigError(f"{path}: line {lineno} is not JSON; rebuild with --force") from None
        starts.append(pos)
        pos += len(line) + 1
    # blocks are contiguous lines of one source; only the last can be incomplete
    keep = len(records)
    if records:
        last_source = records[-1]["source"]
        first = keep
        while first > 0 and records[first - 1]["source"] == last_source:
            first -= 1
        if keep - first != records[-1].get("source_lines", keep - first):
            keep = first
    cut = starts[keep] if keep < len(records) else end
    if repair and cut < len(data):
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
    return records[:keep]


class _Manifest:
    """Appends one source's lines at a time, each block in a single write followed by fsync."""

    def __init__(self, path: Path | None) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None

    def append(self, lines: list[dict]) -> None:
        if self.fd is None:
            return
        for line in lines:
            line["source_lines"] = len(lines)
        data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _record(**kw: object) -> dict:
    base = {"id": None, "source": None, "source_sha256": None, "box": None, "patch_hash": None, "split": None,
            "status": None, "duplicate_of": None}
    base.update(kw)
    return base


def _source_record_id(source: str) -> str:
    return "file-" + hashlib.sha256(source.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- build


@dataclass
class BuildReport:
    """What a build did: the summary written to summary.json plus this run's own counts and timing."""

    summary: dict
    out: Path
    new_sources: int = 0
    skipped_sources: int = 0
    seconds: float = 0.0
    sheets: list[Path] = field(default_factory=list)


def _atomic_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _prepare_out(out: Path, config: BuildConfig, force: bool) -> None:
    """Create DIR or check that it holds a build with the same configuration (cleared with force)."""
    wanted = {"format": FORMAT, "version": VERSION, "config": config.to_dict()}
    cfg_path = out / CONFIG
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    if cfg_path.exists():
        try:
            found = json.loads(cfg_path.read_text())
        except (OSError, json.JSONDecodeError):
            found = None
        if found != wanted:
            if not force:
                diff = _config_diff(found, wanted)
                raise ConfigError(f"--out {out}: holds a build with another configuration ({diff}); "
                                  "pass --force to replace it, or choose another folder")
            for name in OWNED:
                target = out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
    elif out.is_dir() and any(p.name != DRY_RUN for p in out.iterdir()):
        raise ConfigError(f"--out {out}: is not empty and holds no {CONFIG} from a previous build; "
                          "choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    if not cfg_path.exists():
        _atomic_json(cfg_path, wanted)


def _config_diff(found: dict | None, wanted: dict) -> str:
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        return f"{CONFIG} is unreadable or not a {FORMAT} file"
    if found.get("version") != VERSION:
        return f"format version {found.get('version')} vs {VERSION}"
    a, b = found.get("config", {}), wanted["config"]
    return ", ".join(f"{k}: {a.get(k)} vs {b[k]}" for k in b if a.get(k) != b[k]) or "differs"


def _ordered_map(fn: Callable[[tuple], dict], items: list[tuple], workers: int) -> Iterator[dict]:
    """fn over items, results in input order; a process pool when workers > 1."""
    if workers <= 1 or len(items) <= 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            for item in items:
                yield fn(item)
        return
    # forkserver: one clean process imports torch/sklearn once and forks the workers (no threads are forked)
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker)
    try:
        yield from pool.map(fn, items, chunksize=1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def build_dataset(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    config: BuildConfig | None = None,
    *,
    workers: int = 1,
    dry_run: bool = False,
    force: bool = False,
    progress: bool = False,
    report: bool = True,
) -> BuildReport:
    """Build (or resume) a patch dataset from `sources` in `out`; returns the summary and this run's counts."""
    t0 = time.perf_counter()
    config = (config or BuildConfig()).validate()
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1")
    out = Path(out)
    texts = [os.fspath(s) for s in sources]
    if not texts:
        raise ConfigError("no SRC given: pass image files, folders or glob patterns")
    files = list_images(texts)
    if not files:
        raise ImageError(f"no image files found in {', '.join(texts)}")
    check_output_outside(texts, out, files)

    work_dir = out / DRY_RUN if dry_run else out
    if dry_run:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: exists and is not a folder")
        records: list[dict] = []
    else:
        _prepare_out(out, config, force)
        records = read_manifest(out / MANIFEST, repair=True)

    done = {r["source"] for r in records}
    sha_to_source = {r["source_sha256"]: r["source"] for r in records
                     if r["source_sha256"] and r["status"] != "error" and not r.get("duplicate_of_source")}
    pending = [f for f in files if os.path.abspath(f) not in done]

    expected = max(100_000, len(records) + 100 * len(pending))  # sizes the hash tables; speed only
    dd = dedup.Deduplicator(config.n_bits, config.dup_threshold, expected=expected)
    kept_ids: list[str] = []
    old_kept = [r for r in records if r["status"] == "kept"]
    if old_kept:
        dd.index.add(np.stack([dedup.hex_to_bits(r["patch_hash"], config.n_bits) for r in old_kept]))
        kept_ids = [r["id"] for r in old_kept]

    with ThreadPoolExecutor(max_workers=workers) as pool:  # hashing is I/O and releases the GIL
        shas = list(pool.map(_sha_or_error, pending))
    jobs, plan = [], []
    for f, (sha, err) in zip(pending, shas):
        src = os.path.abspath(f)
        if err:
            plan.append((src, None, None, {"error": err}))
            continue
        name = split.assign_split(sha, config.split, config.seed)
        if sha in sha_to_source:
            plan.append((src, sha, name, {"same_as": sha_to_source[sha]}))
            continue
        sha_to_source[sha] = src
        plan.append((src, sha, name, None))
        jobs.append((f, sha, name, config, None if dry_run else out))

    manifest = _Manifest(None if dry_run else out / MANIFEST)
    results = _ordered_map(_process_args, jobs, workers)
    bar = progress_bar(len(plan), desc="build", unit="src", enabled=progress)
    try:
        for src, sha, name, early in plan:
            result = early if early is not None else next(results)
            lines = _source_lines(src, sha, name, result, config, dd, kept_ids, None if dry_run else out)
            manifest.append(lines)
            records.extend(lines)
            bar.update(1)
    finally:
        bar.close()
        manifest.close()
        if hasattr(results, "close"):
            results.close()

    if not dry_run:
        _remove_strays(out, {(r["split"], r["id"]) for r in records if r["status"] == "kept"})
    summary = summarize(records, config)
    _atomic_json(work_dir / SUMMARY, summary)
    sheets = write_report(records, config, work_dir / REPORT) if report else []
    return BuildReport(summary=summary, out=out, new_sources=len(pending), skipped_sources=len(files) - len(pending),
                       seconds=time.perf_counter() - t0, sheets=sheets)


def _source_lines(src: str, sha: str | None, name: str | None, result: dict, config: BuildConfig,
                  dd: dedup.Deduplicator, kept_ids: list[str], out: Path | None) -> list[dict]:
    """Manifest lines of one source; decides its near-duplicates (and deletes their files)."""
    if "error" in result:
        return [_record(id=_source_record_id(src), source=src, source_sha256=sha, split=name, status="error",
                        reason=result["error"])]
    if "same_as" in result:
        return [_record(id=_source_record_id(src), source=src, source_sha256=sha, split=name, status="duplicate",
                        duplicate_of_source=result["same_as"], reason=f"same bytes as {result['same_as']}")]
    patches = result["patches"]
    lines = [_record(id=p["id"], source=src, source_sha256=sha, box=p["box"], patch_hash=p["hash"], split=name,
                     status="low_information" if p["low"] else "kept", info=p["info"],
                     source_size=result["source_size"], image_size=result["image_size"]) for p in patches]
    cand = [i for i, p in enumerate(patches) if not p["low"]]
    if cand:
        bits = np.stack([dedup.hex_to_bits(patches[i]["hash"], config.n_bits) for i in cand])
        leader, is_dup, dist = dd.add(bits)
        for i, lead, dup, d in zip(cand, leader, is_dup, dist):
            if dup:
                lines[i].update(status="duplicate", duplicate_of=kept_ids[lead], distance=int(d))
                if out is not None:
                    (out / name / f"{lines[i]['id']}.png").unlink(missing_ok=True)
            else:
                kept_ids.append(lines[i]["id"])
    return lines


def _remove_strays(out: Path, kept: set[tuple[str, str]]) -> None:
    """Delete patch files that no kept manifest line names (left by an interrupted run) and temp files."""
    for name in split.SPLITS:
        folder = out / name
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            p = Path(entry.path)
            if p.suffix == ".tmp" and p.name.startswith("."):
                p.unlink(missing_ok=True)
            elif p.suffix == ".png" and (name, p.stem) not in kept:
                p.unlink(missing_ok=True)


# -------------------------------------------------------------------------------------------- summary


def summarize(records: Iterable[dict], config: BuildConfig) -> dict:
    """Counts per status and per split, sources used and refused (with reasons), and the configuration."""
    patches: Counter[str] = Counter()
    per_split = {name: Counter() for name in split.SPLITS}
    sources: dict[str, str] = {}
    split_sources = {name: set() for name in split.SPLITS}
    errors = []
    file_dups = []
    for r in records:
        if r["box"] is None:
            sources[r["source"]] = "error" if r["status"] == "error" else "duplicate_file"
            if r["status"] == "error":
                errors.append({"source": r["source"], "reason": r.get("reason", "")})
            else:
                file_dups.append({"source": r["source"], "same_as": r.get("duplicate_of_source")})
            continue
        sources[r["source"]] = "used"
        patches[r["status"]] += 1
        per_split[r["split"]][r["status"]] += 1
        split_sources[r["split"]].add(r["source"])
    status_counts = Counter(sources.values())
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "sources": {"total": len(sources), "used": status_counts["used"], "error": status_counts["error"],
                    "duplicate_file": status_counts["duplicate_file"]},
        "patches": {"total": sum(patches.values()), **{s: patches[s] for s in STATUSES[:3]}},
        "splits": {name: {"sources": len(split_sources[name]), **{s: per_split[name][s] for s in STATUSES[:3]}}
                   for name in split.SPLITS},
        "errors": errors,
        "duplicate_files": file_dups,
    }


# --------------------------------------------------------------------------------------------- report

_SAMPLES = 16


def _sample_key(rid: str) -> int:
    return int.from_bytes(hashlib.sha1(rid.encode()).digest()[:8], "big")


def select_samples(records: Sequence[dict], k: int = _SAMPLES) -> dict[str, list[dict]]:
    """Deterministic samples for the contact sheets: random (by id hash) and nearest the low-information threshold."""
    heaps: dict[str, list] = {n: [] for n in ("kept", "low_information", "duplicate", "low_edge", "kept_edge")}
    for i, r in enumerate(records):
        st = r["status"]
        if r["box"] is None or st == "error":
            continue
        key = _sample_key(r["id"])
        _keep_largest(heaps[st], (-key, i), k)  # the k smallest keys: a random sample, the same every run
        if st == "low_information":
            _keep_largest(heaps["low_edge"], (r["info"], -key, i), k)  # highest scores under the threshold
        elif st == "kept":
            _keep_largest(heaps["kept_edge"], (-r["info"], -key, i), k)  # lowest scores over it
    return {name: [records[item[-1]] for item in sorted(heap, reverse=True)] for name, heap in heaps.items()}


def _keep_largest(heap: list, item: tuple, k: int) -> None:
    if len(heap) < k:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def cut_patches(records: Sequence[dict], config: BuildConfig) -> dict[str, np.ndarray]:
    """Pixels (uint8) of the given patch records, decoding each source once; sources gone are skipped."""
    by_source: dict[str, list[dict]] = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r)
    pixels = {}
    for src, recs in sorted(by_source.items()):
        try:
            rgb, *_ = load_working_image(Path(src), config)
        except (GansrError, OSError):
            continue
        u8 = to_uint8(rgb)
        for r in recs:
            x0, y0, x1, y1 = r["box"]
            if y1 <= u8.shape[0] and x1 <= u8.shape[1]:
                pixels[r["id"]] = u8[y0:y1, x0:x1]
    return pixels


def write_report(records: Sequence[dict], config: BuildConfig, folder: Path, *, tile: int = 80,
                 samples_per_row: int = 16, prefix: str = "contact_") -> list[Path]:
    """Contact sheets of rejected and kept samples per reason: {prefix}low_information.png, {prefix}duplicate.png."""
    samples = select_samples(records, samples_per_row)
    originals_wanted = {r["duplicate_of"] for r in samples["duplicate"]}
    originals = {r["id"]: r for r in records if r["id"] in originals_wanted and r["box"] is not None}
    needed = [r for group in samples.values() for r in group] + list(originals.values())
    pixels = cut_patches(needed, config)

    def tiles(group: list[dict], caption: Callable[[dict], str]) -> list[contact.Tile]:
        return [(pixels[r["id"]], caption(r)) for r in group if r["id"] in pixels]

    info = lambda r: f"{r['info']:.3f}"  # noqa: E731
    sheets = []
    t = config.min_info
    sheets.append(contact.write_sheet(folder / f"{prefix}low_information.png", [
        (f"dropped as low-information (info < {t}), random sample", tiles(samples["low_information"], info)),
        ("dropped, highest info (just under the threshold)", tiles(samples["low_edge"], info)),
        ("kept, lowest info (just over the threshold)", tiles(samples["kept_edge"], info)),
        ("kept, random sample", tiles(samples["kept"], info)),
    ], title=f"low-information filter: info = 1 - share of the dominant colour; min_info = {t}", tile=tile))
    pairs: list[contact.Tile] = []
    for r in samples["duplicate"]:
        o = originals.get(r["duplicate_of"])
        if r["id"] in pixels and o is not None and o["id"] in pixels:
            pairs += [(pixels[r["id"]], f"dup d={r.get('distance')}"), (pixels[o["id"]], "kept")]
    sheets.append(contact.write_sheet(folder / f"{prefix}duplicate.png", [
        (f"dropped near-duplicate | the kept patch it duplicates ({config.hash} {config.n_bits} bits, "
         f"d <= {config.dup_threshold})", pairs),
    ], title="near-duplicate filter: pairs (dropped, kept)", tile=tile))
    return sheets
