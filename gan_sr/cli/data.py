"""`gansr data ...`: build datasets from illustrations, make synthetic drawn images."""

import os

import click

from gan_sr.cli.common import FORMAT_OPTION, GansrGroup, echo_table, examples
from gan_sr.cli.data_synth import synth
from gan_sr.data import heads as H
from gan_sr.data.dedup import DEFAULT_DUP_THRESHOLD, DEFAULT_HASH_SIZE
from gan_sr.data.lowinfo import DEFAULT_MIN_INFO


@click.group(cls=GansrGroup, epilog=examples("gansr data build ~/art --out data/anime",
                                             "gansr data heads sprites/layers --out data/heads",
                                             "gansr data synth --out data/synth --n 64"))
def data() -> None:
    """Build training data: patches or character heads, dedup, splits, manifest."""


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _scaled_threshold(default: int, default_size: int, hash_size: int) -> int:
    """A Hamming threshold given for default_size**2 bits, scaled to hash_size**2 bits."""
    return round(default * hash_size * hash_size / default_size**2)


@data.command(epilog=examples(
    "gansr data build ~/art ~/more/*.png --out data/anime --patch 128",
    "gansr data build ~/art --out data/anime --dry-run   # report only, in data/anime/dry_run/",
))
@click.argument("src", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(), help="Output directory (never inside a source).")
@click.option("--patch", default=128, show_default=True, help="Patch side in pixels.")
@click.option("--stride", type=int, default=None, help="Step between patches [default: the patch size, no overlap].")
@click.option("--max-side", type=int, default=None, help="Downscale sources whose longer side exceeds this first.")
@click.option("--background", default="white", show_default=True,
              help="Colour that transparency is composited on: white, black, grey or #rrggbb.")
@click.option("--hash", "hash_method", type=click.Choice(["phash", "dhash", "ahash"]), default="phash",
              show_default=True, help="Perceptual hash for near-duplicates.")
@click.option("--hash-size", default=DEFAULT_HASH_SIZE, show_default=True,
              help="Hash grid side; the fingerprint has its square in bits.")
@click.option("--dup-threshold", type=int, default=None,
              help=f"Hamming distance (bits) at or under which patches are near-duplicates "
                   f"[default: {DEFAULT_DUP_THRESHOLD} for {DEFAULT_HASH_SIZE}x{DEFAULT_HASH_SIZE} bits, scaled to other sizes].")
@click.option("--min-info", type=float, default=None,
              help=f"Drop patches whose share of pixels off the dominant colour is below this "
                   f"[default: {DEFAULT_MIN_INFO}].")
@click.option("--split", "split_text", default="0.8,0.1,0.1", show_default=True,
              help="train,val,test fractions of sources.")
