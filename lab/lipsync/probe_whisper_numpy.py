"""Whisper tiny.en in numpy (what Blender runs) against faster-whisper (int8, 2 threads) on
every transcribed clip we have: word error rate of each against the true words, how often
the two hear the same words, and seconds of compute per audio second, same process, same
clips, alternating clip by clip.

    OPENBLAS_NUM_THREADS=2 python -m lab.lipsync.probe_whisper_numpy [--json OUT]
    OPENBLAS_NUM_THREADS=1 python -m lab.lipsync.probe_whisper_numpy --pads 300 600 1000 1500

`--pads`: Whisper in numpy alone, on the development clips only (not the LibriVox test set),
once per short-window pad (`whisper.CONTEXT_PAD`, mel frames; "none" = whole 30 s
windows): word error per set and in all, and seconds, to choose the pad.

Clips: the LibriVox test set (`../shared/data/speech/*.wav` with a `.txt`), the GRID
development clips (`../shared/data/video/grid/transcripts.tsv`), where unpacked,
pocketsphinx-testdata's `cards/` (lab.lipsync.evaluate.testdata_clips), the flite voices'
clips (`lab.lipsync.flite_set`, checkpoints/lipsync_flite/{slt,rms,awb}), and one long file
(the LibriVox clips twice, 0.5 s apart, 54.5 s: seeking across 30 s windows). Words are compared
after `text.normalise_text` (numbers spelt out, punctuation dropped)."""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from faceforge.ml.lipsync import whisper
from faceforge.ml.lipsync.audio import load_audio, load_video_audio
from faceforge.ml.lipsync.text import normalise_text

from ..paths import CHECKPOINTS
from .evaluate import DATA, DEV_DATA, testdata_clips

FLITE, FLITE_VOICES = CHECKPOINTS / "lipsync_flite", ("slt", "rms", "awb")

RATE = 16000


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + insertions + deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def words(text: str) -> list[str]:
    return normalise_text(text).split()


