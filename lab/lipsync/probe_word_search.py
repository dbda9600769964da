"""The recognisers' search settings: word error, lip-sync metrics and CPU speed per setting,
on the development sets only (GRID, pocketsphinx-testdata's cards, synthetic paragraphs;
never the LibriVox test clips); `phonemes.WORD_SEARCH` was chosen from these tables
(`PHONE_SEARCH`, the phone loop's, can be swept the same way).

    python -m lab.lipsync.probe_word_search [--synthetic 16] [--settings NAME...]
    python -m lab.lipsync.probe_word_search --lipsync [--settings NAME...]

Default: the word search alone (one decode per clip, n-best list included): word error and
CPU speed. `--lipsync`: the whole default engine ("hybrid") with each setting in place of
`phonemes.WORD_SEARCH` / `PHONE_SEARCH`, scored with `evaluate`'s metrics (closure, open
vowel, silence, r, lag; means over the clips of each set) and its CPU speed.

Word error: edit distance of the recognised words to the transcript (numbers spelt out),
over all reference words. Speed: audio seconds per CPU second of this process (the decoder
is single-threaded; CPU time is disturbed far less than wall time by other work on a shared
machine). The synthetic clips are cached under checkpoints/ (piper is slow).
"""
from __future__ import annotations

import argparse
import pickle
import time

import numpy as np
import pocketsphinx

from faceforge.ml.lipsync import phonemes
from faceforge.ml.lipsync.audio import normalise
from . import evaluate
from ..paths import CHECKPOINTS

