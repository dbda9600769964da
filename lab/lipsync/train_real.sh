#!/usr/bin/env bash
# Fine-tune the neural lip model with real speech (lab/lipsync/README.md, step 4):
# shards of the transcribed clips in ../shared/data/speech, then one run on every clip (the
# shipped candidate) and one per clip without it (leave-one-out, for an honest test score),
# two runs at a time. Resumable: a finished run is skipped, an unfinished one resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
PY=${PY:-.venv/bin/python}
ROOT=checkpoints/lipsync_neural
export OPENBLAS_NUM_THREADS=1
STEPS=${STEPS:-2000}
"$PY" -m lab.lipsync.neural.real_speech --data ../shared/data/speech --out $ROOT/real --copies 60
run() {  # run NAME [CLIP to leave out]
  local out=$ROOT/real_runs/$1
  [ -f "$out/final_lipnet.npz" ] && return 0
  mkdir -p "$out"
  "$PY" -m lab.lipsync.train_neural --init $ROOT/t3/last.pt --data $ROOT/data_t2 \
    --real $ROOT/real ${2:+--leave-out "$2"} --out "$out" --export "$out/final_lipnet.npz" \
    --steps "$STEPS" --batch 16 --lr 5e-4 --real-share 0.25 > "$out/train.log" 2>&1
}
clips=$(cd ../shared/data/speech && ls *.txt | sed 's/\.txt$//')
run all &
for clip in $clips; do
  run "without_$clip" "$clip" &
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 5; done
done
wait
