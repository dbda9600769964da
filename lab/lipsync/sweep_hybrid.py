"""The hybrid engine's neural share on a development set: `phonetic-words` and `neural` run
once per clip, then blended at each share (engine.hybrid_blend) and scored like `evaluate`.

    python -m lab.lipsync.sweep_hybrid --dev synthetic
    python -m lab.lipsync.sweep_hybrid --dev grid
    python -m lab.lipsync.sweep_hybrid --dev testdata --lipnet OTHER.npz   # other weights

The rule that set engine.NEURAL_SHARE: the largest share that closes every bilabial that
`phonetic-words` (share 0) closes, on both development sets.
"""
from __future__ import annotations

import argparse

import numpy as np

from lab.lipsync import evaluate
from faceforge.ml.lipsync.engine import NEURAL_SHARE, hybrid_blend, lipsync
from faceforge.ml.lipsync.neural.runtime import load as load_lipnet
from faceforge.ml.lipsync.phonemes import RATE

SHARES = (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1.0)
METRICS = ("closure", "open_vowel", "silence", "corr", "lag_ms", "jerk")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dev", choices=("grid", "synthetic", "testdata"), default="synthetic")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--lipnet", help="neural weights to use instead of the committed ones")
    args = p.parse_args(argv)
    clips = {"grid": evaluate.dev_clips, "synthetic": evaluate.synthetic_clips,
             "testdata": evaluate.testdata_clips}[args.dev]()
    net = load_lipnet(args.lipnet) if args.lipnet else None
    rig = evaluate.reference_rig()
    rest_gap = float(evaluate.measure(np.zeros((1, 52)), rig)[0][0])
    scores = {**{f"{s:g}": [] for s in SHARES}, "neural engine": []}
    for clip in clips:
        lip, neural = (lipsync(clip.samples, RATE, args.fps, engine=e, secondary=False,
                               net=net).weights for e in ("phonetic-words", "neural"))
        for name, weights in [*((f"{s:g}", hybrid_blend(lip, neural, s)) for s in SHARES),
                              ("neural engine", neural)]:
            gap, width = evaluate.measure(weights, rig)
            scores[name].append(evaluate.clip_metrics(gap, width, clip.phones, args.fps,
                                                      rest_gap))
    print(f"{args.dev}, {len(clips)} clips, means at {args.fps:g} fps (committed share "
          f"{NEURAL_SHARE}; neural weights {args.lipnet or 'committed'})\n| share | "
          + " | ".join(METRICS) + " |\n" + "|---" * (len(METRICS) + 1) + "|")
    for name, rows in scores.items():
        print(f"| {name} | " + " | ".join(
            f"{np.nanmean([r[m] for r in rows]):.{0 if m in ('jerk', 'lag_ms') else 3}f}"
            for m in METRICS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
