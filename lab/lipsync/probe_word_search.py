"""The word recogniser's search settings: word error and CPU speed of pocketsphinx's
large-vocabulary search on the development sets (GRID and synthetic clips, never the test
set), per setting; `phonemes.WORD_SEARCH` was chosen from this table.

    python -m lab.lipsync.probe_word_search [--synthetic 16]

Word error: edit distance of the recognised words to the transcript (numbers spelt out),
over all reference words. Speed: audio seconds per CPU second of this process (the decoder
is single-threaded; CPU time is disturbed less than wall time by other work on a shared
machine), n-best list included.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pocketsphinx

from faceforge.ml.lipsync import phonemes
from faceforge.ml.lipsync.audio import normalise
from . import evaluate

SETTINGS = {
    "pocketsphinx defaults": {},
    "one pass": {"fwdflat": False},
    "one pass, 3000 HMMs/frame": {"fwdflat": False, "maxhmmpf": 3000},
    "one pass, 1500 HMMs/frame": {"fwdflat": False, "maxhmmpf": 1500},
    "one pass, 1000 HMMs/frame": {"fwdflat": False, "maxhmmpf": 1000},
    "one pass, 700 HMMs/frame": {"fwdflat": False, "maxhmmpf": 700},
    "one pass, 1000 HMMs/frame, every 2nd frame": {"fwdflat": False, "maxhmmpf": 1000, "ds": 2},
    "one pass, narrow beams": {"fwdflat": False, "maxhmmpf": 1500, "beam": 1e-40,
                               "pbeam": 1e-40},
}


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists."""
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref):
        prev, d[0] = d.copy(), i + 1
        for j, h in enumerate(hyp):
            d[j + 1] = min(prev[j + 1] + 1, d[j] + 1, prev[j] + (r != h))
    return int(d[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic", type=int, default=16, help="synthetic clips besides GRID")
    args = p.parse_args(argv)
    clips = evaluate.dev_clips() + evaluate.synthetic_clips(args.synthetic)
    model = dict(hmm=phonemes._model_file("en-us", "en-us"),
                 lm=phonemes._model_file("en-us", "en-us.lm.bin"),
                 dict=phonemes._model_file("en-us", "cmudict-en-us.dict"), loglevel="FATAL")
    print(f"{len(clips)} development clips, "
          f"{sum(len(c.samples) for c in clips) / phonemes.RATE:.0f} s")
    print("| search | word error | x realtime (CPU) |\n|---|---|---|")
    for name, setting in SETTINGS.items():
        decoder = pocketsphinx.Decoder(**model, **setting)
        errors = words = 0
        cpu = seconds = 0.0
        for clip in clips:
            pcm = phonemes._pcm(normalise(clip.samples))
            start = time.process_time()
            phonemes._decode(decoder, pcm)
            hyp = decoder.hyp().hypstr if decoder.hyp() is not None else ""
            [h for h, _ in zip(decoder.nbest(), range(phonemes.NBEST + 1))]
            cpu += time.process_time() - start
            seconds += len(clip.samples) / phonemes.RATE
            ref = phonemes.transcript_words(clip.text)
            errors, words = errors + word_errors(ref, hyp.split()), words + len(ref)
        print(f"| {name} | {errors / words:.3f} | {seconds / cpu:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
