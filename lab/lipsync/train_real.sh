#!/usr/bin/env bash
# Fine-tune the neural lip model with real speech (lab/lipsync/README.md, step 4):
# shards of the transcribed clips in ../shared/data/speech, then one run on every clip (the
# shipped candidate) and one per clip without it (leave-one-out, for an honest test score),
# JOBS runs at a time. Resumable: a finished run is skipped, an unfinished one resumes.
#
# Each run starts from INIT: the synthetic-only network of step 3 ($ROOT/t3/last.pt) when
# it exists; otherwise (FROM=committed, or no t3) from the committed networks, each run
# from its own counterpart (all <- ml/lipsync/neural/lipnet.npz, without_CLIP <-
# lab/lipsync/leave_one_out/lipnet_without_CLIP.npz, snapshotted once into
# $ROOT/committed/ so later copies of new weights do not change a resumed run), so a
# left-out clip is never heard. Synthetic shards: DATA ($ROOT/data_t2, else $ROOT/data).
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
PY=${PY:-.venv/bin/python}
ROOT=checkpoints/lipsync_neural
export OPENBLAS_NUM_THREADS=1
STEPS=${STEPS:-2000}
JOBS=${JOBS:-2}
LR=${LR:-5e-4}
DATA=${DATA:-$ROOT/data_t2}
[ -d "$DATA" ] || DATA=$ROOT/data
FROM=${FROM:-$([ -f $ROOT/t3/last.pt ] && echo t3 || echo committed)}
clips=$(cd ../shared/data/speech && ls *.txt | sed 's/\.txt$//')
missing=0
for clip in $clips; do [ -f "$ROOT/real/real_$clip.npz" ] || missing=1; done
[ $missing = 0 ] || "$PY" -m lab.lipsync.neural.real_speech --data ../shared/data/speech \
  --out $ROOT/real --copies 60
if [ "$FROM" = committed ] && [ ! -d $ROOT/committed ]; then
  mkdir -p $ROOT/committed.tmp
  cp ml/lipsync/neural/lipnet.npz $ROOT/committed.tmp/lipnet_all.npz
  cp lab/lipsync/leave_one_out/lipnet_without_*.npz $ROOT/committed.tmp/
  mv $ROOT/committed.tmp $ROOT/committed
fi
run() {  # run NAME [CLIP to leave out]
  local out=$ROOT/real_runs/$1 init=$ROOT/t3/last.pt
  [ "$FROM" = committed ] && init=$ROOT/committed/lipnet_$1.npz
  [ -f "$out/final_lipnet.npz" ] && return 0
  mkdir -p "$out"
  "$PY" -m lab.lipsync.train_neural --init "$init" --data "$DATA" \
    --real $ROOT/real ${2:+--leave-out "$2"} --out "$out" --export "$out/final_lipnet.npz" \
    --steps "$STEPS" --batch 16 --lr "$LR" --real-share 0.25 > "$out/train.log" 2>&1
}
run all &
for clip in $clips; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 5; done
  run "without_$clip" "$clip" &
done
wait
