"""Speech -> timed ARPAbet phones with pocketsphinx's bundled US-English model: phone
recognition (phone n-gram, no transcript) or forced alignment to a transcript (in English
with the CMU dictionary, in another supported language with espeak-ng's pronunciations:
`languages`).

Output phones (`phones.Phone`) carry no stress digits; silence and every filler (breath,
noise) are "SIL". Closures that only a second recogniser hears are confirmed by a press
track (the neural lip model's, computed once per clip by the caller: `neural.runtime`).
"""
from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import types
from collections import Counter
from difflib import SequenceMatcher
from typing import Callable, NamedTuple

import numpy as np

from . import CHUNK_WORKERS_ENV, languages
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
# The word search: one forward pass (no flat-lexicon rescoring) with at most 3000 active HMMs
# per frame, the fastest setting whose word error on the development sets is no worse than
# pocketsphinx's defaults (both passes, 30000): 1.6x faster (lab/lipsync/probe_word_search.py).
# Faster settings (development sets GRID, pocketsphinx-testdata, 16 synthetic clips): 1500
# HMMs with a word-exit beam of 1e-20 and the 2 best Gaussians per senone ran the search
# 1.6x and the engine 1.25x faster with the same development-set closures (word error 0.417
# -> 0.450), but lost a closure on the test set (0.93 -> 0.90, model card); ds 2 (every
# second frame) gave word error 0.471 for 1.07x, beams of 1e-40 0.514, 700 HMMs 0.491.
WORD_SEARCH = {"fwdflat": False, "maxhmmpf": 3000}
# The phone loop: CMU's phoneme-recognition settings.
PHONE_SEARCH = {"lw": 2.0, "pip": 0.3, "beam": 1e-20, "pbeam": 1e-20}
SEGMENT_PAD_S = 0.3    # a timed transcript segment is aligned this much wider at each end
FALLBACK_MIN_S = 0.3   # stretches outside the kept segments this long are recognised
# The phone loop's bilabials only count where the lip model presses (CONFIRM_PRESS) and the
# words have none, so it runs only on those stretches, this much wider at each end.
LOOP_PAD_S = 0.5
# A clip of several chunks is decoded by this process and one spawned worker process
# together; "0" in this environment variable keeps every chunk in this process.
WORKERS_ENV = CHUNK_WORKERS_ENV
ALT_PAD_S = 0.05       # an alternative's words are aligned in their span of the best sentence's
                       # timing, this much wider at each end
# Forced alignment keeps only a search that reached the transcript's last word: otherwise
# pocketsphinx aligns the words of its best partial path, which looks like success (a clip
# cut, or noise-gated, before its last word lost that word without a warning).
# English on digital silence (a run of exact zeros at least DIGITAL_SILENCE_S long, as
# edited files, noise gates and synthetic speech have; no recording in the evaluation sets
# holds one over 0.2 ms): where the search does not reach the last word or the state-level
# pass fails (a LibriVox clip with 0.3 s of zeros at three word boundaries), the same audio
# is tried again with a fixed noise 60, then 40 dB below full scale under it
# (ENGLISH_DITHERS; lab/lipsync/probe_alignment.py). Only there: on recordings the noisy
# tries align worse than the recogniser they would replace (noise under every clip moved
# real speech's words by 39 ms on average).
ENGLISH_DITHERS = (0.0, 1e-3, 1e-2)
DIGITAL_SILENCE_S = 0.01
# Another language's words aligned with the English model: on digital silence (exact
# zeros, as synthetic speech and edited files have) its search loses every path to the last
# word (6 of the Spanish set's 30 true transcripts aligned whole); a fixed noise 40 dB below
# full scale under the (normalised) audio fixes that (28 of 30) and lets it find the pauses
# (pause rest 0.94; 0.61 at 60 dB below, 1.00 but closure 0.80 at 30 dB), and wider beams
# are tried after pocketsphinx's defaults where it still fails (chosen on the Spanish set).
OTHER_LANGUAGE_DITHER = 1e-2
OTHER_LANGUAGE_BEAMS = ({}, {"beam": 1e-80, "pbeam": 1e-80, "wbeam": 1e-60})


