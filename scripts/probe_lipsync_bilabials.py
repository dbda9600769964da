"""How well the neural lip model confirms the phone loop's bilabials on a development set.

    python scripts/probe_lipsync_bilabials.py --dev synthetic [--lipnet FILE]

`phonetic-words` writes a P/B/M that phone recognition hears, where the aligned words have
none, over the words when the lip model presses there (phonemes.CONFIRM_PRESS). This lists
those candidates per clip, whether they are real (a reference bilabial within the timing
slack) and the model's peak press, and sums up how a threshold separates real from false.
"""
from __future__ import annotations

import argparse

import numpy as np

from faceforge.ml.lipsync import evaluate, phonemes
from faceforge.ml.lipsync.audio import normalise, remove_dc
from faceforge.ml.lipsync.neural.runtime import load


def candidates(clip, net) -> list[tuple[float, bool]]:
    """(peak press, real?) of each phone-loop bilabial the aligned words lack (one chunk:
    development clips are shorter than phonemes.MAX_CHUNK_S)."""
    speech = normalise(remove_dc(clip.samples))
    try:
        words = phonemes.align(speech, phonemes.recognise_words(speech))[0]
    except ValueError:
        return []                                  # the engine recognises phones instead
    press = phonemes.lip_press(speech, net)
    slack = phonemes.BILABIAL_SLACK_S
    refs = [p for p in clip.phones if p.label in phonemes.BILABIALS]
    return [(phonemes.peak_press(h, press),
             any(r.start - slack < h.end and h.start < r.end + slack for r in refs))
            for h in phonemes.bilabial_candidates(words, phonemes.recognise(speech))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dev", choices=("grid", "synthetic"), default="synthetic")
    p.add_argument("--lipnet", help="neural weights (default: the committed ones)")
    args = p.parse_args(argv)
    net = load(args.lipnet) if args.lipnet else load()
    clips = evaluate.dev_clips() if args.dev == "grid" else evaluate.synthetic_clips()
    found = [(c.name, *x) for c in clips for x in candidates(c, net)]
    real = np.array([x[1] for x in found if x[2]])
    false = np.array([x[1] for x in found if not x[2]])
    for name, press, is_real in found:
        if is_real or press > phonemes.CONFIRM_PRESS:
            print(f"{name}: {'real ' if is_real else 'false'} press {press:.3f}")
    print(f"{len(found)} candidates, {len(real)} real")
    if len(real):
        print(f"real: press {real.min():.3f}-{real.max():.3f}, "
              f"{np.sum(real > phonemes.CONFIRM_PRESS)} above {phonemes.CONFIRM_PRESS}")
    if len(false):
        print(f"false: {np.sum(false > phonemes.CONFIRM_PRESS)} of {len(false)} above "
              f"{phonemes.CONFIRM_PRESS} (median press {np.median(false):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
