#!/usr/bin/env bash
# Photo-domain reproduction (issue 4): SRCNN x2/x4 and ESPCN x4 on T91, RRDB (ESRGAN's PSNR stage, cpu
# preset) x4 on T91 + BSD200; scored on Set5, Set14, BSD100 (Y, crop = scale) by `gansr sr bench`.
# Results: experiments/results/photo_repro/ (results.md/.json from experiments/photo_repro_report.py).
#
# Resumable and skip-if-done: a run already at its step count is not touched, a shorter one resumes
# (raise STEPS_* to extend), a bench is redone only when its checkpoint is newer than its results.
# Every command runs at one thread, niced; train.tsv logs wall/user/sys seconds and load averages.
#   experiments/photo_repro.sh            # everything
#   ONLY=srcnn_x2 experiments/photo_repro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
G="nice -n 10 .venv/bin/gansr"
PY=.venv/bin/python
R=runs/photo
OUT=experiments/results/photo_repro
STEPS_SRCNN_X2=${STEPS_SRCNN_X2:-3000}
STEPS_SRCNN_X4=${STEPS_SRCNN_X4:-2000}
STEPS_ESPCN_X4=${STEPS_ESPCN_X4:-3000}
STEPS_RRDB_X4=${STEPS_RRDB_X4:-1500}
mkdir -p "$R/logs" "$OUT"

layout() { experiments/photo_layout.sh "$R/data/$1" "${@:2}"; }  # name set...

step_of() {  # run_dir -> step of last.pt (0 when none)
  [ -f "$1/last.pt" ] || { echo 0; return; }
  $PY -c "import sys; from gan_sr.io.checkpoints import load_checkpoint as l; print(l(sys.argv[1])['step'])" "$1/last.pt"
}

train() {  # name config scale data steps
  local name=$1 cfg=$2 scale=$3 data=$4 steps=$5 dir=$R/$1 have t0 load0
  have=$(step_of "$dir")
  if [ "$have" -ge "$steps" ]; then echo "$name: done at step $have"; return 0; fi
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s)
  TIMEFORMAT="%R %U %S"
  { time {
    if [ "$have" -gt 0 ]; then
      $G sr train --resume "$dir" --steps "$steps" --quiet
    else
      $G sr train --config "$cfg" --scale "$scale" --data "$data" --steps "$steps" --run-dir "$dir" --quiet
    fi
  } ; } 2> "$R/logs/$name.time"
  read -r wall user sys < <(tail -n1 "$R/logs/$name.time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$have" "$steps" "$wall" "$user" "$sys" "$load0" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u -d @"$t0" +%FT%TZ)" >> "$OUT/train.tsv"
}

bench() {  # name model scale
  local name=$1 model=$2 scale=$3 ck=$R/$1/best.pt dst=$OUT/$1
  [ -f "$ck" ] || { echo "$name: no checkpoint yet"; return 0; }
  if [ -f "$dst/results.json" ] && [ "$dst/results.json" -nt "$ck" ]; then echo "$name: bench up to date"; return 0; fi
  $G sr bench --models bicubic --ckpt "$model=$ck" --data Set5,Set14,BSD100 --scale "$scale" --no-timing \
    --out "$R/bench/$name" --quiet
  mkdir -p "$dst"
  cp "$R/bench/$name/results.md" "$R/bench/$name/results.json" "$R/bench/$name/per_image.csv" "$dst/"
}

want() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }

[ -f "$OUT/train.tsv" ] || printf 'run\tfrom_step\tto_step\twall_s\tuser_s\tsys_s\tload_start\tload_end\tstarted\n' > "$OUT/train.tsv"
layout t91 T91
layout t91_bsd200 T91 BSD200

C=experiments/configs
if want srcnn_x2; then train srcnn_x2 $C/srcnn_photo_cpu.toml 2 $R/data/t91 "$STEPS_SRCNN_X2"; bench srcnn_x2 srcnn 2; fi
if want srcnn_x4; then train srcnn_x4 $C/srcnn_photo_cpu.toml 4 $R/data/t91 "$STEPS_SRCNN_X4"; bench srcnn_x4 srcnn 4; fi
if want espcn_x4; then train espcn_x4 $C/espcn_photo_cpu.toml 4 $R/data/t91 "$STEPS_ESPCN_X4"; bench espcn_x4 espcn 4; fi
if want rrdb_x4; then train rrdb_x4 $C/esrgan_psnr_photo_cpu.toml 4 $R/data/t91_bsd200 "$STEPS_RRDB_X4"; bench rrdb_x4 esrgan 4; fi
$PY experiments/photo_repro_report.py --runs "$R" --out "$OUT"