def _model_file(*parts: str) -> str:
    import pocketsphinx
    return os.path.join(pocketsphinx.get_model_path(), *parts)


@functools.lru_cache(maxsize=1)
def _recogniser():
    """Phone-loop decoder with the bundled phone trigram (CMU's phoneme-recognition settings)."""
    import pocketsphinx
    return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"),
                                allphone=_model_file("en-us", "en-us-phone.lm.bin"),
                                lm=None, loglevel="FATAL", **PHONE_SEARCH)


@functools.lru_cache(maxsize=1)
def _word_recogniser():
    """Large-vocabulary decoder: the bundled US-English trigram language model."""
    import pocketsphinx
    return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"),
                                lm=_model_file("en-us", "en-us.lm.bin"),
                                dict=_model_file("en-us", "cmudict-en-us.dict"),
                                loglevel="FATAL", **WORD_SEARCH)


@functools.lru_cache(maxsize=1)
def _aligner():
    import pocketsphinx
    return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"),
                                dict=_model_file("en-us", "cmudict-en-us.dict"),
                                lm=None, loglevel="FATAL")


@functools.lru_cache(maxsize=None)
def _other_aligner(language: str, beams: int):
    """Forced-alignment decoder for another language than English: the English acoustic
    model at OTHER_LANGUAGE_BEAMS[beams] with an empty dictionary, which `_align_words`
    fills with espeak-ng's pronunciations as words come."""
    import pocketsphinx
    with tempfile.NamedTemporaryFile("w", suffix=".dict", delete=False) as empty:
        dictionary = empty.name
    try:
        return pocketsphinx.Decoder(hmm=_model_file("en-us", "en-us"), dict=dictionary,
                                    lm=None, loglevel="FATAL", **OTHER_LANGUAGE_BEAMS[beams])
    finally:
        os.unlink(dictionary)


@functools.lru_cache(maxsize=8192)
def _pronunciation(word: str, language: str) -> str:
    """A non-English word's phones for the aligner ('' where espeak-ng gives none)."""
    return " ".join(languages.pronounce(word, language))


def _add_words(decoder, words: list[str], language: str) -> None:
    """Give the decoder every word it lacks (the search is rebuilt once, after the last)."""
    new = [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]
    for i, word in enumerate(new):
        decoder.add_word(word, _pronunciation(word, language), i == len(new) - 1)


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


def _digital_silence(samples: np.ndarray) -> bool:
    """Whether the samples, as the decoder gets them (`_pcm`), hold a run of exact zeros
    DIGITAL_SILENCE_S long."""
    zero = np.frombuffer(_pcm(samples), "<i2") == 0
    n = int(DIGITAL_SILENCE_S * RATE)
    if zero.sum() < n:
        return False
    run = np.concatenate([[0], np.cumsum(zero)])
    return bool((run[n:] - run[:-n] == n).any())


def _dithered(samples: np.ndarray, level: float) -> np.ndarray:
    """The samples with a fixed Gaussian noise of standard deviation `level` under them
    (seeded by the length: the same audio always gets the same noise)."""
    if not level:
        return samples
    noise = np.random.default_rng(len(samples)).standard_normal(len(samples))
    return samples + (level * noise).astype(np.float32)


