"""Near-duplicate detection on real drawn-art patches: recall on injected near-duplicates and false positives
among distinct patches, per Hamming threshold, for phash/dhash/ahash at 13x13 (169 bits).

Patches: the 128 px grid of the drawn-art folders in shared/datasets, after the low-information filter (as a
build sees them). The art repeats itself (sprites sharing a body, animation frames), so "distinct" needs a
definition that does not use the hash: two patches are genuine repeats when the mean absolute difference of
their 16x16 grey thumbnails (mean removed) is within the 99th percentile that the injected near-duplicates
reach; the
distinct set keeps the first of each group of repeats. Injected near-duplicates of a seeded sample: JPEG q=75
re-encode, 1 px and 2 px shifts (cut from the source at the moved box), brightness x1.05 and x0.95, resize
round-trip (x0.5 bicubic and back). Recall = share of (patch, variant) pairs within the threshold;
FP = share of distinct patches with another distinct patch within it. The end-to-end check runs the
build's Deduplicator at the default threshold.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_dedup.py --out experiments/results/data
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gan_sr.colour import LUMA
from gan_sr.data import contact, dedup, lowinfo
from gan_sr.data.build import BuildConfig, load_working_image, patch_grid, to_uint8
from gan_sr.io.images import list_images

from data_build_drawn import FOLDERS, drawn_sources  # the drawn-art sources, defined once
VARIANTS = ["jpeg75", "shift1", "shift2", "bright+5%", "bright-5%", "resize0.5"]


def variant(src: np.ndarray, box: tuple[int, int, int, int], kind: str, rng: np.random.Generator) -> np.ndarray | None:
    """A near-duplicate of src[box] (uint8 HWC); None when a shift would leave the image."""
    x0, y0, x1, y1 = box
    p = src[y0:y1, x0:x1]
    if kind == "jpeg75":
        buf = io.BytesIO()
        Image.fromarray(p).save(buf, "JPEG", quality=75)
        return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if kind.startswith("shift"):
        s = int(kind[-1])
        dx, dy = [(s, 0), (0, s), (-s, 0), (0, -s), (s, s), (-s, -s)][rng.integers(6)]
        if x0 + dx < 0 or y0 + dy < 0 or x1 + dx > src.shape[1] or y1 + dy > src.shape[0]:
            return None
        return src[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    if kind.startswith("bright"):
        f = 1.05 if "+" in kind else 0.95
        return np.clip(np.rint(p.astype(np.float32) * f), 0, 255).astype(np.uint8)
    if kind == "resize0.5":
        im = Image.fromarray(p)
        small = im.resize((p.shape[1] // 2, p.shape[0] // 2), Image.Resampling.BICUBIC)
        return np.asarray(small.resize((p.shape[1], p.shape[0]), Image.Resampling.BICUBIC))
    raise ValueError(kind)


def collect(config: BuildConfig, max_sources: int | None) -> tuple[list[np.ndarray], list[tuple[int, tuple]], int]:
    """Working images and the (image index, box) of every patch that passes the low-information filter."""
    files = list_images(drawn_sources())[:max_sources]
    images, patches, n_low = [], [], 0
    for f in files:
        rgb, *_ = load_working_image(f, config)
        u8 = to_uint8(rgb)
        images.append(u8)
        for box in patch_grid(u8.shape[1], u8.shape[0], config.patch, config.step):
            x0, y0, x1, y1 = box
            if lowinfo.info_score(u8[y0:y1, x0:x1]) < config.min_info:
                n_low += 1
            else:
                patches.append((len(images) - 1, box))
    return images, patches, n_low


def thumb(p: np.ndarray) -> np.ndarray:
    """16x16 grey thumbnail (area average) minus its mean, in grey levels: blind to small brightness changes."""
    g = p.astype(np.float32) @ np.array(LUMA, np.float32)
    h, w = g.shape
    t = g[: h - h % 16, : w - w % 16].reshape(16, h // 16, 16, w // 16).mean((1, 3))
    return t - t.mean()


def distinct_rows(thumbs: np.ndarray, gap: float) -> np.ndarray:
    """Rows kept when every patch whose thumbnail is within `gap` of an earlier kept one is left out."""
    flat = thumbs.reshape(len(thumbs), -1)
    repeat = np.zeros(len(flat), dtype=bool)
    for i in range(len(flat)):
        if repeat[i]:
            continue
        d = np.abs(flat[i + 1 :] - flat[i]).mean(1)
        repeat[i + 1 :] |= d <= gap
    return np.flatnonzero(~repeat)


def nearest_other(packed: np.ndarray) -> np.ndarray:
    """Hamming distance from each code to its nearest other code (all pairs)."""
    nn = np.full(len(packed), 10**6)
    for s in range(0, len(packed), 512):
        d = dedup.hamming(packed[s : s + 512, None, :], packed[None, :, :])
        d[np.arange(len(d)), np.arange(s, s + len(d))] = 10**6
        nn[s : s + len(d)] = d.min(1)
    return nn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("experiments/results/data"))
    ap.add_argument("--queries", type=int, default=800, help="distinct patches that get near-duplicate variants")
    ap.add_argument("--max-sources", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    config = BuildConfig()
    t0 = time.perf_counter()
    images, patches, n_low = collect(config, args.max_sources)
    pix = [images[i][b[1] : b[3], b[0] : b[2]] for i, b in patches]
    sample = np.sort(rng.choice(len(patches), min(args.queries, len(patches)), replace=False))
    pairs = []  # (patch index, variant kind, pixels)
    for q in sample:
        i, box = patches[q]
        for kind in VARIANTS:
            v = variant(images[i], box, kind, rng)
            if v is not None:
                pairs.append((int(q), kind, v))
    thumbs = np.stack([thumb(p) for p in pix])
    variant_gap = np.array([np.abs(thumb(v) - thumbs[q]).mean() for q, _, v in pairs])
    repeat_gap = float(np.percentile(variant_gap, 99))
    distinct = distinct_rows(thumbs, repeat_gap)
    n_repeats = len(patches) - len(distinct)
    is_distinct = np.zeros(len(patches), dtype=bool)
    is_distinct[distinct] = True
    scored = np.array([is_distinct[q] for q, _, _ in pairs])  # recall is scored on variants of distinct patches
    n_scored = int(scored.sum())
    print(f"{len(patches)} patches from {len(images)} sources ({n_low} low-information left out); "
          f"{n_repeats} are genuine repeats (thumbnail gap <= {repeat_gap:.2f} grey levels), "
          f"{len(distinct)} distinct; {len(pairs)} near-duplicates of {len(sample)} patches; "
          f"prepared in {time.perf_counter() - t0:.0f} s")

    thresholds = list(range(0, 41, 2))
    results = {}
    for method in dedup.HASH_METHODS:
        fp = np.stack([dedup.fingerprint(p, method, 13) for p in pix])
        fv = np.stack([dedup.fingerprint(v, method, 13) for _, _, v in pairs])
        packed, packed_v = dedup.pack(fp), dedup.pack(fv)
        d_pair = dedup.hamming(packed[[q for q, _, _ in pairs]], packed_v)
        nn = nearest_other(packed[distinct])
        nn_raw = nearest_other(packed)
        kinds = np.array([k for _, k, _ in pairs])
        d_pair, kinds = d_pair[scored], kinds[scored]
        results[method] = {
            "recall": {t: float((d_pair <= t).mean()) for t in thresholds},
            "recall_by_variant": {k: {t: float((d_pair[kinds == k] <= t).mean()) for t in thresholds}
                                  for k in VARIANTS},
            "fp": {t: float((nn <= t).mean()) for t in thresholds},
            "fp_raw": {t: float((nn_raw <= t).mean()) for t in thresholds},
            "d_pair": d_pair, "nn": nn, "fp_bits": fp[distinct], "fv_bits": fv,
        }

    def feasible(method: str) -> list[int]:
        r = results[method]
        return [t for t in thresholds if r["recall"][t] >= 0.95 and r["fp"][t] <= 0.01]

    lines = ["# Near-duplicate benchmark on drawn-art patches", "",
             f"{len(patches)} informative 128 px patches (low-information filter applied, {n_low} left out) from "
             f"{len(images)} sources in {', '.join(FOLDERS)}. {n_repeats} of them repeat an earlier patch "
             f"(16x16 grey thumbnails, mean removed, within {repeat_gap:.2f} grey levels, the 99th percentile of the injected "
             f"variants), leaving {len(distinct)} distinct patches. {len(pairs)} injected near-duplicates of "
             f"{len(sample)} sampled patches ({', '.join(VARIANTS)}); the {n_scored} of them made from distinct "
             "patches are scored. Fingerprints 13x13 = 169 bits.", "",
             "Recall = share of (patch, variant) pairs within the threshold; FP = share of distinct patches with "
             "another distinct patch within it; FP raw = the same before removing the genuine repeats.", ""]
    for method in dedup.HASH_METHODS:
        r = results[method]
        lines += [f"## {method}", "", "| threshold (bits) | recall | FP | FP raw | " + " | ".join(VARIANTS) + " |",
                  "|---|---|---|---|" + "---|" * len(VARIANTS)]
        for t in thresholds:
            per = " | ".join(f"{r['recall_by_variant'][k][t]:.3f}" for k in VARIANTS)
            lines.append(f"| {t} | {r['recall'][t]:.3f} | {r['fp'][t]:.4f} | {r['fp_raw'][t]:.4f} | {per} |")
        ok = feasible(method)
        weakest = min(VARIANTS, key=lambda k: r["recall_by_variant"][k][dedup.DEFAULT_DUP_THRESHOLD])
        lines += ["", f"Thresholds with recall >= 0.95 and FP <= 1%: {', '.join(map(str, ok)) or 'none'}. "
                  f"Weakest variant at {dedup.DEFAULT_DUP_THRESHOLD}: {weakest} "
                  f"({r['recall_by_variant'][weakest][dedup.DEFAULT_DUP_THRESHOLD]:.3f}).", ""]

    d_default = dedup.DEFAULT_DUP_THRESHOLD
    r = results["phash"]
    dd = dedup.Deduplicator(169, d_default, expected=len(pix) + len(pairs))
    _, dup_distinct, _ = dd.add(r["fp_bits"])
    _, dup_variant, _ = dd.add(r["fv_bits"][scored])
    e2e = {"threshold": d_default, "distinct_dropped": float(dup_distinct.mean()),
           "variants_dropped": float(dup_variant.mean())}
    lines += ["## End to end at the default (phash, 169 bits)", "",
              f"Deduplicator with threshold {d_default}, distinct patches first, then the variants: "
              f"{e2e['variants_dropped']:.3f} of the near-duplicates dropped (recall), "
              f"{e2e['distinct_dropped']:.4f} of the distinct patches dropped (false positives).", ""]
    print("\n".join(lines))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_dedup.md").write_text("\n".join(lines) + "\n")
    summary = {m: {k: results[m][k] for k in ("recall", "fp", "fp_raw", "recall_by_variant")} for m in results}
    summary["end_to_end"] = e2e
    summary["counts"] = {"informative": len(patches), "distinct": len(distinct), "repeat_gap": repeat_gap,
                         "low_information": n_low, "variants": len(pairs), "variants_scored": n_scored,
                         "sources": len(images)}
    (args.out / "bench_dedup.json").write_text(json.dumps(summary, indent=1) + "\n")

    # what limits it: the closest distinct pairs and the missed variants, at the default
    close = np.argsort(r["nn"], kind="stable")[:8]
    tiles_fp: list[contact.Tile] = []
    for a in close:
        d = dedup.hamming(dedup.pack(r["fp_bits"][a : a + 1]), dedup.pack(r["fp_bits"]))
        d[a] = 10**6
        b = int(np.argmin(d))
        tiles_fp += [(pix[distinct[a]], f"d={int(d[b])}"), (pix[distinct[b]], "")]
    scored_pairs = [pr for pr, ok in zip(pairs, scored) if ok]
    missed = np.flatnonzero(r["d_pair"] > d_default)
    missed = missed[np.argsort(-r["d_pair"][missed], kind="stable")][:8]
    tiles_miss: list[contact.Tile] = []
    for k in missed:
        q, kind, v = scored_pairs[k]
        tiles_miss += [(pix[q], f"d={int(r['d_pair'][k])}"), (v, kind)]
    contact.write_sheet(args.out / "bench_dedup_limits.png", [
        ("closest distinct pairs (phash): counted as false positives when d <= threshold", tiles_fp),
        (f"missed near-duplicates at threshold {d_default} (original | variant), largest distance first", tiles_miss),
    ], title="near-duplicate benchmark: what limits recall and false positives", tile=64)
    print(f"wrote {args.out / 'bench_dedup.md'} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
