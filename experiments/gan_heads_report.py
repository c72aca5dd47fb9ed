"""What a character-heads generator draws, against what issue 13 asks of it.

From a GAN checkpoint and the heads dataset (one size folder, e.g. data/heads/64): 64 unselected samples
(latent seeds 0-63, one grid), SWD of as many samples as val heads against the val heads beside the SWD of the
training heads against the same val heads (the ratio is the issue's target: <= 1.5 at 64 px, <= 2 at 128 px),
and the no-copying check: each of 16 samples beside its nearest training head (RMS pixel distance), the median
sample-to-train distance against the median val-to-train distance (a copying GAN sits far below the latter).

    .venv/bin/python experiments/gan_heads_report.py --ckpt checkpoints/gan_heads_64.pt --data data/heads/64

Writes OUT/samples_seeds_0-63.png, OUT/nearest_train.png, OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def character_coverage(samples: "torch.Tensor", train: "torch.Tensor", names: list[str]) -> list[dict] | None:
    """Per character (the file-name prefix before "__", as `gansr data heads` names heads): its share of the
    training heads beside its share of the samples, each sample counted for the character of its nearest
    training head. A generator that drops modes draws some characters far less often than the data has them.
    None when the file names carry no character."""
    from gan_sr.metrics.nearest import nearest_neighbours

    chars = [n.split("__")[0] for n in names]
    if not all("__" in n for n in names) or len(set(chars)) < 2:
        return None
    idx, _ = nearest_neighbours(samples, train)
    rows = []
    for c in sorted(set(chars)):
        in_train = sum(ch == c for ch in chars) / len(chars)
        drawn = sum(chars[int(i)] == c for i in idx) / len(idx)
        rows.append({"character": c, "train_share": round(in_train, 4), "sample_share": round(drawn, 4),
                     "ratio": round(drawn / in_train, 3)})
    return rows


def heads_report(ckpt: Path, data: Path, out: Path, *, command: str) -> dict:
    from gan_sr.io.checkpoints import load_checkpoint
    from gan_sr.io.images import write_image
    from gan_sr.metrics.nearest import nearest_neighbours
    from gan_sr.metrics.sample_quality import score_samples
    from gan_sr.io.grids import image_grid, make_grid
    from gan_sr.train.gan import generate, load_generator, load_reference

    out.mkdir(parents=True, exist_ok=True)
    g = load_generator(ckpt)
    meta = load_checkpoint(ckpt).get("meta", {})
    val = load_reference(data, g.res, split="val")
    train = load_reference(data, g.res, split="train")
    samples = generate(g, 64, seed=0)
    write_image(out / "samples_seeds_0-63.png", make_grid(samples, 8))
    fakes = generate(g, val.shape[0], seed=1000)  # as many as val heads, other seeds than the grid
    swd_fake = score_samples(val, fakes, seed=0, pairs=200)["swd_mean"]
    pick = torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(0))[: val.shape[0]]
    swd_floor = score_samples(val, train[pick], seed=0, pairs=200)["swd_mean"]
    idx, dist = nearest_neighbours(samples, train)
    _, val_dist = nearest_neighbours(val, train)
    from gan_sr.data.datasets import ImageDataset

    names = [Path(f).name for f in ImageDataset(data, g.res, split="train", augment=False).files]
    coverage = character_coverage(generate(g, 1000, seed=2000), train, names)
    rows = [[samples[i], train[idx[i]], samples[i + 8], train[idx[i + 8]]] for i in range(8)]
    write_image(out / "nearest_train.png", image_grid(rows, pad=3))
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    result = {
        "command": command, "commit": commit, "ckpt": str(ckpt), "data": str(data), "res": g.res,
        "kimg": meta.get("kimg"), "wall_h": round(float(meta.get("wall_s", 0)) / 3600, 2),
        "ada_p": round(float(meta.get("p", float("nan"))), 3),
        "val_images": int(val.shape[0]), "train_images": int(train.shape[0]),
        "swd_samples_vs_val": round(swd_fake, 3), "swd_train_vs_val": round(swd_floor, 3),
        "swd_ratio": round(swd_fake / swd_floor, 3),
        "nn_median_sample_to_train": round(float(dist.median()), 4),
        "nn_median_val_to_train": round(float(val_dist.median()), 4),
        "nn_min_sample_to_train": round(float(dist.min()), 4),
    }
    if coverage is not None:
        result["coverage"] = coverage
        result["characters_under_half_their_share"] = sum(r["ratio"] < 0.5 for r in coverage)
        result["coverage_total_variation"] = round(0.5 * sum(abs(r["sample_share"] - r["train_share"])
                                                             for r in coverage), 3)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Character-heads generator at {g.res} px", "", f"`{command}` at commit {commit}.", "",
          f"Checkpoint `{ckpt}`: {result['kimg']} kimg, {result['wall_h']} h, final ADA p {result['ada_p']}; "
          f"data `{data}` ({result['train_images']} train / {result['val_images']} val heads).", "",
          "| measure | value |", "|---|---|",
          f"| SWD x1e3, {result['val_images']} samples vs val heads | {result['swd_samples_vs_val']:.2f} |",
          f"| SWD x1e3, as many train heads vs val heads (floor) | {result['swd_train_vs_val']:.2f} |",
          f"| ratio (target <= {1.5 if g.res <= 64 else 2.0}) | {result['swd_ratio']:.2f} |",
          f"| median RMS distance, sample -> nearest train head | {result['nn_median_sample_to_train']:.4f} |",
          f"| median RMS distance, val head -> nearest train head | {result['nn_median_val_to_train']:.4f} |",
          f"| closest sample to a train head | {result['nn_min_sample_to_train']:.4f} |", "",
          "64 unselected samples (seeds 0-63):", "", "![samples](samples_seeds_0-63.png)", "",
          "Samples (seeds 0-15) each beside its nearest training head (columns: sample, nearest, sample, nearest):",
          "", "![nearest](nearest_train.png)", ""]
    if coverage is not None:
        md += ["Mode coverage: 1000 samples (seeds from 2000), each counted for the character of its nearest "
               "training head, against each character's share of the training heads "
               f"(total variation {result['coverage_total_variation']:.3f}; "
               f"{result['characters_under_half_their_share']} of {len(coverage)} characters drawn at under half "
               "their share):", "", "| character | train share | sample share | ratio |", "|---|---|---|---|"]
        md += [f"| {r['character']} | {r['train_share']:.3f} | {r['sample_share']:.3f} | {r['ratio']:.2f} |"
               for r in coverage] + [""]
    (out / "results.md").write_text("\n".join(md))
    print("\n".join(md))
    card = Path(ckpt).with_suffix(".md")
    if card.is_file():  # the checkpoint's model card carries the same figures
        text = card.read_text().split("\n## Heads report")[0].rstrip("\n")
        rel = out.resolve().relative_to(ROOT) if out.resolve().is_relative_to(ROOT) else out
        text += ("\n\n## Heads report\n\n" + "\n".join(md[6:13]) +
                 f"\n\nSamples and nearest training heads: `{rel}/` (written by experiments/gan_heads_report.py).\n")
        card.write_text(text)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "heads" / "64")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out = args.out or ROOT / "experiments" / "results" / f"gan_heads_{args.data.name}"
    heads_report(args.ckpt, args.data, out, command="python experiments/gan_heads_report.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