def clips() -> list[tuple[str, str, object, str]]:
    """(set, name, 16 kHz samples, true text) for every clip within reach."""
    out = [("librivox", p.stem, load_audio(p, RATE)[0], p.with_suffix(".txt").read_text())
           for p in sorted(DATA.glob("*.wav")) if p.with_suffix(".txt").exists()]
    tsv = DEV_DATA / "transcripts.tsv"
    if tsv.exists():
        for line in tsv.read_text().splitlines():
            name, text = line.split("\t", 1)
            out.append(("grid", Path(name).stem,
                        load_video_audio(DEV_DATA / name, RATE)[0], text))
    try:
        out += [("testdata", c.name, c.samples, c.text) for c in testdata_clips()]
    except FileNotFoundError:
        pass
    for voice in FLITE_VOICES:           # where lab.lipsync.flite_set has made them
        out += [(f"flite {voice}", p.stem, load_audio(p, RATE)[0],
                 p.with_suffix(".txt").read_text())
                for p in sorted((FLITE / voice).glob("*.wav")) if p.with_suffix(".txt").exists()]
    books = [c for c in out if c[0] == "librivox"] * 2
    if books:                     # one file longer than a window: seeking across windows
        gap = np.zeros(RATE // 2, np.float32)
        out.append(("long", f"librivox x2 ({len(books)} clips, 0.5 s apart)",
                    np.concatenate([np.concatenate([c[2], gap]) for c in books]),
                    " ".join(c[3] for c in books)))
    return out


FULL = "numpy, 30 s windows"     # numpy with whisper.CONTEXT_PAD None (faster-whisper's way)


def heard(backend: str, samples) -> tuple[str, float]:
    """What `backend` hears (whisper.segments, as the lip-sync engine calls it) and the
    seconds it took; FULL: numpy encoding every window whole."""
    pad = whisper.CONTEXT_PAD
    os.environ[whisper.BACKEND_ENV] = "numpy" if backend == FULL else backend
    whisper.CONTEXT_PAD = None if backend == FULL else pad
    start = time.perf_counter()
    try:
        text = " ".join(s.text for s in whisper.segments(samples))
    finally:
        whisper.CONTEXT_PAD = pad
    return text, time.perf_counter() - start


def pad_sweep(pads: list[str]) -> None:
    """Word error of Whisper in numpy on the development clips per short-window pad."""
    os.environ[whisper.BACKEND_ENV] = "numpy"
    data = [c for c in clips() if c[0] not in ("librivox", "long")]   # the test set kept out
    whisper.load()
    sets = list(dict.fromkeys(c[0] for c in data))
    print("| pad (mel frames) | " + " | ".join(f"WER {s}" for s in sets)
          + " | WER all | seconds |")
    print("|---" * (len(sets) + 3) + "|")
    for pad in pads:
        whisper.CONTEXT_PAD = None if pad == "none" else int(pad)
        errors, totals = dict.fromkeys(sets, 0), dict.fromkeys(sets, 0)
        start = time.perf_counter()
        for name_set, _, samples, truth in data:
            ref = words(truth)
            errors[name_set] += word_errors(ref, words(heard("numpy", samples)[0]))
            totals[name_set] += len(ref)
        cells = [f"{errors[s] / totals[s]:.3f}" for s in sets]
        cells.append(f"{sum(errors.values()) / sum(totals.values()):.3f}")
        print(f"| {pad} | " + " | ".join(cells) + f" | {time.perf_counter() - start:.0f} |",
              flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="also write per-clip results here")
    p.add_argument("--beam", type=int, default=whisper.BEAM,
                   help=f"beam size of both decoders (default {whisper.BEAM}, as lip-sync runs "
                        "them; 1: greedy)")
    p.add_argument("--pad", type=int, default=whisper.CONTEXT_PAD,
                   help=f"mel frames the numpy column encodes past a short window's end "
                        f"(whisper.CONTEXT_PAD, default {whisper.CONTEXT_PAD}); "
                        f"'{FULL}' always encodes 30 s")
    p.add_argument("--pads", nargs="+", metavar="PAD",
                   help="only sweep the numpy pad (mel frames, or 'none') on the development "
                        "clips: word error per set")
    args = p.parse_args(argv)
    whisper.BEAM = args.beam
    if args.pads:
        pad_sweep(args.pads)
        return 0
    whisper.CONTEXT_PAD = args.pad
    backends = ("numpy", FULL, "faster-whisper")
    data = clips()
    load = {}
    for b in backends:                     # load (and warm) once, outside the timings
        os.environ[whisper.BACKEND_ENV] = "numpy" if b == FULL else b
        start = time.perf_counter()
        whisper.load()
        load[b] = time.perf_counter() - start
        heard(b, data[0][2][:RATE])
    rows, per_set = [], {}
    for name_set, name, samples, truth in data:
        ref = words(truth)
        row = {"set": name_set, "clip": name, "seconds": len(samples) / RATE, "words": len(ref)}
        for b in backends:
            text, took = heard(b, samples)
            row[b] = {"text": text, "errors": word_errors(ref, words(text)), "time": took}
        row["disagree"] = word_errors(words(row["faster-whisper"]["text"]),
                                      words(row["numpy"]["text"]))
        rows.append(row)
        per_set.setdefault(name_set, []).append(row)
        print(f"{name_set:9s} {name:45s} np {row['numpy']['errors']:2d} "
              f"np30 {row[FULL]['errors']:2d} "
              f"fw {row['faster-whisper']['errors']:2d} / {len(ref):2d} words  "
              f"np: {row['numpy']['text']!r}")
    print(f"\nbeam {args.beam}; numpy pad {args.pad} frames; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; load s: "
          + ", ".join(f"{b} {load[b]:.1f}" for b in backends))
    print(f"| set | clips | audio s | words | WER numpy | WER {FULL} | WER faster-whisper | "
          f"words agree | s per audio s numpy | {FULL} | faster-whisper |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    short = [r for r in rows if r["set"] != "long"]
    for name_set, group in list(per_set.items()) + [("all short clips", short)]:
        n_words = sum(r["words"] for r in group)
        audio = sum(r["seconds"] for r in group)
        fw_words = sum(len(words(r["faster-whisper"]["text"])) for r in group)
        cells = [name_set, str(len(group)), f"{audio:.1f}", str(n_words)]
        cells += [f"{sum(r[b]['errors'] for r in group) / n_words:.3f}" for b in backends]
        cells.append(f"{1 - sum(r['disagree'] for r in group) / max(fw_words, 1):.3f}")
        cells += [f"{sum(r[b]['time'] for r in group) / audio:.3f}" for b in backends]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"load_s": load, "clips": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
