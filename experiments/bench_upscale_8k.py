"""Peak RSS of `gansr upscale` on an 8000x8000 input (issue 16: the memory bound must hold for it).

ESPCN x2 with random weights (memory does not depend on the weights' values), tile 256, pad 16: a 64 MP input
becomes a 16000x16000 (256 MP) PNG. Measured the way experiments/bench_upscale_memory.py measures, as one
process's ru_maxrss; the input image file itself and the 8-bit output buffer are the floor (192 MB + 768 MB).

    OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_upscale_8k.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_upscale_memory as memory  # noqa: E402
from bench_upscale_memory import RESULTS, checkpoint, image, peak_run  # noqa: E402

from gan_sr.io.images import write_image  # noqa: E402

SIDE, TILE, PAD = 8000, 256, 16


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "8k.png"
        write_image(src, image((SIDE, SIDE)))
        memory.SCALE = 2  # its random-weights checkpoint helper builds at the module's scale
        ck = checkpoint(tmp, "espcn", "paper")
        row = peak_run([str(src), "-o", str(tmp / "out"), "--ckpt", str(ck), "--scale", "2", "--tile", str(TILE),
                        "--tile-pad", str(PAD)])
        out_bytes = (tmp / "out" / "8k_x2.png").stat().st_size
    report = {"input": f"{SIDE}x{SIDE} RGB", "output": f"{2 * SIDE}x{2 * SIDE} RGB 8-bit PNG ({out_bytes / 2**20:.0f} MiB)",
              "model": "espcn x2 (paper preset, random weights)", "tile": TILE, "tile_pad": PAD,
              "threads": os.environ.get("OMP_NUM_THREADS"), **row,
              "floor_mib": round((3 * SIDE * SIDE + 3 * 4 * SIDE * SIDE) / 2**20)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_upscale_8k.json").write_text(json.dumps(report, indent=2) + "\n")
    md = ["# bench_upscale_8k", "", "`OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_upscale_8k.py`", "",
          "| input | output | model | tile / pad | peak RSS MiB | 8-bit in + out buffers MiB | wall s |",
          "|---|---|---|---|---|---|---|",
          f"| {report['input']} | {report['output']} | {report['model']} | {TILE} / {PAD} | {row['peak_rss_mib']:.0f} | "
          f"{report['floor_mib']} | {row['wall_s']} |", ""]
    (RESULTS / "bench_upscale_8k.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