def _align_words(samples: np.ndarray, words: list[str],
                 language: str = "en") -> tuple[list[Phone], float, float]:
    """Phones of dictionary words (`_known_words`) force-aligned to 16 kHz samples, the word
    pass's path score and the noise level it was aligned under (the score is comparable with
    `_phone_loop`'s on `_dithered(samples, level)`); ValueError where no try reaches the
    last word (English: ENGLISH_DITHERS on digital silence, else one noise-free pass; another
    language: OTHER_LANGUAGE_BEAMS)."""
    if language == "en":
        levels = ENGLISH_DITHERS if _digital_silence(samples) else ENGLISH_DITHERS[:1]
        tries = [(_aligner(), level) for level in levels]
    else:
        tries = [(_other_aligner(language, beams), OTHER_LANGUAGE_DITHER)
                 for beams in range(len(OTHER_LANGUAGE_BEAMS))]
    for decoder, level in tries:
        if language != "en":
            _add_words(decoder, words, language)
        try:
            return (*_align_once(decoder, _dithered(samples, level), words), level)
        except ValueError as exc:
            error = exc
    raise error


def _align_once(decoder, samples: np.ndarray, words: list[str]) -> tuple[list[Phone], float]:
    """One alignment pass (`_align_words`): ValueError unless the search reached the last
    word (pocketsphinx otherwise aligns the words of its best partial path)."""
    pcm = _pcm(samples)
    try:
        decoder.set_align_text(" ".join(words))
        _decode(decoder, pcm)
        if decoder.hyp() is None or len(decoder.hyp().hypstr.split()) != len(words):
            raise RuntimeError("the search did not reach the last word")
        score = decoder.hyp().best_score
        decoder.set_alignment()
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError as exc:
        raise ValueError(f"the transcript could not be aligned to the audio ({exc})") from None
    phones = _alignment_phones(alignment)
    if not any(p.label != SIL for p in phones):
        raise ValueError("the transcript could not be aligned to the audio")
    return phones, score


def _known_words(transcript: str, language: str = "en") -> tuple[list[str], list[str]]:
    """The transcript's words the dictionary holds (in another language than English, those
    espeak-ng pronounces), and warnings for those it lacks."""
    if language == "en":
        lookup = _aligner().lookup_word
        words = transcript_words(transcript)
        known = [w for w in words if lookup(w) is not None]
    else:
        words = languages.words(transcript)
        known = [w for w in words if _pronunciation(w, language)]
    if len(known) == len(words):
        return known, []
    unknown = sorted(set(words) - set(known))
    return known, [f"transcript words not in the pronouncing dictionary were skipped: "
                   f"{', '.join(unknown[:8])}{', ...' if len(unknown) > 8 else ''}"]


def align(samples: np.ndarray, transcript: str,
          language: str = "en") -> tuple[list[Phone], list[str]]:
    """Forced alignment of the transcript's words (those in the dictionary; in another
    language than English, those espeak-ng can pronounce) to the audio.

    Raises ValueError when nothing can be aligned, so callers can fall back to recognition.
    """
    known, warnings = _known_words(transcript, language)
    if not known:
        raise ValueError("the transcript has no word the English dictionary knows"
                         if language == "en" else
                         f"the transcript has no word espeak-ng can pronounce in {language!r}")
    return _align_words(samples, known, language)[0], warnings


def _phone_loop(samples: np.ndarray) -> tuple[list[Phone], float]:
    """The phone loop's phones on the samples and its path score: how well free phone
    recognition explains them, the yardstick a transcript's alignment must reach
    (`align_segments`)."""
    decoder = _recogniser()
    _decode(decoder, _pcm(samples))
    score = decoder.hyp().best_score if decoder.hyp() is not None else -np.inf
    return [Phone(clean_label(s.word), s.start_frame / FRAME_RATE,
                  (s.end_frame + 1) / FRAME_RATE) for s in decoder.seg()], score


def segment_windows(segments, duration: float) -> list[tuple[float, float, str]]:
    """(start s, end s, text) per transcript segment (start, end, text) that overlaps the
    clip (0..`duration` s), widened by SEGMENT_PAD_S at each end but never past the middle
    of the gap to a neighbour."""
    segs = sorted((a, b, t) for a, b, t in ((max(a, 0.0), min(b, duration), t)
                                            for a, b, t in segments) if b > a)
    out = []
    for i, (a, b, text) in enumerate(segs):
        lo = max(a - SEGMENT_PAD_S, (segs[i - 1][1] + a) / 2 if i else 0.0, 0.0)
        hi = min(b + SEGMENT_PAD_S, (b + segs[i + 1][0]) / 2 if i + 1 < len(segs) else duration)
        out.append((lo, hi, text))
    return out


