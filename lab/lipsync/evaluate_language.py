"""Lip-sync in another language than English, scored like `evaluate` (closure, open vowel,
silence, pause rest, r, lag, jerk) on the synthetic set of `language_set` (espeak-ng speech
in that language with exact phone times; made first if missing).

    python -m lab.lipsync.evaluate_language --language es

Rows: what a user gets without `--language` (the English word recogniser on foreign
speech), with `--language` (phone recognition, no English words), with `--transcribe`
(the multilingual Whisper base model's words, pronounced by espeak-ng and aligned), with the
true transcript, the acoustic engines, the loudness baseline and the viseme model on the
reference phones (its ceiling). Rows whose packages are missing are left out (said).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceforge.ml.lipsync import whisper
from faceforge.ml.lipsync.neural.runtime import WEIGHTS
from . import language_set
from .evaluate import EYE_DISTANCE_MM, evaluate, report, test_clips


def rows(language: str) -> dict[str, tuple]:
    """Row name -> (engine, transcript: False / True / "whisper", language)."""
    flag = f"--language {language}"
    return {
        "hybrid, no --language (English words)": ("hybrid", False, "en"),
        f"hybrid {flag}": ("hybrid", False, language),
        f"hybrid {flag} --transcribe (Whisper base)": ("hybrid", "whisper", language),
        f"hybrid {flag} + the true transcript": ("hybrid", True, language),
        f"phonetic {flag} + the true transcript": ("phonetic", True, language),
        f"phonetic {flag} (phone loop)": ("phonetic", False, language),
        "neural": ("neural", False, language),
        "energy baseline": ("energy", False, language),
        "visemes on reference phones": ("oracle", False, language),
    }


SUMMARY = (("closure", "{:.2f}"), ("open_vowel", "{:.2f}"), ("silence", "{:.2f}"),
           ("pause_rest", "{:.2f}"), ("corr", "{:.2f}"), ("lag_ms", "{:+.0f} ms"),
           ("jerk", "{:.0f}"))


def summary(results) -> str:
    """One markdown row per engine: the means over the clips (the model card's table)."""
    lines = ["| engine | " + " | ".join(c for c, _ in SUMMARY) + " |",
             "|---" * (len(SUMMARY) + 1) + "|"]
    for name, clips in results.items():
        mean = {c: np.nanmean([m[c] for m in clips.values()]) for c, _ in SUMMARY}
        lines.append(f"| {name} | " + " | ".join(f.format(mean[c]) for c, f in SUMMARY) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--language", choices=sorted(language_set.SENTENCES), default="es")
    p.add_argument("--data", type=Path, help=f"default {language_set.OUT}/<language>")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--rows", nargs="+", help="row names to compute (default all available)")
    p.add_argument("--first", type=int, help="only the first N clips (a quick check)")
    p.add_argument("--json", type=Path, help="also write the per-clip metrics here")
    args = p.parse_args(argv)
    data = args.data or language_set.OUT / args.language
    if not any(data.glob("*.phone.json")):
        language_set.make(args.language, data)
    table = rows(args.language)
    names = args.rows or list(table)
    if not whisper.available(args.language):
        skipped = [n for n in names if table[n][1] == "whisper"]
        names = [n for n in names if n not in skipped]
        if skipped:
            print(f"left out ({whisper.missing(args.language)}): {', '.join(skipped)}")
    clips = test_clips(data)[:args.first]
    results = evaluate(clips, args.fps, names, rows=table)
    report(results, len(clips), f"language {args.language}; fps {args.fps:g}; gap/width in mm "
           f"on the built-in head at {EYE_DISTANCE_MM:g} mm eye distance; neural weights "
           f"{WEIGHTS}", args.json, extra=[summary(results)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