OLD = {"fwdflat": False, "maxhmmpf": 3000}       # the shipped word search
# name: (word search settings, phone-loop settings); None keeps the shipped one.
SETTINGS = {
    "pocketsphinx defaults": ({}, None),
    "one pass, 3000 HMMs/frame": (OLD, None),          # used
    "one pass, 700 HMMs/frame": ({"fwdflat": False, "maxhmmpf": 700}, None),
    "3000, ds 2": ({**OLD, "ds": 2}, None),
    "3000, topn 3": ({**OLD, "topn": 3}, None),
    "3000, topn 2": ({**OLD, "topn": 2}, None),
    "3000, topn 1": ({**OLD, "topn": 1}, None),
    "3000, maxwpf 10": ({**OLD, "maxwpf": 10}, None),
    "3000, no bestpath": ({**OLD, "bestpath": False}, None),
    "3000, pl_window 10": ({**OLD, "pl_window": 10}, None),
    "3000, wbeam 1e-20": ({**OLD, "wbeam": 1e-20}, None),
    "3000, lpbeam 1e-30": ({**OLD, "lpbeam": 1e-30, "lponlybeam": 1e-20}, None),
    "3000, beam 1e-40": ({**OLD, "beam": 1e-40, "pbeam": 1e-40}, None),
    "2000, topn 2": ({"fwdflat": False, "maxhmmpf": 2000, "topn": 2}, None),
    "1500, topn 2": ({"fwdflat": False, "maxhmmpf": 1500, "topn": 2}, None),
    "3000, ds 2, topn 2": ({**OLD, "ds": 2, "topn": 2}, None),
    "3000, wbeam 1e-20, topn 2": ({**OLD, "wbeam": 1e-20, "topn": 2}, None),
    "2000, wbeam 1e-20, topn 2": ({**OLD, "maxhmmpf": 2000, "wbeam": 1e-20, "topn": 2}, None),
    "2000, wbeam 1e-20, topn 2, maxwpf 10": ({**OLD, "maxhmmpf": 2000, "wbeam": 1e-20,
                                             "topn": 2, "maxwpf": 10}, None),
    "1500, wbeam 1e-20, topn 2": ({**OLD, "maxhmmpf": 1500, "wbeam": 1e-20, "topn": 2}, None),
    "3000, wbeam 1e-20, lpbeam 1e-30, topn 2": ({**OLD, "wbeam": 1e-20, "lpbeam": 1e-30,
                                                "lponlybeam": 1e-20, "topn": 2}, None),
}


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists."""
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref):
        prev, d[0] = d.copy(), i + 1
        for j, h in enumerate(hyp):
            d[j + 1] = min(prev[j + 1] + 1, d[j] + 1, prev[j] + (r != h))
    return int(d[-1])


def dev_sets(synthetic: int) -> dict[str, list[evaluate.Clip]]:
    """{set name: clips}: GRID, pocketsphinx-testdata (when fetched), `synthetic` piper
    paragraphs (cached under CHECKPOINTS)."""
    sets = {"grid": evaluate.dev_clips()}
    try:
        sets["testdata"] = evaluate.testdata_clips()
    except FileNotFoundError as exc:
        print(f"(testdata skipped: {exc})")
    if synthetic:
        cache = CHECKPOINTS / "lipsync_probe" / f"synthetic_{synthetic}.pkl"
        if cache.exists():
            sets["synthetic"] = pickle.loads(cache.read_bytes())
        else:
            sets["synthetic"] = evaluate.synthetic_clips(synthetic)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(sets["synthetic"]))
    return sets


def _model() -> dict:
    return dict(hmm=phonemes._model_file("en-us", "en-us"),
                lm=phonemes._model_file("en-us", "en-us.lm.bin"),
                dict=phonemes._model_file("en-us", "cmudict-en-us.dict"), loglevel="FATAL")


def search_rows(clips: list[evaluate.Clip], settings: dict[str, dict]
                ) -> dict[str, tuple[float, float]]:
    """{name: (word error, x realtime CPU)} of the word search with each setting over the
    clips. The settings take turns clip by clip, so a change in the machine's load reaches
    every row alike."""
    decoders = {name: pocketsphinx.Decoder(**_model(), **s) for name, s in settings.items()}
    errors = {name: 0 for name in settings}
    cpu = {name: 0.0 for name in settings}
    words = seconds = 0
    for clip in clips:
        pcm = phonemes._pcm(normalise(clip.samples))
        ref = phonemes.transcript_words(clip.text)
        seconds, words = seconds + len(clip.samples) / phonemes.RATE, words + len(ref)
        for name, decoder in decoders.items():
            start = time.process_time()
            phonemes._decode(decoder, pcm)
            hyp = decoder.hyp().hypstr if decoder.hyp() is not None else ""
            [h for h, _ in zip(decoder.nbest() or (), range(phonemes.NBEST + 1))]
            cpu[name] += time.process_time() - start
            errors[name] += word_errors(ref, hyp.split())
    return {name: (errors[name] / words, seconds / cpu[name]) for name in settings}


def use(word: dict | None, phone: dict | None) -> None:
    """Put search settings in place of the shipped ones (decoders rebuilt on next use)."""
    if word is not None:
        phonemes.WORD_SEARCH = word
    if phone is not None:
        phonemes.PHONE_SEARCH = phone
    phonemes._word_recogniser.cache_clear()
    phonemes._recogniser.cache_clear()


def lipsync_row(sets: dict[str, list[evaluate.Clip]]) -> tuple[dict, float]:
    """({set: {metric: mean}}, x realtime CPU of the hybrid engine over all sets)."""
    out, cpu, seconds = {}, 0.0, 0.0
    for name, clips in sets.items():
        start = time.process_time()
        res = evaluate.evaluate(clips, 30.0, ("hybrid",))["hybrid"]
        cpu += time.process_time() - start
        seconds += sum(len(c.samples) for c in clips) / phonemes.RATE
        out[name] = {k: float(np.nanmean([m[k] for m in res.values()]))
                     for k in ("closure", "open_vowel", "silence", "corr", "lag_ms")}
    return out, seconds / cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synthetic", type=int, default=16, help="synthetic clips besides GRID")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), metavar="NAME",
                   help=f"rows to run (default all): {'; '.join(SETTINGS)}")
    p.add_argument("--lipsync", action="store_true",
                   help="score the whole hybrid engine per setting instead of the search alone")
    args = p.parse_args(argv)
    sets = dev_sets(args.synthetic)
    names = args.settings or list(SETTINGS)
    print(", ".join(f"{k}: {len(v)} clips, {sum(len(c.samples) for c in v) / phonemes.RATE:.0f} s"
                    for k, v in sets.items()))
    if not args.lipsync:
        clips = [c for v in sets.values() for c in v]
        print("| word search | word error | x realtime (CPU) |\n|---|---|---|")
        rows = search_rows(clips, {name: SETTINGS[name][0] for name in names})
        for name, (wer, speed) in rows.items():
            print(f"| {name} | {wer:.3f} | {speed:.1f} |", flush=True)
        return 0
    shipped = (phonemes.WORD_SEARCH, phonemes.PHONE_SEARCH)
    print("| setting | " + " | ".join(f"{s} closure / open / silence / r / lag" for s in sets)
          + " | hybrid x realtime (CPU) |\n" + "|---" * (len(sets) + 2) + "|")
    for name in names:
        use(*SETTINGS[name])
        scores, speed = lipsync_row(sets)
        use(*shipped)
        cells = [f"{m['closure']:.2f} / {m['open_vowel']:.2f} / {m['silence']:.2f} / "
                 f"{m['corr']:.3f} / {m['lag_ms']:+.0f}" for m in scores.values()]
        print(f"| {name} | " + " | ".join(cells) + f" | {speed:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
