"""English forced alignment on audio that trips pocketsphinx: exact zeros inside speech, and
audio that covers only part of its transcript. The runtime's alignment
(`phonemes._align_words`: the search must reach the last word, noisy retries) against one
noise-free pass that takes whatever the search reached (the previous behaviour).

    python -m lab.lipsync.probe_alignment        # ~3 min

Clips: the LibriVox test clips and goforward.wav (../shared/data/speech), the flite voices'
clips 0-3 (`flite_set`) and pocketsphinx-testdata's cards where they have been made. The
reference is each untouched clip's alignment (word starts); the cases:
  zeroed   every gap of 50 ms or more between words made exact zeros;
  inserted 0.3 s of exact zeros at three word boundaries (times shifted to match);
  gated    10 ms blocks 40 dB below the peak made exact zeros (a noise gate);
  padded   0.5 s of exact zeros at each end;
  short    the audio ends 50 ms after the second-last word (the last word is not spoken);
  extra    three words the audio does not hold before the transcript.
Printed per case: clips aligned with every word, clips where only part of the transcript
was aligned without an error, and the mean |word start error| (ms) where aligned. For
`short` and `extra` an alignment of every word is wrong (a word squeezed into no audio).
"""
from __future__ import annotations

import argparse
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from faceforge.ml.lipsync import phonemes
from faceforge.ml.lipsync.audio import load_audio, normalise
from ..paths import CHECKPOINTS, SHARED_DATA
from .evaluate import TESTDATA_DIRS

R = phonemes.RATE
FILLERS = ("<s>", "</s>", "<sil>", "(NULL)")


def word_times(decoder, samples: np.ndarray, words: list[str], whole: bool):
    """(word, start s) of one alignment with `decoder`, and whether the search reached the
    last word; None where pocketsphinx raises. `whole`: the runtime's rule (retries)."""
    if whole:
        try:
            level = phonemes._align_words(samples, words)[2]
        except ValueError:
            return None, False
        samples = phonemes._dithered(samples, level)
    pcm = phonemes._pcm(samples)
    try:
        decoder.set_align_text(" ".join(words))
        phonemes._decode(decoder, pcm)
        hyp = decoder.hyp()
        reached = hyp is not None and len(hyp.hypstr.split()) == len(words)
        decoder.set_alignment()
        phonemes._decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError:
        return None, False
    return [(w.name.split("(")[0], w.start / phonemes.FRAME_RATE) for w in alignment
            if w.name not in FILLERS and w.name[0] not in "+["], reached


def start_error_ms(got, ref) -> float:
    """Mean |start difference| (ms) of the words both alignments hold, matched in order."""
    a, b = [w for w, _ in got], [w for w, _ in ref]
    blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    d = [abs(got[i + k][1] - ref[j + k][1]) for i, j, n in blocks for k in range(n)]
    return 1000 * float(np.mean(d)) if d else float("nan")


def clips(flite: Path = CHECKPOINTS / "lipsync_flite"):
    """(name, 16 kHz wav path, transcript) of every clip the probe can find."""
    speech = SHARED_DATA / "speech"
    for wav in sorted(speech.glob("*.wav")):
        if wav.with_suffix(".txt").exists():
            yield wav.stem[-4:], wav, wav.with_suffix(".txt").read_text()
    yield "goforward", speech / "goforward.wav", "go forward ten meters"
    for wav in sorted(flite.glob("*/*-0[0-3].wav")):
        yield wav.stem, wav, wav.with_suffix(".txt").read_text()
    cards = next((d / "cards" for d in TESTDATA_DIRS if (d / "cards").is_dir()), None)
    if cards is not None:
        for line in (cards / "cards.transcription").read_text().splitlines():
            text, stem = line.rsplit("(", 1)
            yield f"cards-{stem.strip(' )')}", cards / f"{stem.strip(' )')}.wav", \
                text.replace("<s>", "").replace("</s>", "")


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args(argv)
    old = phonemes._aligner()
    rows: dict[str, dict[str, list]] = {}
    for name, wav, text in clips():
        x = normalise(load_audio(wav, R)[0])
        words = [w for w in phonemes.transcript_words(text) if old.lookup_word(w)]
        ref, reached = word_times(old, x, words, whole=True)
        if not reached:
            print(f"{name}: no reference (the clip as it is does not align)")
            continue
        phones = phonemes._align_words(x, words)[0]
        spans = [(p.start, p.end) for p in phones if p.label == "SIL"]
        variants = {"untouched": (x, ref, words)}
        y = x.copy()
        for a, b in spans:
            if b - a >= 0.05 and a > ref[0][1] and b < phones[-1].start:
                y[int(a * R):int(b * R)] = 0
        variants["zeroed"] = (y, ref, words)
        k = sorted({i for i in (len(ref) // 4, len(ref) // 2, 3 * len(ref) // 4)
                    if 0 < i < len(ref)})
        cuts = [int(ref[i][1] * R) for i in k]
        parts = np.split(x, cuts)
        gap = np.zeros(int(0.3 * R), np.float32)
        y = np.concatenate([q for p in parts[:-1] for q in (p, gap)] + [parts[-1]])
        variants["inserted"] = (y, [(w, s + 0.3 * sum(s >= c / R - 1e-6 for c in cuts))
                                    for w, s in ref], words)
        y = x.copy()
        blocks = y[:len(y) // 160 * 160].reshape(-1, 160)
        blocks[np.sqrt((blocks ** 2).mean(1)) < np.abs(x).max() * 10 ** (-40 / 20)] = 0
        variants["gated"] = (y, ref, words)
        pad = np.zeros(int(0.5 * R), np.float32)
        variants["padded"] = (np.concatenate([pad, x, pad]), [(w, s + 0.5) for w, s in ref],
                              words)
        if len(words) > 2:
            last = max(p.end for p in phones if p.label != "SIL" and p.end <= ref[-1][1] + 1e-6)
            variants["short"] = (x[:int((last + 0.05) * R)], None, words)
        variants["extra"] = (x, None, "well you see".split() + words)
        for case, (y, truth, ws) in variants.items():
            for rule, whole in (("one pass", False), ("runtime", True)):
                got, reached = word_times(old, y, ws, whole)
                row = rows.setdefault(case, {}).setdefault(rule, [0, 0, 0, []])
                row[0] += 1
                if got is None:
                    continue
                row[1 if len(got) == len(ws) and reached else 2] += 1
                if truth is not None:
                    row[3].append(start_error_ms(got, truth))
    print(f"\n{'case':10s} {'alignment':9s} {'clips':>5s} {'every word':>10s} "
          f"{'partial, no error':>17s} {'word start error':>16s}")
    for case, by_rule in rows.items():
        for rule, (n, whole, partial, errs) in by_rule.items():
            err = f"{np.nanmean(errs):.1f} ms" if errs else "-"
            print(f"{case:10s} {rule:9s} {n:5d} {whole:10d} {partial:17d} {err:>16s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