def align_segments(samples: np.ndarray, segments,
                   fallback: Callable[[float, float], list[Phone]], language: str = "en"
                   ) -> tuple[list[Phone], list[str]]:
    """Phones from a timed transcript (segments (start s, end s, text), e.g. Whisper's),
    each segment force-aligned inside its own stretch (`segment_windows`) and kept only
    where its words explain the audio at least as well as free phone recognition does
    (alignment score >= the phone loop's): a recogniser's words invented in silence or
    music, or misheard, do not fit and are not trusted. In another language than English
    (pronounced by espeak-ng, heard by the English model) a true transcript often scores
    below the phone loop, so there a segment is kept where its words align at all. Every stretch not covered by a
    kept segment (rejected segments, and gaps of at least FALLBACK_MIN_S) gets
    `fallback(start s, end s)`'s phones (recognition without words there). `language`:
    the transcript's (`languages.LANGUAGES`)."""
    duration = len(samples) / RATE
    kept, rejected, warnings = [], 0, []
    phones: list[Phone] = []
    for lo, hi, text in segment_windows(segments, duration):
        chunk = samples[int(lo * RATE):int(hi * RATE)]
        try:
            known, notes = _known_words(text, language)
            if not known:
                raise ValueError("no known word")
            found, score, level = _align_words(chunk, known, language)
        except ValueError:
            rejected += 1
            continue
        if language == "en" and score < _phone_loop(_dithered(chunk, level))[1]:
            rejected += 1               # (another language's words align only where they fit)
            continue
        warnings += notes
        kept.append((lo, hi))
        phones += [p._replace(start=p.start + lo, end=p.end + lo) for p in found]
    t = 0.0
    for lo, hi in kept + [(duration, duration)]:
        if lo - t >= FALLBACK_MIN_S:
            phones += fallback(t, lo)
        t = hi
    if rejected:
        warnings.append(f"{rejected} of {len(segments)} transcript segments did not match the "
                        f"audio; recognised without their words there")
    return sorted(phones, key=lambda p: p.start), warnings


class Heard(NamedTuple):
    """What the word recogniser heard in a clip: the best sentence and up to `alternatives`
    other sentences of its n-best list (`sentences`, best first; '' if nothing), the best
    sentence's words with their times (word, start s, end s), and its phones from one
    state-level alignment pass over the recogniser's own word times (None where that pass
    fails)."""
    sentences: list[str]
    words: list[tuple[str, float, float]]
    phones: list[Phone] | None


def _alignment_phones(alignment) -> list[Phone]:
    return [Phone(clean_label(p.name), p.start / FRAME_RATE, (p.start + p.duration) / FRAME_RATE)
            for p in (alignment.phones() if alignment else ())]


def hear(samples: np.ndarray, alternatives: int = 0) -> Heard:
    """Large-vocabulary recognition of 16 kHz float samples, then the phones of what it heard
    by a state-level pass over its own word times: one word search in all, where aligning
    the recognised sentence afresh (`align`) searches the words again."""
    decoder = _word_recogniser()
    pcm = _pcm(samples)
    _decode(decoder, pcm)
    heard = [decoder.hyp().hypstr if decoder.hyp() is not None else ""]
    for hyp in (decoder.nbest() or ()) if alternatives else ():   # None: no lattice
        if len(heard) > alternatives:
            break
        if hyp is not None and hyp.hypstr and hyp.hypstr not in heard:  # None: an empty path
            heard.append(hyp.hypstr)
    # No path (hyp, seg and nbest None) where the pruned search reaches no final word, as on
    # one synthetic development clip: nothing heard, the caller falls back to the phone loop.
    words = [(re.sub(r"\(\d+\)$", "", s.word), s.start_frame / FRAME_RATE,
              (s.end_frame + 1) / FRAME_RATE) for s in decoder.seg() or ()   # None: no path
             if s.word[0] not in "<[+"]                    # <s> </s> <sil> [NOISE] +NSN+
    phones = None
    if heard[0]:
        try:
            decoder.set_alignment()
            _decode(decoder, pcm)
            phones = _alignment_phones(decoder.get_alignment())
        except RuntimeError:
            phones = None
        finally:
            decoder.activate_search()                      # back to the n-gram search
    if phones is not None and not any(p.label != SIL for p in phones):
        phones = None
    return Heard(heard, words, phones)


