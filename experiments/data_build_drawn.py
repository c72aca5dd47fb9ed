"""Build the drawn-art training set (defaults) from the four drawn-art folders in shared/datasets, and write
what it kept and dropped under experiments/results/data/: per-folder counts, the build summary, contact
sheets of dropped and kept samples per reason, and a sheet of patches by low-information score band.

The build itself goes to data/anime (ignored by git) and resumes if interrupted.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/data_build_drawn.py --workers 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

from gan_sr.data import build as B
from gan_sr.data import contact

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
FOLDERS = ["peppercarrot_gamegfx", "peppercarrot_webcomic_covers", "peppercarrot_webcomic_crops384",
           "learntocoderpg_vn_sprites"]
BANDS = [0.0, 0.01, 0.03, 0.05, 0.08, 0.12, 0.2, 1.01]


def drawn_sources() -> list[Path]:
    """The four folders, read recursively: since shared/ gained the sprites' `layers/` (the face parts the
    heads dataset composites), they are part of this build too, and every SR number since 2026-12-06 is on it;
    the build's dedup and source-grouped split keep a layer and its finished sprite from straddling splits."""
    return [SHARED / f for f in FOLDERS]


def folder_of(source: str) -> str:
    return next((f for f in FOLDERS if f"/{f}/" in source), "?")


def band_sheet(records: list[dict], config: B.BuildConfig, path: Path, per_band: int = 8) -> Path:
    """Patches sampled (by id hash) from each low-information score band, thresholds marked."""
    by_band: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        if r["box"] is not None and "info" in r:
            band = next(i for i in range(len(BANDS) - 1) if r["info"] < BANDS[i + 1])
            by_band[band].append(r)
    chosen = {i: sorted(rs, key=lambda r: hashlib.sha1(r["id"].encode()).digest())[:per_band]
              for i, rs in by_band.items()}
    pixels = B.cut_patches([r for rs in chosen.values() for r in rs], config)
    sections = []
    for i in range(len(BANDS) - 1):
        rs = sorted(chosen.get(i, []), key=lambda r: r["info"])
        verdict = "dropped" if BANDS[i + 1] <= config.min_info else "kept"
        sections.append((f"info in [{BANDS[i]:.2f}, {min(BANDS[i + 1], 1):.2f}): {len(by_band.get(i, []))} patches, "
                         f"{verdict} at min_info {config.min_info}",
                         [(pixels[r["id"]], f"{r['info']:.3f}") for r in rs if r["id"] in pixels]))
    return contact.write_sheet(path, sections, title="patches by low-information score (random sample per band)",
                               tile=56)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "anime", help="build folder")
    ap.add_argument("--results", type=Path, default=ROOT / "experiments" / "results" / "data")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    config = B.BuildConfig()
    t0 = time.perf_counter()
    report = B.build_dataset(drawn_sources(), args.out, config, workers=args.workers)
    seconds = time.perf_counter() - t0
    records = B.read_manifest(args.out / B.MANIFEST)

    rows: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        f = folder_of(r["source"])
        if r["box"] is None:
            rows[f]["file " + r["status"]] += 1
            continue
        rows[f]["patches"] += 1
        rows[f][r["status"]] += 1
    sources = defaultdict(set)
    for r in records:
        sources[folder_of(r["source"])].add(r["source"])

    args.results.mkdir(parents=True, exist_ok=True)
    s = report.summary
    lines = ["# Drawn-art build (defaults)", "",
             f"`gansr data build` of {', '.join(FOLDERS)} into `{os.path.relpath(args.out, ROOT)}` with the default "
             f"configuration: patch {config.patch}, {config.hash} {config.n_bits} bits, dup threshold "
             f"{config.dup_threshold}, min_info {config.min_info}, split {config.split}, seed {config.seed}. "
             f"This run processed {report.new_sources} sources ({report.skipped_sources} already built) in "
             f"{seconds:.0f} s with {args.workers} worker(s).", "",
             "| folder | sources | patches | kept | duplicate | low_information | refused files | whole-file duplicates |",
             "|---|---|---|---|---|---|---|---|"]
    for f in FOLDERS:
        c = rows[f]
        lines.append(f"| {f} | {len(sources[f])} | {c['patches']} | {c['kept']} | {c['duplicate']} | "
                     f"{c['low_information']} | {c['file error']} | {c['file duplicate']} |")
    p = s["patches"]
    lines += [f"| all | {s['sources']['total']} | {p['total']} | {p['kept']} | {p['duplicate']} | "
              f"{p['low_information']} | {s['sources']['error']} | {s['sources']['duplicate_file']} |", "",
              "| split | sources | kept | duplicate | low_information |", "|---|---|---|---|---|"]
    for name, c in s["splits"].items():
        lines.append(f"| {name} | {c['sources']} | {c['kept']} | {c['duplicate']} | {c['low_information']} |")
    if s["errors"]:
        lines += ["", "Refused sources:", ""] + [f"- {e['reason']}" for e in s["errors"]]
    lines += ["", "Contact sheets: `drawn_low_information.png` (dropped and kept samples, and the patches either "
              "side of the threshold), `drawn_duplicate.png` (dropped near-duplicate next to the patch it "
              "duplicates), `drawn_info_bands.png` (random patches per score band).", ""]
    (args.results / "data_build_drawn.md").write_text("\n".join(lines) + "\n")
    (args.results / "data_build_drawn_summary.json").write_text(json.dumps(s, indent=2) + "\n")
    B.write_report(records, config, args.results, tile=56, prefix="drawn_")
    band_sheet(records, config, args.results / "drawn_info_bands.png")
    print("\n".join(lines))
    for p in sorted(args.results.glob("drawn_*.png")):
        print(f"{p}: {p.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
