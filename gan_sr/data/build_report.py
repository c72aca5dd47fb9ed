"""The contact sheets of `gansr data build` (report/contact_*.png): what each filter dropped and kept."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gan_sr.data import contact
from gan_sr.data.patches import cut_patches

if TYPE_CHECKING:
    from gan_sr.data.build import BuildConfig

_SAMPLES = 16


def _sample_key(rid: str) -> int:
    return int.from_bytes(hashlib.sha1(rid.encode()).digest()[:8], "big")


def select_samples(records: Sequence[dict], k: int = _SAMPLES) -> dict[str, list[dict]]:
    """Deterministic samples for the contact sheets: random (by id hash) and nearest the low-information threshold."""
    heaps: dict[str, list] = {n: [] for n in ("kept", "low_information", "duplicate", "low_edge", "kept_edge")}
    for i, r in enumerate(records):
        st = r["status"]
        if r["box"] is None or st == "error":
            continue
        key = _sample_key(r["id"])
        _keep_largest(heaps[st], (-key, i), k)  # the k smallest keys: a random sample, the same every run
        if st == "low_information":
            _keep_largest(heaps["low_edge"], (r["info"], -key, i), k)  # highest scores under the threshold
        elif st == "kept":
            _keep_largest(heaps["kept_edge"], (-r["info"], -key, i), k)  # lowest scores over it
    return {name: [records[item[-1]] for item in sorted(heap, reverse=True)] for name, heap in heaps.items()}


def _keep_largest(heap: list, item: tuple, k: int) -> None:
    if len(heap) < k:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)



def write_report(records: Sequence[dict], config: BuildConfig, folder: Path, *, tile: int = 80,
                 samples_per_row: int = 16, prefix: str = "contact_") -> list[Path]:
    """Contact sheets of rejected and kept samples per reason: {prefix}low_information.png, {prefix}duplicate.png."""
    samples = select_samples(records, samples_per_row)
    originals_wanted = {r["duplicate_of"] for r in samples["duplicate"]}
    originals = {r["id"]: r for r in records if r["id"] in originals_wanted and r["box"] is not None}
    needed = [r for group in samples.values() for r in group] + list(originals.values())
    pixels = cut_patches(needed, config)

    def tiles(group: list[dict], caption: Callable[[dict], str]) -> list[contact.Tile]:
        return [(pixels[r["id"]], caption(r)) for r in group if r["id"] in pixels]

    info = lambda r: f"{r['info']:.3f}"  # noqa: E731
    sheets = []
    t = config.min_info
    sheets.append(contact.write_sheet(folder / f"{prefix}low_information.png", [
        (f"dropped as low-information (info < {t}), random sample", tiles(samples["low_information"], info)),
        ("dropped, highest info (just under the threshold)", tiles(samples["low_edge"], info)),
        ("kept, lowest info (just over the threshold)", tiles(samples["kept_edge"], info)),
        ("kept, random sample", tiles(samples["kept"], info)),
    ], title=f"low-information filter: info = 1 - share of the dominant colour; min_info = {t}", tile=tile))
    pairs: list[contact.Tile] = []
    for r in samples["duplicate"]:
        o = originals.get(r["duplicate_of"])
        if r["id"] in pixels and o is not None and o["id"] in pixels:
            pairs += [(pixels[r["id"]], f"dup d={r.get('distance')}"), (pixels[o["id"]], "kept")]
    sheets.append(contact.write_sheet(folder / f"{prefix}duplicate.png", [
        (f"dropped near-duplicate | the kept patch it duplicates ({config.hash} {config.n_bits} bits, "
         f"d <= {config.dup_threshold})", pairs),
    ], title="near-duplicate filter: pairs (dropped, kept)", tile=tile))
    return sheets