def recognise_words(samples: np.ndarray, alternatives: int = 0) -> list[str]:
    """The sentence heard in 16 kHz float samples (large-vocabulary recognition; '' if
    none), then up to `alternatives` other sentences from the recogniser's n-best list."""
    return hear(samples, alternatives).sentences


def _bilabial_words(sentence: str) -> Counter:
    """The words of a sentence whose pronunciation has a P, B or M, counted."""
    lookup = _aligner().lookup_word
    return Counter(w for w in sentence.split()
                   if BILABIALS & {clean_label(ph) for ph in (lookup(w) or "").split()})


def _bilabials_aligned(samples: np.ndarray, text: str, offset: float = 0.0) -> list[Phone]:
    """The P/B/M of `text` force-aligned to the samples, shifted by `offset` s; [] where it
    does not align."""
    try:
        return [p._replace(start=p.start + offset, end=p.end + offset)
                for p in align(samples, text)[0] if p.label in BILABIALS]
    except ValueError:
        return []


def differing_spans(words: list[tuple[str, float, float]], sentence: str,
                    duration: float) -> list[tuple[float, float, str]]:
    """Where `sentence` has a bilabial word that the timed best sentence `words` lacks:
    (start s, end s, text) for each such difference, the text being the sentence's words
    there between the best sentence's neighbouring words (anchors), the span from the
    start of the one before to the end of the one after (0 / `duration` at the ends)."""
    best = [w for w, _, _ in words]
    alt = sentence.split()
    spans = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, best, alt, autojunk=False).get_opcodes():
        if tag == "equal" or not (_bilabial_words(" ".join(alt[j1:j2]))
                                  - _bilabial_words(" ".join(best[i1:i2]))):
            continue
        a, b = max(i1 - 1, 0), min(i2 + 1, len(words))
        start = words[a][1] if i1 > 0 else 0.0
        end = words[b - 1][2] if i2 < len(words) else duration
        spans.append((start, end, " ".join(best[a:i1] + alt[j1:j2] + best[i2:b])))
    return spans


def alternative_bilabials(samples: np.ndarray, sentences: list[str], best: str = "",
                          words: list[tuple[str, float, float]] | None = None) -> list[Phone]:
    """The P/B/M of the sentences force-aligned to the samples. Only sentences with a
    bilabial word that `best` (the sentence already aligned) lacks are aligned, since only
    those can hear a closure it missed; sentences that do not align are skipped.
    With the best sentence's timed `words` (`Heard.words`) only each differing stretch is
    aligned, inside its span of the best sentence's timing (`differing_spans`): a second
    of audio instead of the whole chunk per sentence."""
    found, have = [], _bilabial_words(best)
    duration = len(samples) / RATE
    spans = set()
    for sentence in sentences:
        if not _bilabial_words(sentence) - have:
            continue
        if words is None:
            found += _bilabials_aligned(samples, sentence)
        else:
            spans.update(differing_spans(words, sentence, duration))
    for start, end, text in sorted(spans):
        a = max(int((start - ALT_PAD_S) * RATE), 0)
        found += _bilabials_aligned(samples[a:int((end + ALT_PAD_S) * RATE)], text, a / RATE)
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


