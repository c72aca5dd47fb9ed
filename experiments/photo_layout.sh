#!/usr/bin/env bash
# A training folder for the photo-domain runs, made of symlinks: OUT/train/ from the named sets in
# $GANSR_SHARED/datasets (default ../shared/datasets) minus the held-out BSD200 images, OUT/val/ = those five.
# The trainer reads train and val from one --data folder; this keeps Set5/Set14/BSD100 out of checkpoint
# selection. Does nothing when OUT/val exists.
#   experiments/photo_layout.sh runs/photo/data/t91_bsd200 T91 BSD200
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${GANSR_SHARED:-../shared}/datasets
VAL="100075 100080 100098 103041 104022"  # BSD200 images held out for validation (best.pt selection)
dir=$1; shift
[ -d "$dir/val" ] && exit 0
mkdir -p "$dir/train.tmp" "$dir/val.tmp"
for set in "$@"; do
  for f in "$SHARED/$set"/*; do
    case "${f,,}" in *.bmp|*.png|*.jpg) ;; *) continue ;; esac
    stem=$(basename "${f%.*}")
    [[ " $VAL " == *" $stem "* ]] && continue
    ln -s "$(realpath "$f")" "$dir/train.tmp/$(basename "$f")"
  done
done
for stem in $VAL; do ln -s "$(realpath "$SHARED/BSD200/$stem.jpg")" "$dir/val.tmp/$stem.jpg"; done
mv "$dir/train.tmp" "$dir/train" && mv "$dir/val.tmp" "$dir/val"
