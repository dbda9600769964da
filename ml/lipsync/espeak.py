"""The espeak-ng C library (the `espeakng-loader` wheel, GPL-3.0-or-later) through ctypes:
words -> IPA phonemes in any of its languages (`phonemes`, the pronunciations other
languages' transcripts are aligned with), and speech with exact phoneme timing (`speak`,
the training and evaluation speech: the synth callback hands over audio and phoneme
events, IPA names with sample positions, so every phone's start is known to the sample).
Optional at run time: the extension does not ship it."""
from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np

from .ipa import events_to_phones
from .phones import Phone

SYNCHRONOUS = 2                                  # espeak_AUDIO_OUTPUT: no playback
PHONEME_EVENTS, PHONEME_IPA, DONT_EXIT = 0x1, 0x2, 0x8000
EVENT_END_LIST, EVENT_PHONEME = 0, 7
POS_CHARACTER, CHARS_UTF8 = 1, 1
RATE, PITCH, RANGE, WORDGAP = 1, 3, 4, 7          # espeak_PARAMETER
SEPARATOR = "_"                                   # between phonemes in `phonemes` (a MARK)
MISSING = ("pronunciations for this language need the package espeakng-loader "
           "(pip install espeakng-loader==0.2.4); it is not part of the Blender extension")


class _Event(ctypes.Structure):
    """espeak_EVENT (speak_lib.h); `id` is the union whose string holds the phoneme."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class _Collector:
    """Receives the synth callback's audio chunks and phoneme events."""

    def __init__(self):
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, str]] = []   # (sample index, IPA name)
        self.callback = _CALLBACK(self)

    def __call__(self, wav, n, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != EVENT_END_LIST:
            if events[i].type == EVENT_PHONEME:
                self.events.append((events[i].sample,
                                    events[i].id.decode("utf-8", "replace")))
            i += 1
        return 0


def available() -> bool:
    """Whether the espeakng-loader wheel (library and voice data) is installed."""
    from importlib.util import find_spec
    return find_spec("espeakng_loader") is not None


@functools.lru_cache(maxsize=1)
def _library() -> tuple[ctypes.CDLL, int, _Collector]:
    """The loaded library, its sample rate and the installed callback (once per process)."""
    import espeakng_loader
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                          ctypes.c_int]
    data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
    rate = lib.espeak_Initialize(SYNCHRONOUS, 0, data_parent,
                                 PHONEME_EVENTS | PHONEME_IPA | DONT_EXIT)
    if rate <= 0:
        raise RuntimeError("espeak-ng failed to initialise")
    collector = _Collector()
    lib.espeak_SetSynthCallback(collector.callback)
    return lib, rate, collector


def speak(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
          pitch_range: int = 50, word_gap: int = 0) -> tuple[np.ndarray, int, list[Phone]]:
    """(samples float32, sample rate, ARPAbet phones covering the audio) for `text` spoken
    by espeak-ng `voice` (a language with an optional '+variant', e.g. 'en-gb+f3') at
    `rate` words per minute, pitch and pitch range 0-100, extra word gap (10 ms units)."""
    lib, sr, collector = _library()
    _set_voice(lib, voice)
    for param, value in ((RATE, rate), (PITCH, pitch), (RANGE, pitch_range), (WORDGAP, word_gap)):
        lib.espeak_SetParameter(param, int(value), 0)
    collector.chunks.clear()
    collector.events.clear()
    data = text.encode("utf-8")
    lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    samples = (np.concatenate(collector.chunks).astype(np.float32) / 32768.0
               if collector.chunks else np.zeros(0, np.float32))
    starts = [s / sr for s, _ in collector.events]
    phones = events_to_phones([n for _, n in collector.events], starts, len(samples) / sr)
    return samples, sr, phones


def _set_voice(lib, voice: str) -> None:
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"espeak-ng has no voice {voice!r}")


def phonemes(word: str, voice: str) -> list[str]:
    """One word's IPA phoneme names as espeak-ng `voice` (a language: 'es', 'de') says it
    alone (digits read as numbers in that language; stress marks kept); [] if none."""
    lib, _, _ = _library()
    _set_voice(lib, voice)
    buf = ctypes.create_string_buffer(word.encode("utf-8"))
    ptr = ctypes.c_void_p(ctypes.addressof(buf))
    mode = PHONEME_IPA | (ord(SEPARATOR) << 8)
    names: list[str] = []
    while ptr.value:
        out = lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, mode)
        names += [n for n in (out or b"").decode("utf-8", "replace").replace(" ", SEPARATOR)
                  .split(SEPARATOR) if n]
    return names
