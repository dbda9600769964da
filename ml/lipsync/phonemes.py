"""Speech -> timed ARPAbet phones with pocketsphinx's bundled US-English model: phone
recognition (phone n-gram, no transcript) or forced alignment to a transcript.

Output phones (`phones.Phone`) carry no stress digits; silence and every filler (breath,
noise) are "SIL". Closures that only a second recogniser hears are confirmed by a press
track (the neural lip model's, computed once per clip by the caller: `neural.runtime`).
"""
from __future__ import annotations

import functools
import os
from collections import Counter
from typing import Callable

import numpy as np

from .audio import SILENCE_DBFS, frame_level_db, normalise, peak_dbfs
from .phones import BILABIALS, SIL, Phone, clean_label, merge_silence, overwrite
from .text import normalise_text

Progress = Callable[[float], None]  # progress(share of the clip done, 0..1)

RATE = 16000           # the acoustic model's sample rate
FRAME_RATE = 100       # pocketsphinx frames per second
MAX_CHUNK_S = 30.0     # recognition runs on chunks at most this long, cut at quiet points
GATE_DB = 45.0         # a phone this far below the clip's loud level is taken as silence
PAUSE_DB, PAUSE_S = 30.0, 0.2   # a run this far below the loud level, this long, is a pause
PAUSE_EDGE_S = 0.08    # ... less this much at each end (a stop's closure is silent too)
# A bilabial that only the phone loop hears is kept where the neural lip model presses the
# lips this much (its bilabial target is 0.35) within BILABIAL_SLACK_S of it.
CONFIRM_PRESS, BILABIAL_SLACK_S = 0.15, 0.04
# A bilabial of one of the word recogniser's NBEST next-best sentences is kept at a lower
# press: those are far more often real than the phone loop's (see the model card).
NBEST, NBEST_PRESS = 10, 0.12


def _model_file(*parts: str) -> str:
    import pocketsphinx
    return os.path.join(pocketsphinx.get_model_path(), *parts)


@functools.lru_cache(maxsize=1)
def _recogniser():
    """Phone-loop decoder with the bundled phone trigram (CMU's phoneme-recognition settings)."""
    import pocketsphinx
    return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"),
                                allphone=_model_file("en-us", "en-us-phone.lm.bin"),
                                lm=None, lw=2.0, pip=0.3, beam=1e-20, pbeam=1e-20,
                                loglevel="FATAL")


@functools.lru_cache(maxsize=1)
def _word_recogniser():
    """Large-vocabulary decoder: the bundled US-English trigram language model."""
    import pocketsphinx
    return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"),
                                lm=_model_file("en-us", "en-us.lm.bin"),
                                dict=_model_file("en-us", "cmudict-en-us.dict"),
                                loglevel="FATAL")


@functools.lru_cache(maxsize=1)
def _aligner():
    import pocketsphinx
    return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"),
                                dict=_model_file("en-us", "cmudict-en-us.dict"),
                                lm=None, loglevel="FATAL")