@click.option("--seed", default=0, show_default=True, help="Seed of the hash-based split assignment.")
@click.option("--workers", type=int, default=None, help="Worker processes [default: CPU count, at most 8].")
@click.option("--dry-run", is_flag=True, help="Write no patches; report what would be dropped in OUT/dry_run/.")
@click.option("--force", is_flag=True, help="Replace a build in OUT made with another configuration.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@FORMAT_OPTION
def build(src, out, patch, stride, max_side, background, hash_method, hash_size, dup_threshold, min_info,
          split_text, seed, workers, dry_run, force, quiet, fmt):
    """Cut SRC images into patches, drop duplicates and flat patches, split by source.

    SRC are image files, folders (searched recursively) or glob patterns; they are only read. Re-running
    the same command resumes an interrupted build and adds new sources without changing earlier results.
    """
    from gan_sr.data.build import BuildConfig, build_dataset, parse_background
    from gan_sr.data.split import SPLITS, parse_split

    if dup_threshold is None:
        dup_threshold = _scaled_threshold(DEFAULT_DUP_THRESHOLD, DEFAULT_HASH_SIZE, hash_size)
    config = BuildConfig(
        patch=patch, stride=stride, max_side=max_side, background=parse_background(background), hash=hash_method,
        hash_size=hash_size, dup_threshold=dup_threshold,
        min_info=DEFAULT_MIN_INFO if min_info is None else min_info,
        split=parse_split(split_text), seed=seed,
    )
    result = build_dataset(src, out, config, workers=workers or _default_workers(), dry_run=dry_run, force=force,
                           progress=not quiet)
    s = result.summary
    rows = [{"split": name, **s["splits"][name]} for name in SPLITS]
    rows.append({"split": "all", "sources": s["sources"]["used"], **{k: s["patches"][k] for k in
                                                                      ("kept", "duplicate", "low_information")}})
    echo_table(rows, fmt)
    if fmt == "md":
        src_counts = s["sources"]
        click.echo(f"\nSources: {src_counts['total']} ({src_counts['used']} used, {src_counts['error']} refused, "
                   f"{src_counts['duplicate_file']} whole-file duplicates); this run processed "
                   f"{result.new_sources}, skipped {result.skipped_sources} already built, in {result.seconds:.1f} s.")
        for e in s["errors"][:10]:
            click.echo(f"  refused: {e['reason']}")
        if len(s["errors"]) > 10:
            click.echo(f"  ... and {len(s['errors']) - 10} more (see summary.json)")
        where = result.out / "dry_run" if dry_run else result.out
        click.echo(f"{'Dry run: nothing written but the report in' if dry_run else 'Wrote'} {where}"
                   + ("" if dry_run else " (manifest.jsonl, summary.json, train/ val/ test/)"))
        for sheet in result.sheets:
            click.echo(f"  contact sheet: {sheet}")


@data.command(epilog=examples(
    "gansr data heads ../shared/datasets/learntocoderpg_vn_sprites/layers --out data/heads",
    "gansr data heads sprites/ --out data/heads_all --extras all --sizes 128 --background grey",
    "gansr data heads frames/ --boxes boxes.csv --out data/myheads   # boxes.csv: file,x0,y0,x1,y1",
    "gansr data heads frames/ --boxes boxes.json --out data/myheads --expand 1.2",
))
@click.argument("src", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Output folder (never inside SRC).")
@click.option("--boxes", type=click.Path(), default=None,
              help="Head boxes in SRC's images: a CSV with the header file,x0,y0,x1,y1 (file relative to SRC; "
                   "several rows per file allowed) or a JSON list of {\"file\": ..., \"box\": [x0, y0, x1, y1]}. "
                   "Without it SRC must be a layer folder.")
@click.option("--sizes", "sizes_text", default=",".join(map(str, H.DEFAULT_SIZES)), show_default=True,
              help="Output sides in pixels; each OUT/<size>/ is a dataset root with train/ and val/.")
@click.option("--expand", type=float, default=None,
              help=f"Square side = EXPAND x the longer side of the face box [default: {H.DEFAULT_EXPAND} for a layer "
                   f"folder, whose face box (eyes, brows, mouth) must grow to hold hair and chin; {H.BOXES_EXPAND} "
                   "with --boxes, where the box is the head].")
@click.option("--lift", type=float, default=None,
              help=f"Move the square up by LIFT x its side [default: {H.DEFAULT_LIFT} for a layer folder, as hair "
                   f"sits above the brows; {H.BOXES_LIFT} with --boxes].")
@click.option("--extras", type=click.Choice(H.EXTRAS_MODES), default="each", show_default=True,
              help="Layer folders: sweat/blush/glasses overlays. none; each: without extras plus one image per "
                   "extra; all: every subset (never both glasses).")
@click.option("--background", default="white", show_default=True,
              help="Colour that transparency is flattened on: white, black, grey or #rrggbb.")
@click.option("--hash-size", default=H.DEFAULT_HASH_SIZE, show_default=True,
              help="phash grid side (its square in bits), computed on the 256 px (or largest) image.")
@click.option("--dup-threshold", type=int, default=None,
              help=f"Hamming distance (bits) at or under which heads are duplicates [default: "
                   f"{H.DEFAULT_DUP_THRESHOLD} of {H.DEFAULT_HASH_SIZE}x{H.DEFAULT_HASH_SIZE} bits, scaled to other "
                   "sizes: only (near-)identical images, as expressions of one character differ by 12 bits or more].")
@click.option("--val", "val_fraction", type=float, default=0.1, show_default=True,
              help="Share of each character's eyes/brows/mouth combinations (with --boxes: of the source files) "
                   "held out for val; at least one when there are two.")
@click.option("--seed", default=0, show_default=True, help="Seed of the hash-based val choice.")
@click.option("--force", is_flag=True, help="Replace a heads build in OUT made with another configuration.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@FORMAT_OPTION
def heads(src, out, boxes, sizes_text, expand, lift, extras, background, hash_size, dup_threshold, val_fraction,
          seed, force, quiet, fmt):
    """Square character heads from a layer folder, or from SRC's images with --boxes.

    A layer folder holds full-canvas aligned RGBA layers per character: NAME_base.png (or NAME.png),
    NAME_eyes_*.png, NAME_brows_*.png, NAME_mouth_*.png and optional NAME_sweat/blush/glasses.png; every
    eyes x brows x mouth combination is composited. Heads are flattened on the background, resized from full
    resolution, deduplicated, and split by combination (with --boxes: by source file). SRC is only read;
    the same command again rewrites the same files.
    """
    from gan_sr.data.build import parse_background

    if dup_threshold is None:
        dup_threshold = _scaled_threshold(H.DEFAULT_DUP_THRESHOLD, H.DEFAULT_HASH_SIZE, hash_size)
    config = H.HeadsConfig(sizes=H.parse_sizes(sizes_text), expand=expand, lift=lift, extras=extras,
                         background=parse_background(background), hash_size=hash_size, dup_threshold=dup_threshold,
                         val=val_fraction, seed=seed)
    result = H.build_heads(src, out, config, boxes=boxes, force=force, progress=not quiet)
    s = result.summary
    rows = [{"split": name, **s["splits"][name], "duplicate": ""} for name in H.SPLITS]
    rows.append({"split": "all", "units": s["counts"]["units"], "images": s["counts"]["images"],
                 "characters": len(s["characters"]), "duplicate": s["counts"]["duplicate"]})
    for row in rows if s["mode"] == "boxes" else ():
        row.pop("characters")  # units are source files
    echo_table(rows, fmt)
    if fmt == "md":
        cfg = s["config"]
        who = f"{len(s['characters'])} characters" if s["mode"] == "layers" else f"{s['counts']['units']} files"
        click.echo(f"\n{s['mode']} mode, {who}; head square {cfg['expand']} x face, "
                   f"lift {cfg['lift']}; duplicates: phash {cfg['hash_size']}x{cfg['hash_size']} bits, "
                   f"d <= {cfg['dup_threshold']}; {result.seconds:.1f} s.")
        if s["ignored_files"]:
            click.echo(f"Not used (no layers of their own, or other outfits): {', '.join(s['ignored_files'])}")
        click.echo(f"Wrote {result.out}: {', '.join(f'{z}/' for z in cfg['sizes'])} manifest.jsonl, summary.json, "
                   f"NOTICE.md{', LICENSE' if s['licence']['file'] else ''}")
        click.echo(f"  contact sheet: {result.sheet}")


data.add_command(synth)