def press_windows(phones: list[Phone], press: np.ndarray, lo: int, hi: int,
                  pad: float = LOOP_PAD_S) -> list[tuple[int, int]]:
    """Sample ranges [start, end) within samples lo..hi where a phone-loop bilabial could
    still be confirmed: each run of `press` [frames at FRAME_RATE] above CONFIRM_PRESS that
    no bilabial of `phones` comes within BILABIAL_SLACK_S of, `pad` s wider at each end,
    overlapping ranges merged."""
    f0, f1 = lo * FRAME_RATE // RATE, min(-(-hi * FRAME_RATE // RATE), len(press))
    pressed = np.r_[False, press[f0:f1] > CONFIRM_PRESS, False].astype(np.int8)
    runs = np.flatnonzero(np.diff(pressed)).reshape(-1, 2) + f0        # [start, end) frames
    slack = BILABIAL_SLACK_S * FRAME_RATE
    own = np.array([(p.start * FRAME_RATE - slack, p.end * FRAME_RATE + slack)
                    for p in phones if p.label in BILABIALS]).reshape(-1, 2)
    windows: list[tuple[int, int]] = []
    for start, end in runs:
        if ((own[:, 0] < end) & (start < own[:, 1])).any():
            continue
        a = max(int((start / FRAME_RATE - pad) * RATE), lo)
        b = min(int((end / FRAME_RATE + pad) * RATE), hi)
        if windows and a <= windows[-1][1]:
            windows[-1] = (windows[-1][0], b)
        else:
            windows.append((a, b))
    return windows


def unexplained_bilabials(samples: np.ndarray, phones: list[Phone], press: np.ndarray,
                          lo: int = 0, hi: int | None = None) -> list[Phone]:
    """The phone loop's phones (`recognise`) on the stretches of samples lo..hi where the
    lip model presses the lips and `phones` have no bilabial (`press_windows`): the only
    places its bilabials can be confirmed (`add_bilabials`), a fraction of the audio."""
    found: list[Phone] = []
    for a, b in press_windows(phones, press, lo, len(samples) if hi is None else hi):
        found += [p._replace(start=p.start + a / RATE, end=p.end + a / RATE)
                  for p in recognise(samples[a:b])]
    return found


def _words_chunk(chunk: np.ndarray, press: np.ndarray) -> list[Phone]:
    """`recognise_via_words` on one chunk: times from its start; `press` [frames at
    FRAME_RATE from its start]. Runs in the chunk worker too (`_ChunkWorker`)."""
    said = hear(chunk, NBEST)
    if said.phones is None:
        return recognise(chunk)
    best, *others = said.sentences
    words = add_bilabials(said.phones, alternative_bilabials(chunk, others, best, said.words),
                          press, NBEST_PRESS)
    return add_bilabials(words, unexplained_bilabials(chunk, words, press), press)


def _load_models() -> None:
    """The chunk worker's start: every decoder loaded once, before its first chunk."""
    _word_recogniser(), _recogniser(), _aligner()