def _pcm(samples: np.ndarray) -> bytes:
    """float [-1, 1] -> little-endian 16-bit PCM bytes, as the decoder wants."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _decode(decoder, pcm: bytes) -> None:
    """One utterance. The feature front end adapts (noise and cepstral-mean estimates) to
    what it hears; resetting it first makes the same audio always decode the same way."""
    decoder.reinit_feat()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def level_track(samples: np.ndarray) -> np.ndarray:
    """The clip's level (dB) per 10 ms frame, over 20 ms windows: where chunks are cut
    and what the gates read."""
    return frame_level_db(samples, RATE, FRAME_RATE, window=0.02)


def _chunk_bounds(samples: np.ndarray) -> np.ndarray:
    """Sample indices [n+1] cutting the track into chunks <= MAX_CHUNK_S, each cut at the
    quietest 10 ms frame of the last third of its chunk."""
    n, max_len = len(samples), int(MAX_CHUNK_S * RATE)
    cuts = [0]
    if n > max_len:
        level = level_track(samples)
        while n - cuts[-1] > max_len:
            lo = (cuts[-1] + 2 * max_len // 3) * FRAME_RATE // RATE
            hi = (cuts[-1] + max_len) * FRAME_RATE // RATE
            cuts.append((lo + int(np.argmin(level[lo:hi]))) * RATE // FRAME_RATE)
    return np.array(cuts + [n])


def recognise(samples: np.ndarray, progress: Progress | None = None) -> list[Phone]:
    """Phone recognition on 16 kHz float samples (chunked for long files); `progress(share)`
    after each chunk."""
    decoder = _recogniser()
    phones = []
    bounds = _chunk_bounds(samples)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if progress:
            progress(a / len(samples))
        _decode(decoder, _pcm(samples[a:b]))
        offset = a / RATE
        phones += [Phone(clean_label(s.word), offset + s.start_frame / FRAME_RATE,
                         offset + (s.end_frame + 1) / FRAME_RATE) for s in decoder.seg()]
    return phones


def transcript_words(text: str) -> list[str]:
    """Lower-case words in reading order, numbers and abbreviations spelt out
    (`text.normalise_text`: "15th" -> "fifteenth", "Mr." -> "mister")."""
    return normalise_text(text).split()


def align(samples: np.ndarray, transcript: str) -> tuple[list[Phone], list[str]]:
    """Forced alignment of the transcript's words (those in the dictionary) to the audio.

    Raises ValueError when nothing can be aligned, so callers can fall back to recognition.
    """
    decoder = _aligner()
    words = transcript_words(transcript)
    known = [w for w in words if decoder.lookup_word(w) is not None]
    warnings = []
    if len(known) < len(words):
        unknown = sorted(set(words) - set(known))
        warnings.append(f"transcript words not in the pronouncing dictionary were skipped: "
                        f"{', '.join(unknown[:8])}{', ...' if len(unknown) > 8 else ''}")
    if not known:
        raise ValueError("the transcript has no word the English dictionary knows")
    pcm = _pcm(samples)
    try:
        decoder.set_align_text(" ".join(known))
        _decode(decoder, pcm)
        decoder.set_alignment()
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError as exc:
        raise ValueError(f"the transcript could not be aligned to the audio ({exc})") from None
    phones = [Phone(clean_label(p.name), p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE)
              for p in (alignment.phones() if alignment else ())]
    if not any(p.label != SIL for p in phones):
        raise ValueError("the transcript could not be aligned to the audio")
    return phones, warnings


def recognise_words(samples: np.ndarray, alternatives: int = 0) -> list[str]:
    """The sentence heard in 16 kHz float samples (large-vocabulary recognition; '' if
    none), then up to `alternatives` other sentences from the recogniser's n-best list."""
    decoder = _word_recogniser()
    _decode(decoder, _pcm(samples))
    heard = [decoder.hyp().hypstr if decoder.hyp() is not None else ""]
    for hyp in decoder.nbest() if alternatives else ():
        if len(heard) > alternatives:
            break
        if hyp is not None and hyp.hypstr and hyp.hypstr not in heard:  # None: an empty path
            heard.append(hyp.hypstr)
    return heard


def _bilabial_words(sentence: str) -> Counter:
    """The words of a sentence whose pronunciation has a P, B or M, counted."""
    lookup = _aligner().lookup_word
    return Counter(w for w in sentence.split()
                   if BILABIALS & {clean_label(ph) for ph in (lookup(w) or "").split()})


def alternative_bilabials(samples: np.ndarray, sentences: list[str],
                          best: str = "") -> list[Phone]:
    """The P/B/M of each sentence force-aligned to the samples. Only sentences with a
    bilabial word that `best` (the sentence already aligned) lacks are aligned, since only
    those can hear a closure it missed; sentences that do not align are skipped."""
    found, have = [], _bilabial_words(best)
    for sentence in sentences:
        if not _bilabial_words(sentence) - have:
            continue
        try:
            found += [p for p in align(samples, sentence)[0] if p.label in BILABIALS]
        except ValueError:
            continue
    return found


def bilabial_candidates(phones: list[Phone], heard: list[Phone]) -> list[Phone]:
    """The P/B/M of `heard` that overlap none of `phones`' own."""
    own = [p for p in phones if p.label in BILABIALS]
    return [h for h in heard if h.label in BILABIALS
            and not any(o.start < h.end and h.start < o.end for o in own)]


def peak_press(phone: Phone, press: np.ndarray) -> float:
    """The largest of `press` [frames at FRAME_RATE] within BILABIAL_SLACK_S of the phone."""
    a = max(int((phone.start - BILABIAL_SLACK_S) * FRAME_RATE), 0)
    b = int(np.ceil((phone.end + BILABIAL_SLACK_S) * FRAME_RATE)) + 1
    return float(press[a:b].max()) if a < len(press) else 0.0


def add_bilabials(phones: list[Phone], heard: list[Phone], press: np.ndarray,
                  threshold: float = CONFIRM_PRESS) -> list[Phone]:
    """`phones` with every bilabial candidate of `heard` written over them that the lip
    model confirms (`press` [frames] above `threshold`): a closure that a misrecognised
    word lost is kept, while the phone loop's many false ones (an "n" heard as "m") are not."""
    return overwrite(phones, [h for h in bilabial_candidates(phones, heard)
                              if peak_press(h, press) > threshold])


