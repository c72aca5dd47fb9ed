"""Training subsets of the character heads by share of eyes x brows x mouth combinations, for the ADA ablation
(issue 13: ADA should help most when data is scarce). Per character, its train combinations are ordered by a
seeded hash and the first round(share * n) (at least one) are kept, with all their extras variants; the val
split stays whole, so every subset is scored against the same val heads. Folders of symlinks, nothing copied.

    .venv/bin/python experiments/heads_subsets.py data/heads --size 64 --shares 0.1,0.3 --out data/heads_subsets
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from gan_sr.data.split import split_unit


def make_subset(heads: Path, size: int, share: float, out: Path, seed: int = 0) -> dict:
    rows = [json.loads(line) for line in (heads / "manifest.jsonl").read_text().splitlines() if line.strip()]
    kept = [r for r in rows if not r.get("duplicate_of")]
    units: dict[str, set[str]] = defaultdict(set)
    for r in kept:
        if r["split"] == "train":
            units[r["character"]].add(r["unit"])
    chosen = set()
    for char, us in units.items():
        order = sorted(us, key=lambda u: split_unit(u, seed))
        chosen.update(order[: max(1, round(share * len(order)))])
    for split in ("train", "val"):
        (out / split).mkdir(parents=True, exist_ok=True)
    n = {"train": 0, "val": 0}
    for r in kept:
        if r["split"] == "val" or r["unit"] in chosen:
            src = (heads / str(size) / r["split"] / f"{r['id']}.png").resolve()
            dst = out / r["split"] / f"{r['id']}.png"
            if not dst.exists():
                dst.symlink_to(src)
            n[r["split"]] += 1
    return {"share": share, "train_units": len(chosen), "train_images": n["train"], "val_images": n["val"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("heads", type=Path, help="a `gansr data heads` output folder")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--shares", default="0.1,0.3")
    ap.add_argument("--out", type=Path, default=Path("data/heads_subsets"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for share in (float(s) for s in args.shares.split(",")):
        folder = args.out / f"{args.size}_{round(share * 100)}pct"
        print(folder, make_subset(args.heads, args.size, share, folder, args.seed))


if __name__ == "__main__":
    main()
