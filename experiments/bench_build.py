"""Throughput of `gansr data build`, and how the near-duplicate index scales.

Part 1 (--build): a whole build of the drawn-art folders in shared/datasets with N worker processes, as
patches/s (every patch is cut, scored and hashed; the kept ones are written), next to the time just to decode
and composite the same images with the same number of processes (the decode-bound limit), and a per-stage
breakdown measured in one process on the first sources.

Part 2 (--index): the build's Deduplicator (multi-index hashing) on synthetic 169-bit fingerprints (uniform
random plus 10% near copies with 0-30 bits flipped, threshold = the default) at each --sizes, and in the same
run the all-pairs reference (BruteForceIndex) at --brute-size, with the index at that size too, their ratio,
and the all-pairs time extrapolated (x n^2) to the larger sizes. Both must give identical groupings.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_build.py --workers 2 --out experiments/results/data
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from gan_sr.data import dedup, lowinfo
from gan_sr.data.build import BuildConfig, build_dataset, load_working_image, patch_grid, to_uint8
from gan_sr.io.images import list_images, write_image

from data_build_drawn import drawn_sources  # the drawn-art sources, defined once


def _decode(path: Path) -> int:
    rgb, *_ = load_working_image(path, BuildConfig())
    return int(rgb.shape[1] * rgb.shape[2])


def _init() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    globals()["_limits"] = threadpool_limits(limits=1)


def decode_all(files: list[Path], workers: int) -> float:
    t0 = time.perf_counter()
    if workers <= 1:
        for f in files:
            _decode(f)
    else:
        ctx = get_context("forkserver")
        ctx.set_forkserver_preload(["gan_sr.data.build"])
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init) as pool:
            pool.submit(_decode, files[0]).result()  # start-up is not decoding
            t0 = time.perf_counter()
            list(pool.map(_decode, files, chunksize=1))
    return time.perf_counter() - t0


def stages(files: list[Path], config: BuildConfig, tmp: Path) -> dict[str, float]:
    """Seconds per stage over `files`, in this process, and the patch count."""
    t = dict.fromkeys(["decode", "low_information", "fingerprint", "write_png"], 0.0)
    n = 0
    for f in files:
        t0 = time.perf_counter()
        rgb, depth, gray, _ = load_working_image(f, config)
        u8 = to_uint8(rgb)
        t["decode"] += time.perf_counter() - t0
        for x0, y0, x1, y1 in patch_grid(u8.shape[1], u8.shape[0], config.patch, config.step):
            p = u8[y0:y1, x0:x1]
            t0 = time.perf_counter()
            lowinfo.info_score(p)
            t1 = time.perf_counter()
            dedup.fingerprint(p, config.hash, config.hash_size)
            t2 = time.perf_counter()
            write_image(tmp / "stage.png", rgb[:, y0:y1, x0:x1], bit_depth=depth, grayscale=gray)
            t3 = time.perf_counter()
            t["low_information"] += t1 - t0
            t["fingerprint"] += t2 - t1
            t["write_png"] += t3 - t2
            n += 1
    return {**t, "patches": n}


def synthetic(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_near = n // 10
    base = np.unpackbits(rng.integers(0, 256, (n - n_near, 22), dtype=np.uint8), axis=1)[:, :169].astype(bool)
    near = base[rng.integers(0, len(base), n_near)]
    flips = rng.integers(0, 31, n_near)
    cols = rng.random((n_near, 169)).argsort(1)
    mask = np.arange(169)[None, :] < flips[:, None]
    near[np.arange(n_near)[:, None], cols] ^= mask
    out = np.concatenate([base, near])
    return out[rng.permutation(n)]


def time_dedup(bits: np.ndarray, brute: bool) -> tuple[float, tuple]:
    d = dedup.Deduplicator(169, dedup.DEFAULT_DUP_THRESHOLD, expected=len(bits), brute_force=brute)
    t0 = time.perf_counter()
    result = d.add(bits)
    return time.perf_counter() - t0, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("experiments/results/data"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stage-sources", type=int, default=40, help="0 skips the per-stage breakdown")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--brute-size", type=int, default=20000)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--skip-index", action="store_true")
    args = ap.parse_args()
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_before": os.getloadavg()}, "workers": args.workers}
    lines = ["# Build throughput and index scaling", ""]
    if not args.skip_build:
        files = list_images(drawn_sources())
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            report = build_dataset(drawn_sources(), Path(tmp) / "out", BuildConfig(),
                                   workers=args.workers, report=False)
            t_build = time.perf_counter() - t0
            st = stages(files[: args.stage_sources], BuildConfig(), Path(tmp))
        t_decode = decode_all(files, args.workers)
        p = report.summary["patches"]
        res["build"] = {"sources": len(files), "patches": p, "seconds": t_build, "decode_seconds": t_decode,
                        "patches_per_s": p["total"] / t_build, "decode_bound_patches_per_s": p["total"] / t_decode,
                        "stages": st}
        per = {k: 1000 * v / max(1, st["patches"]) for k, v in st.items() if k != "patches"}
        lines += [f"## Whole build, {args.workers} worker process(es)", "",
                  f"{len(files)} sources, {p['total']} patches ({p['kept']} kept and written, {p['duplicate']} "
                  f"duplicates, {p['low_information']} low-information).", "",
                  "| | seconds | patches/s |", "|---|---|---|",
                  f"| whole build | {t_build:.1f} | {p['total'] / t_build:.1f} |",
                  f"| decode + composite only (the decode-bound limit) | {t_decode:.1f} | {p['total'] / t_decode:.1f} |",
                  ""]
        if st["patches"]:
            lines += [f"Per-stage cost in one process over the first {args.stage_sources} sources "
                      f"({st['patches']} patches), ms per patch (decode is per source, spread over its patches):",
                      "", "| " + " | ".join(per) + " |", "|" + "---|" * len(per),
                      "| " + " | ".join(f"{v:.1f}" for v in per.values()) + " |", ""]
    if not args.skip_index:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        n0 = args.brute_size
        bits0 = synthetic(n0, 1)
        t_brute, r_brute = time_dedup(bits0, brute=True)
        t_idx0, r_idx0 = time_dedup(bits0, brute=False)
        same = all(np.array_equal(a, b) for a, b in zip(r_brute, r_idx0))
        rows = [{"n": n0, "index_s": t_idx0, "all_pairs_s": t_brute, "all_pairs": "measured", "same": same,
                 "duplicates": int(r_idx0[1].sum())}]
        for n in sizes:
            bits = synthetic(n, 2)
            t_idx, r = time_dedup(bits, brute=False)
            rows.append({"n": n, "index_s": t_idx, "all_pairs_s": t_brute * (n / n0) ** 2,
                         "all_pairs": "extrapolated (n^2)", "same": None, "duplicates": int(r[1].sum())})
            print(f"index at {n}: {t_idx:.1f} s", flush=True)
        res["index"] = rows
        import numba

        res["index_threads"] = numba.get_num_threads()
        million = [r for r in rows if r["n"] == 1_000_000]
        if million:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from perf_summary import update

            update({"dedup_1m_build_query_s": round(million[0]["index_s"], 1),
                    "dedup_identical_to_all_pairs_20k": bool(same)},
                   threads=res["index_threads"], script="experiments/bench_build.py --skip-build")
        lines += [f"## Near-duplicate index, threshold {dedup.DEFAULT_DUP_THRESHOLD} of 169 bits", "",
                  "Synthetic fingerprints: uniform random plus 10% near copies (0-30 bits flipped); leader "
                  "clustering over all of them, 256 at a time, as the build does; the search kernel "
                  f"(gan_sr/data/hamming_search.py, numba) on {res['index_threads']} thread(s).", "",
                  "| fingerprints | index (s) | all-pairs (s) | all-pairs / index | duplicates found |",
                  "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['n']:,} | {r['index_s']:.1f} | {r['all_pairs_s']:.1f} ({r['all_pairs']}) | "
                         f"{r['all_pairs_s'] / r['index_s']:.1f} | {r['duplicates']:,} |")
        lines += ["", f"Index and all-pairs groupings identical at {n0:,}: {same}.", ""]
    res["machine"]["load_after"] = os.getloadavg()
    lines += [f"Machine: {os.cpu_count()} CPUs shared with other jobs; load average before "
              f"{res['machine']['load_before'][0]:.1f}, after {res['machine']['load_after'][0]:.1f} "
              "(timings are inflated accordingly).", ""]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if not (args.skip_build or args.skip_index) else ("_index" if args.skip_build else "_build")
    (args.out / f"bench_build{suffix}.md").write_text(text + "\n")
    (args.out / f"bench_build{suffix}.json").write_text(json.dumps(res, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