def start_worker():
    """A pool of one spawned process, already started and loading the models
    (`_load_models`). "spawn" would run the caller's main script again in it (a script
    without a `__main__` guard, and any script's imports), so it starts with an empty one."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"))
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        pool.submit(_load_models)           # the first submit starts the process
    except Exception:
        pool.shutdown(wait=False)
        raise
    finally:
        sys.modules["__main__"] = main
    return pool


class _ChunkWorker:
    """One spawned process that decodes chunks beside this one (pocketsphinx holds the
    interpreter lock, so threads would not overlap): started on the first clip with
    several chunks, models loaded once, reused for every later clip of the process.
    "spawn", never fork (Blender's process must not be forked); only where this module
    imports under its own name (`faceforge.ml...`, not inside Blender's extension
    loader), WORKERS_ENV is not "0" and the process may use two cores."""
    pool = None
    broken = False

    @classmethod
    def get(cls):
        """The running worker pool, started now if need be; None where it may not run."""
        if os.environ.get(WORKERS_ENV) == "0":
            return None
        if cls.pool is None and not cls.broken:
            cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count() or 1)
            if not __name__.startswith("faceforge.") or cores < 2:
                cls.broken = True                   # inside Blender, or one core
                return None
            try:
                cls.pool = start_worker()
            except Exception:                       # no process could be started
                cls.broken = True
        return cls.pool

    @classmethod
    def fail(cls) -> None:
        """A worker that died or could not start: this process decodes alone from now on."""
        if cls.pool is not None:
            cls.pool.shutdown(wait=False, cancel_futures=True)
        cls.pool, cls.broken = None, True


def _run_chunks(jobs: list[tuple[np.ndarray, np.ndarray]], shares: list[float],
                progress: Progress | None) -> list[list[Phone]]:
    """`_words_chunk(*job)` for every job, in order. With two or more jobs and a chunk
    worker (`_ChunkWorker`), the jobs are shared out before any starts (longest first, each
    to whichever process has less audio so far): pocketsphinx holds the interpreter lock for
    a whole chunk, so this process could not hand out work while it decodes. A job the
    worker fails on is decoded here. `progress(shares[i])` before this process starts job i."""
    results: list[list[Phone] | None] = [None] * len(jobs)
    pool = _ChunkWorker.get() if len(jobs) >= 2 else None
    futures = {}
    if pool is not None:
        load = [0, 0]                                # audio samples: this process, worker
        for i in sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0])):
            if load[1] < load[0]:
                try:
                    futures[i] = pool.submit(_words_chunk, *jobs[i])
                except Exception:                    # it died: decode the rest here
                    _ChunkWorker.fail()
                    break
            load[load[1] < load[0]] += len(jobs[i][0])
    for i, job in enumerate(jobs):
        if i not in futures:
            if progress:
                progress(shares[i])
            results[i] = _words_chunk(*job)
    for i, future in futures.items():
        results[i] = _from_worker(future, jobs[i])
    return results


def _from_worker(future, job: tuple) -> list[Phone]:
    """The worker's `_words_chunk(*job)`, or this process's where the worker failed."""
    try:
        return future.result()
    except Exception:           # BrokenProcessPool, a failed start: decode it here instead
        _ChunkWorker.fail()
        return _words_chunk(*job)


def recognise_via_words(samples: np.ndarray, press: np.ndarray,
                        progress: Progress | None = None) -> list[Phone]:
    """Phones by recognising words and aligning them (`hear`: one word search, then one
    state-level pass over its own word times), chunk by chunk (as in `recognise`, so long
    files stay cheap), plus the lip closures (P B M) that the recogniser's next-best
    sentences or phone recognition hear where the aligned words have none and the neural
    lip model confirms (a misrecognised word must not drop a closure); each next-best
    sentence is aligned only where it differs (`alternative_bilabials`), the phone loop
    runs only where the lip model presses and the words have no bilabial
    (`unexplained_bilabials`). A chunk with no words, or whose words do not align, gets
    direct phone recognition instead. `press` [frames at FRAME_RATE]: the lip model's
    mouthPress over the whole clip (`neural.runtime.MouthTrack.press`), which confirms
    those closures. A clip of several chunks shares them with a second process
    (`_run_chunks`). `progress(share)` before each chunk this process decodes."""
    starts, jobs = _word_jobs(samples, press)
    return _joined(starts, _run_chunks(jobs, [a / len(samples) for a in starts], progress))


def _word_jobs(samples: np.ndarray, press: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """The clip's chunk starts (samples) and one `_words_chunk` job (chunk, press from its
    start) per chunk."""
    bounds = _chunk_bounds(samples)
    starts = bounds[:-1]
    return starts, [(samples[a:b], press[a * FRAME_RATE // RATE:])
                    for a, b in zip(starts, bounds[1:])]


def _joined(starts, chunks: list[list[Phone]]) -> list[Phone]:
    """Every chunk's phones on the clip's time line (chunk i starts at sample starts[i])."""
    return [p._replace(start=p.start + a / RATE, end=p.end + a / RATE)
            for a, found in zip(starts, chunks) for p in found]


def words_in_background(samples: np.ndarray, press: np.ndarray,
                        here: Callable[[], list[Phone]]) -> Callable[[], list[Phone]]:
    """`recognise_via_words(samples, press)` handed to the chunk worker now, for a clip of
    several chunks (where the worker runs anyway), so it decodes while this process does
    other work (Whisper); the returned function gives the phones, decoding here, from the
    last chunk back, every chunk the worker has not started (and any it failed on).
    Shorter clips, or no worker: `here` (this process decodes when asked)."""
    starts, jobs = _word_jobs(samples, press)
    pool = _ChunkWorker.get() if len(jobs) >= 2 else None
    if pool is None:
        return here
    futures = []
    for job in jobs:
        try:
            futures.append(pool.submit(_words_chunk, *job))
        except Exception:                   # it died: the rest are decoded here
            _ChunkWorker.fail()
            futures.append(None)

    def result() -> list[Phone]:
        found: list[list[Phone] | None] = [None] * len(jobs)
        for i in reversed(range(len(jobs))):       # take back what has not started
            if futures[i] is None or futures[i].cancel():
                found[i] = _words_chunk(*jobs[i])
        for i, future in enumerate(futures):
            if found[i] is None:
                found[i] = _from_worker(future, jobs[i])
        return _joined(starts, found)
    return result


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
                      progress: Progress | None = None, segments=None,
                      language: str = "en") -> tuple[list[Phone], list[str]]:
    """Timed phones covering the whole clip, and warnings for the user.

    `samples` must be at 16 kHz (`audio.load_audio` gives that). With a transcript the
    words are force-aligned; without one, `words` recognises words first and aligns those
    (slower, fewer phone errors) instead of recognising phones directly, with `press`
    [frames at FRAME_RATE] (the lip model's, see `recognise_via_words`) confirming closures.
    If alignment fails the phones are recognised instead (warned). `segments` (start s,
    end s, text), a timed transcript such as Whisper's, is aligned segment by segment with
    recognition wherever a segment does not fit the audio (`align_segments`); a
    `transcript` takes precedence. `segments` may be a function that makes them (Whisper):
    it is called after the word recognition of a long clip has gone to the chunk worker
    (`words_in_background`), so the two run side by side. `language`: the transcript's
    and segments' (a key of `languages.LANGUAGES`; word recognition is English). `progress(share in
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
            phones, warnings = align(speech, transcript, language)
        except ValueError as exc:
            warnings = [f"{exc}; recognising phones without it"]
    def recognised(a: float, b: float) -> list[Phone]:
        i, j = int(a * RATE), int(b * RATE)
        report = progress if (a, b) == (0.0, duration) else None    # whole clip only
        found = (recognise_via_words(speech[i:j], press[int(a * FRAME_RATE):], report)
                 if words else recognise(speech[i:j], report))
        return [p._replace(start=p.start + a, end=p.end + a) for p in found]

    whole = lambda: recognised(0.0, duration)     # noqa: E731  (every phone engine needs it)
    if phones is None and segments is not None and words:
        whole = words_in_background(speech, press, whole)   # before Whisper (callable) runs
    if phones is None and callable(segments):
        segments = segments()
    if phones is None and segments:
        phones, warnings = align_segments(speech, segments, recognised, language)
        if words:
            # One misheard word ("clubs" as "clothes") still lets a segment fit better than
            # the phone loop, and would cost its closure: the closures the words engine hears
            # without the transcript are added where the lip model confirms them.
            phones = add_bilabials(sorted(phones, key=lambda p: p.start), whole(), press,
                                   NBEST_PRESS)
    if phones is None:
        phones = whole()
    frames = level_track(speech)
    phones = merge_silence(gate_pauses(gate_silence(phones, frames), frames), duration)
    if all(p.label == SIL for p in phones):
        warnings.append("no speech found in the audio")
    return phones, warnings
