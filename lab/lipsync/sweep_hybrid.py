"""The hybrid engine's neural share on a development set: `phonetic-words` and `neural` run
once per clip, then blended at each share (engine.hybrid_blend) and scored like `evaluate`.

    python -m lab.lipsync.sweep_hybrid --dev synthetic
    python -m lab.lipsync.sweep_hybrid --dev grid

The rule that set engine.NEURAL_SHARE: the largest share that closes every bilabial that
`phonetic-words` (share 0) closes, on both development sets.
"""
from __future__ import annotations

import argparse

import numpy as np

from lab.lipsync import evaluate
from faceforge.ml.lipsync.engine import NEURAL_SHARE, hybrid_blend, lipsync
from faceforge.ml.lipsync.phonemes import RATE

SHARES = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 1.0)
METRICS = ("closure", "open_vowel", "silence", "corr", "jerk")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dev", choices=("grid", "synthetic"), default="synthetic")
    p.add_argument("--fps", type=float, default=30.0)
    args = p.parse_args(argv)
    clips = evaluate.dev_clips() if args.dev == "grid" else evaluate.synthetic_clips()
    rig = evaluate.reference_rig()
    rest_gap = float(evaluate.measure(np.zeros((1, 52)), rig)[0][0])
    scores = {s: [] for s in SHARES}
    for clip in clips:
        lip, neural = (lipsync(clip.samples, RATE, args.fps, engine=e, secondary=False).weights
                       for e in ("phonetic-words", "neural"))
        for s in SHARES:
            gap, width = evaluate.measure(hybrid_blend(lip, neural, s), rig)
            scores[s].append(evaluate.clip_metrics(gap, width, clip.phones, args.fps, rest_gap))
    print(f"{args.dev}, {len(clips)} clips, means at {args.fps:g} fps (committed share "
          f"{NEURAL_SHARE})\n| share | " + " | ".join(METRICS) + " |\n" + "|---" * 6 + "|")
    for s, rows in scores.items():
        print(f"| {s:g} | " + " | ".join(
            f"{np.nanmean([r[m] for r in rows]):.{0 if m == 'jerk' else 3}f}" for m in METRICS)
              + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
