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

Split by what each part holds: `patches` (decode, grid, per-patch scores), `manifest` (manifest.jsonl) and
`build_report` (contact sheets); this module drives the build, and every public name of the parts is importable
from here.
"""

from __future__ import annotations

import hashlib
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

from gan_sr.data import dedup, lowinfo, split
from gan_sr.data.build_report import select_samples, write_report
from gan_sr.data.manifest import ManifestWriter, manifest_record, read_manifest, source_record_id
from gan_sr.data.patches import cut_patches, load_working_image, patch_grid, patch_id, process_source, to_uint8
from gan_sr.errors import ConfigError, ImageError
from gan_sr.io.images import list_images
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


def _process_args(args: tuple) -> dict:
    return process_source(*args)


_LIMITS = None


def _init_worker() -> None:
    """One thread per worker process for torch and the BLAS/OpenMP pools sklearn uses."""
    global _LIMITS
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    _LIMITS = threadpool_limits(limits=1)


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

    manifest = ManifestWriter(None if dry_run else out / MANIFEST)
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
        return [manifest_record(id=source_record_id(src), source=src, source_sha256=sha, split=name,
                                status="error", reason=result["error"])]
    if "same_as" in result:
        return [manifest_record(id=source_record_id(src), source=src, source_sha256=sha, split=name,
                                status="duplicate", duplicate_of_source=result["same_as"],
                                reason=f"same bytes as {result['same_as']}")]
    patches = result["patches"]
    lines = [manifest_record(id=p["id"], source=src, source_sha256=sha, box=p["box"], patch_hash=p["hash"],
                             split=name, status="low_information" if p["low"] else "kept", info=p["info"],
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
