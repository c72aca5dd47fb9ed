"""`gansr data ...`: build datasets from illustrations, make synthetic drawn images."""

import os

import click

from gan_sr.cli.common import FORMAT_OPTION, GansrGroup, echo_table, examples
from gan_sr.cli.data_synth import synth
from gan_sr.data.dedup import DEFAULT_DUP_THRESHOLD, DEFAULT_HASH_SIZE
from gan_sr.data.lowinfo import DEFAULT_MIN_INFO


@click.group(cls=GansrGroup, epilog=examples("gansr data build ~/art --out data/anime", "gansr data synth --out data/synth --n 64"))
def data() -> None:
    """Build training data: patches, dedup, low-information filter, splits, manifest."""


def _default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


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
        dup_threshold = round(DEFAULT_DUP_THRESHOLD * hash_size * hash_size / DEFAULT_HASH_SIZE**2)
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


data.add_command(synth)