def gate_pauses(phones: list[Phone], level: np.ndarray) -> list[Phone]:
    """Write SIL over every run of at least PAUSE_S whose 10 ms levels (`level_track`) all
    stay PAUSE_DB below the clip's loud level, less PAUSE_EDGE_S at each end (the silent
    closure of a stop next to the pause keeps its phone): a pause is rest pose whatever
    phones were aligned over it (a misrecognised word's alignment can stretch phones
    across a pause)."""
    quiet = np.r_[False, level < np.percentile(level, 95) - PAUSE_DB, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(quiet))
    runs = edges.reshape(-1, 2) / FRAME_RATE + [PAUSE_EDGE_S, -PAUSE_EDGE_S]
    return overwrite(sorted(phones, key=lambda p: p.start), [
        Phone(SIL, a, b) for a, b in runs if b - a >= PAUSE_S - 2 * PAUSE_EDGE_S])


def recognise_via_words(samples: np.ndarray, press: np.ndarray,
                        progress: Progress | None = None) -> list[Phone]:
    """Phones by recognising words and force-aligning them, chunk by chunk (as in
    `recognise`, so long files stay cheap), plus the lip closures (P B M) that the
    recogniser's next-best sentences or phone recognition hear where the aligned words have
    none and the neural lip model confirms (a misrecognised word must not drop a closure);
    a chunk with no words, or whose words do not align, gets direct phone recognition
    instead. `press` [frames at FRAME_RATE]: the lip model's mouthPress over the whole
    clip (`neural.runtime.MouthTrack.press`), which confirms those closures.
    `progress(share)` before each chunk."""
    phones = []
    bounds = _chunk_bounds(samples)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if progress:
            progress(a / len(samples))
        chunk, offset = samples[a:b], a / RATE

        def shift(found: list[Phone]) -> list[Phone]:
            return [p._replace(start=p.start + offset, end=p.end + offset) for p in found]

        heard = shift(recognise(chunk))
        best, *others = recognise_words(chunk, NBEST)
        try:
            words = shift(align(chunk, best)[0])
        except ValueError:
            phones += heard
            continue
        words = add_bilabials(words, shift(alternative_bilabials(chunk, others, best)), press,
                              NBEST_PRESS)
        phones += add_bilabials(words, heard, press)
    return phones


def gate_silence(phones: list[Phone], level: np.ndarray) -> list[Phone]:
    """Relabel as SIL the phones whose loudest 10 ms frame (`level_track`) is GATE_DB below
    the clip's loud level (the recogniser, after level normalisation, finds phones in
    faint noise)."""
    if not phones:
        return phones
    loud = np.percentile(level, 95)
    starts = np.clip([int(p.start * FRAME_RATE) for p in phones], 0, len(level) - 1)
    peaks = np.maximum.reduceat(level, starts)  # starts are sorted: each phone's span
    return [p._replace(label=SIL) if peak < loud - GATE_DB else p for p, peak in zip(phones, peaks)]


def phones_from_audio(samples: np.ndarray, rate: int = RATE, transcript: str | None = None,
                      words: bool = False, press: np.ndarray | None = None,
                      progress: Progress | None = None) -> tuple[list[Phone], list[str]]:
    """Timed phones covering the whole clip, and warnings for the user.

    `samples` must be at 16 kHz (`audio.load_audio` gives that). With a transcript the
    words are force-aligned; without one, `words` recognises words first and aligns those
    (slower, fewer phone errors) instead of recognising phones directly, with `press`
    [frames at FRAME_RATE] (the lip model's, see `recognise_via_words`) confirming closures.
    If alignment fails the phones are recognised instead (warned). `progress(share in
    0..1)` is called as recognition goes through the clip (30 s chunks).
    Silence, or audio too faint to hold speech, gives a single SIL.
    """
    if rate != RATE:
        raise ValueError(f"phone recognition needs {RATE} Hz audio, got {rate} Hz")
    if words and press is None:
        raise ValueError("word recognition needs the lip model's press track (press=)")
    samples = np.asarray(samples, dtype=np.float32)
    duration = len(samples) / RATE
    warnings: list[str] = []
    if len(samples) < RATE // 10 or peak_dbfs(samples) < SILENCE_DBFS:
        return merge_silence([], duration), ["no speech found: the audio is silent or too short"]
    speech = normalise(samples)
    phones = None
    if transcript and transcript.strip():
        try:
            phones, warnings = align(speech, transcript)
        except ValueError as exc:
            warnings = [f"{exc}; recognising phones without it"]
    if phones is None:
        phones = (recognise_via_words(speech, press, progress) if words
                  else recognise(speech, progress))
    frames = level_track(speech)
    phones = merge_silence(gate_pauses(gate_silence(phones, frames), frames), duration)
    if all(p.label == SIL for p in phones):
        warnings.append("no speech found in the audio")
    return phones, warnings
