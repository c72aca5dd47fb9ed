"""Merge the per-dataset, per-scale `gansr sr bench` folders into one Markdown table.

    .venv/bin/python experiments/sr_bench_summary.py                       # experiments/results/sr_bench_*_x*/
    .venv/bin/python experiments/sr_bench_summary.py DIR... -o OUT.md

Writes experiments/results/sr_bench_summary.md (gan_sr.pipelines.bench.write_summary: PSNR/SSIM Y per
method x dataset x scale, ms per output MP, GFLOP/s and % of the matmul peak).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gan_sr.pipelines.bench import write_summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments/results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, help="bench output folders (default: results/sr_bench_*_x*)")
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "sr_bench_summary.md")
    args = ap.parse_args()
    folders = args.folders or sorted(p.parent for p in RESULTS.glob("sr_bench_*_x*/results.json"))
    if not folders:
        raise SystemExit(f"no bench folders with results.json under {RESULTS}; run experiments/sr_bench_full.sh first")
    runs = []
    for folder in folders:
        path = folder / "results.json"
        if not path.is_file():
            raise SystemExit(f"{folder}: no results.json (not a finished `gansr sr bench` folder)")
        src = path.resolve().relative_to(ROOT) if path.resolve().is_relative_to(ROOT) else path
        runs.append((str(src.parent), json.loads(path.read_text())))
    command = " ".join([".venv/bin/python", str(Path(sys.argv[0]).resolve().relative_to(ROOT)), *sys.argv[1:]])
    print(write_summary(args.out, runs, command=command))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
