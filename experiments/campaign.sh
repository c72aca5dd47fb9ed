#!/usr/bin/env bash
# The SR training campaign (issue 12): every PSNR-oriented model at x4 and x2 on drawn art, their GAN stages,
# and the photo-domain runs (T91 + BSD200, scored on Set5/Set14/BSD100 by experiments/sr_bench_full.sh), trained in round-robin slices so each one moves every session, until its val curve
# flattens (train.early_stop in its config) or it reaches its step cap. Resumable: the same command continues
# every run from its last.pt (a killed run loses at most one checkpoint interval).
#
#   nohup experiments/campaign.sh run > $GANSR_RUNS/campaign.log 2>&1 &   # start or continue (loops until done)
#   experiments/campaign.sh status                                         # where each run stands
#   experiments/campaign.sh ship                                           # best.pt of each run -> checkpoints/
#   experiments/campaign.sh pack                                           # resume points -> experiments/campaign/resume/
#   experiments/campaign.sh unpack                                         # ... and back, on a new machine
#
# Run state lives in $GANSR_RUNS/campaign (default /work/runs/campaign, outside the work tree); `pack` stores the
# last.pt (everything an exact resume needs) and config of every unfinished run in the repository (TensorBoard logs
# with PACK_TB=1: their image grids make them the largest part) so that a new machine can resume; best.pt comes
# back from the shipped checkpoint made from it. The config also travels as NAME.config.json beside the archive,
# which unpack puts over the archive's (a recipe change such as train.min_delta is a text diff), and an archive
# is rewritten only when its last.pt has changed. One thread per run
# (THREADS), niced; ONLY=rrdb_x4,espcn_x4 restricts a command to some runs. A lock per run keeps two loops
# from training one run at once.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${GANSR_RUNS:-/work/runs}/campaign
PACK=experiments/campaign/resume
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=${THREADS:-1}
G="nice -n 5 .venv/bin/gansr"
PY=.venv/bin/python
DATA=${DATA:-data/anime}
PHOTO=$RUNS/data/photo_t91_bsd200  # T91 + BSD200 (minus 5 held-out BSD200 images for val), symlinks
HEADS=${HEADS:-data/heads/128}     # the heads' own 128 -> 64 degradation, for the post-hoc arms of issue 14
[ -d "$DATA/train" ] || { echo "build the drawn-art data first: .venv/bin/python experiments/data_build_drawn.py"; exit 2; }
experiments/photo_layout.sh "$PHOTO" T91 BSD200
[ -d "$HEADS/train" ] || echo "no $HEADS (gansr data heads ... --out data/heads): its runs will fail until it is built"

# name | model[:stage] (its built-in cpu recipe = gan_sr/recipes/MODEL_STAGE_cpu.toml) | scale | data |
# --init run (its best.pt) or - | minutes per slice | override config under experiments/configs/ or -.
# The slices weight the round robin towards the models that need the most steps; a run leaves the rotation
# when its val curve is flat (train.early_stop). A GAN stage waits until its PSNR stage is flat
# (GAN_AFTER=any starts it from the PSNR stage's current best.pt instead).
RUNS_TABLE="
rrdb_x4      rrdb        4 $DATA -            20 -
espcn_x4     espcn       4 $DATA -            3  -
srcnn_x4     srcnn       4 $DATA -            5  -
srresnet_x4  srresnet    4 $DATA -            12 -
rrdb_x2      rrdb        2 $DATA -            12 -
espcn_x2     espcn       2 $DATA -            3  -
srcnn_x2     srcnn       2 $DATA -            5  -
srresnet_x2  srresnet    2 $DATA -            8  -
esrgan_x4    esrgan:gan  4 $DATA rrdb_x4      10 overrides/esrgan_gan_cpu_nopercep
srgan_x4     srgan:gan   4 $DATA srresnet_x4  10 overrides/srgan_gan_cpu_nopercep
rrdb_heads_x2      rrdb      2 $HEADS - 10 -
espcn_heads_x2     espcn     2 $HEADS - 3  -
rrdb_photo_x4      rrdb      4 $PHOTO - 15 -
srresnet_photo_x4  srresnet  4 $PHOTO - 10 -
espcn_photo_x4     espcn     4 $PHOTO - 3  -
srcnn_photo_x4     srcnn     4 $PHOTO - 5  -
"

want() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# root name dest [extra paths]: the run's config.json as the plain file dest.config.json (a config change is a
# small text diff), and last.pt (+ extras) as dest.tar.gz, rewritten only when last.pt is newer than it, so
# that an unchanged resume point adds nothing to the repository's history
packrun() {
  local root=$1 name=$2 dest=$3; shift 3
  cp "$root/$name/config.json" "$dest.config.json"
  if [ -f "$dest.tar.gz" ] && [ ! "$root/$name/last.pt" -nt "$dest.tar.gz" ] && [ $# -eq 0 ]; then
    echo "$name: resume point unchanged"; return
  fi
  tar -C "$root" -czf "$dest.tar.gz.tmp" "$name/last.pt" "$name/config.json" "$@" && mv "$dest.tar.gz.tmp" "$dest.tar.gz"
}

state() {  # run_dir -> "step best done wall_h" from last.pt, else from its pack's NAME.done marker, else "0 - 0 0"
  $PY - "$1" "$PACK" <<'PY'
import sys
from pathlib import Path
from gan_sr.io.checkpoints import load_checkpoint
p = Path(sys.argv[1]) / "last.pt"
p = p if p.exists() else p.with_name("previous.pt")  # a kill between keeping previous.pt and writing last.pt
marker = Path(sys.argv[2]) / f"{p.parent.name}.done"  # a finished run packed on another machine
if not p.exists():
    print(marker.read_text().strip() if marker.exists() else "0 - 0 0"); raise SystemExit
ck = load_checkpoint(p); m = ck.get("meta", {}); cfg = m.get("config", {}).get("train", {})
patience = int(cfg.get("early_stop", 0)); flat = int(patience > 0 and int(m.get("evals_since_best", 0)) >= patience)
done = flat or int(ck["step"]) >= int(cfg.get("steps", 0))
print(ck["step"], f"{m.get('best_psnr', float('nan')):.3f}", int(done), f"{m.get('wall_s', 0) / 3600:.2f}")
PY
}

slice_run() {  # name model[:stage] scale data init minutes override
  local name=$1 model=${2%%:*} stage=${2#*:} scale=$3 data=$4 init=$5 minutes=$6 over=$7 extra=()
  [ "$stage" = "$2" ] || extra+=(--stage "$stage" --perceptual none)
  [ "$init" = "-" ] || extra+=(--init "$RUNS/$init/best.pt")
  [ "$over" = "-" ] || extra+=(--config "experiments/configs/$over.toml")
  flock -w 7200 "$RUNS/logs/$name.lock" $G sr train --model "$model" --preset cpu --scale "$scale" --data "$data" --run-dir "$RUNS/$name" \
    --for-minutes "$minutes" --quiet "${extra[@]}" >> "$RUNS/logs/$name.log" 2>&1
}

cmd=${1:-status}
mkdir -p "$RUNS/logs"
case $cmd in
  run)
    while :; do
      moved=0
      while read -r name model scale data init minutes over; do
        [ -n "$name" ] && want "$name" || continue
        read -r step best done wall < <(state "$RUNS/$name")
        [ "$done" = 1 ] && continue
        if [ "$init" != "-" ] && [ ! -f "$RUNS/$name/last.pt" ]; then
          read -r _ _ init_done _ < <(state "$RUNS/$init")
          [ -f "$RUNS/$init/best.pt" ] && { [ "$init_done" = 1 ] || [ "${GAN_AFTER:-flat}" = any ]; } || continue
        fi
        echo "$(date -u +%FT%TZ) $name: step $step, best $best dB, ${wall} h -> slice of $minutes min"
        slice_run "$name" "$model" "$scale" "$data" "$init" "$minutes" "$over" || echo "$(date -u +%FT%TZ) $name: failed (see $RUNS/logs/$name.log)"
        moved=1
      done <<< "$RUNS_TABLE"
      [ "$moved" = 1 ] || { echo "every run is done"; break; }
    done ;;
  status)
    printf "%-18s %8s %9s %6s %7s\n" run step best_dB done wall_h
    while read -r name model scale data init minutes over; do
      [ -n "$name" ] && want "$name" || continue
      read -r step best done wall < <(state "$RUNS/$name")
      printf "%-18s %8s %9s %6s %7s\n" "$name" "$step" "$best" "$done" "$wall"
    done <<< "$RUNS_TABLE" ;;
  ship)  # drawn-art runs only: they are the shipped models; heads/photo runs are experiments (their best.pt stays)
    while read -r name model scale data init minutes over; do
      [ -n "$name" ] && want "$name" || continue
      [ "$data" = "$DATA" ] || { echo "$name: not drawn-art data, not shipped"; continue; }
      case $model in
        *:gan) [ -f "$RUNS/$name/last.pt" ] && $PY experiments/ship_checkpoint.py "$RUNS/$name" --which last.pt \
                 --note "GAN stage from $init's best.pt: no VGG perceptual term (no VGG19 weights offline), see experiments/configs/$over.toml." ;;
        *) [ -f "$RUNS/$name/best.pt" ] && $PY experiments/ship_checkpoint.py "$RUNS/$name" ;;
      esac
      case $name in  # no GAN stage at x2: the PSNR stages ship under their GAN family's name too, as before
        rrdb_x2) $PY experiments/ship_checkpoint.py "$RUNS/$name" --as esrgan \
                   --note "ESRGAN x2 is its PSNR stage (RRDB, the rrdb_x2 run); no GAN stage at x2." ;;
        srresnet_x2) $PY experiments/ship_checkpoint.py "$RUNS/$name" --as srgan \
                   --note "SRGAN x2 is its MSE stage (SRResNet, the srresnet_x2 run); no GAN stage at x2." ;;
      esac
    done <<< "$RUNS_TABLE" ;;
  pack)
    mkdir -p "$PACK"
    while read -r name model scale data init minutes over; do
      [ -n "$name" ] && want "$name" || continue
      [ -f "$RUNS/$name/last.pt" ] || continue
      read -r step best done wall < <(state "$RUNS/$name")
      # a finished run has nothing to resume (its result is shipped or in experiments/results): not packed
      # (a NAME.done marker keeps a new machine from starting it again)
      if [ "$done" = 1 ]; then
        rm -f "$PACK/$name.tar.gz" "$PACK/$name.config.json"; echo "$step $best 1 $wall" > "$PACK/$name.done"; echo "$name: done, not packed"; continue
      fi
      extra=()  # TensorBoard logs hold image grids, best.pt of unshipped runs a second full state: only on request
      [ -n "${PACK_TB:-}" ] && extra+=("$name/tb")
      [ -n "${PACK_BEST:-}" ] && [ "$data" != "$DATA" ] && [ -f "$RUNS/$name/best.pt" ] && extra+=("$name/best.pt")
      packrun "$RUNS" "$name" "$PACK/$name" "${extra[@]}"
    done <<< "$RUNS_TABLE"
    # the GAN runs ($GANSR_RUNS/gan/NAME) and joint runs ($GANSR_RUNS/joint/NAME) that continue: no tb/
    for kind in gan joint; do
      if [ $kind = gan ]; then list=${GAN_RUNS:-heads128 heads64_s1}; else list=${JOINT_RUNS:-heads_espcn_x2}; fi
      g=${RUNS%/campaign}/$kind
      for run in $list; do
        [ -f "$g/$run/last.pt" ] && want "${kind}_$run" || continue
        packrun "$g" "$run" "$PACK/${kind}_$run"
      done
    done
    du -sh "$PACK" ;;
  unpack)  # best.pt is not packed: the shipped checkpoint made from it (checkpoints/, EMA weights) stands in
    mkdir -p "$RUNS"
    for f in "$PACK"/gan_*.tar.gz "$PACK"/joint_*.tar.gz; do
      [ -f "$f" ] || continue
      name=$(basename "$f" .tar.gz); kind=${name%%_*}; name=${name#*_}; g=${RUNS%/campaign}/$kind
      if [ -f "$g/$name/last.pt" ]; then echo "$kind $name: $g/$name already holds a run, kept"; continue; fi
      mkdir -p "$g" && tar -C "$g" -xzf "$f" && echo "$kind $name: restored to $g/$name"
      if [ -f "$PACK/${kind}_$name.config.json" ]; then cp "$PACK/${kind}_$name.config.json" "$g/$name/config.json"; fi
    done
    for f in "$PACK"/*.tar.gz; do
      name=$(basename "$f" .tar.gz)
      [[ $name == gan_* || $name == joint_* ]] && continue
      want "$name" || continue
      if [ -f "$RUNS/$name/last.pt" ]; then echo "$name: $RUNS/$name already holds a run, kept"; continue; fi
      tar -C "$RUNS" -xzf "$f" && echo "$name: restored to $RUNS/$name"
      if [ -f "$PACK/$name.config.json" ]; then cp "$PACK/$name.config.json" "$RUNS/$name/config.json"; fi
      $PY - "$RUNS/$name" <<'PY'
import shutil, sys
from pathlib import Path
from gan_sr.io.checkpoints import load_checkpoint
from gan_sr.sr.registry import checkpoints_dir
run = Path(sys.argv[1])
for ck in sorted(checkpoints_dir().glob("*.pt"), key=lambda c: c.stem == run.name):  # rrdb_x2.pt over esrgan_x2.pt
    meta = load_checkpoint(ck).get("meta", {})
    if str(meta.get("shipped_from", "")).endswith(f"{run.name}/best.pt"):
        shutil.copyfile(ck, run / "best.pt")
        print(f"{run.name}: best.pt from {ck}")
PY
    done ;;
  *) echo "usage: $0 run|status|ship|pack|unpack"; exit 2 ;;
esac
