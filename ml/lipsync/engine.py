"""Speech samples -> [T, 52] ARKit animation: the phonetic lip-sync engine on the lower face,
secondary motion (blinks, brows, head) on the upper face, and the audio-energy baseline."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..arkit import INDEX, NUM_SHAPES
from ..tracks import Layer, composite
from .audio import clipped_fraction, frame_level_db, peak_dbfs, remove_dc, resample
from ..frames import frame_count
from .neural.runtime import listen
from .phonemes import FRAME_RATE, RATE, phones_from_audio
from .phones import Phone
from .visemes import coarticulate
from . import languages, whisper

ENGINES = ("hybrid", "phonetic", "phonetic-words", "neural", "energy")
# The engines that run the lip network (once per clip): "phonetic-words" for its press
# track, which confirms closures only a second recogniser hears.
NETWORK_ENGINES = ("hybrid", "phonetic-words", "neural")
PHONE_ENGINES = ("hybrid", "phonetic", "phonetic-words")   # the engines that use phones
# The best engine without a transcript on the development sets (docs/model_card_lipsync.md);
# with a transcript "phonetic-words" and "phonetic" are the same forced alignment.
DEFAULT_ENGINE = "hybrid"
# With Whisper, the share of the analysis progress its transcript takes (about its share of
# the time: Whisper in numpy, then alignment and word recognition).
WHISPER_SHARE = 0.4
NEURAL_SHARE = 0.25       # "hybrid": the neural mouth's share, the most that kept every closure
QUIET_DBFS = -35.0        # peak below this: warn that the audio is very quiet
CLIP_WARN = 0.001         # share of samples at full scale that counts as clipping
SPEECH_RANGE_DB = 30.0    # levels this far below the loud level count as not speaking
LOUD_PERCENTILE = 95      # a clip's loud level: this percentile of its frame levels
MIN_SIGMA_FRAMES = 0.3    # Gaussian smoothing never narrower than this many frames
ENERGY_JAW, ENERGY_SMOOTH_S = 0.4, 0.03   # energy baseline: jawOpen at full level, smoothing
BLINK_MEAN_S, BLINK_SHAPE = 3.5, 3.0   # gamma-distributed blink intervals
BLINK_FIRST_S, BLINK_MIN_GAP_S = 0.5, 0.4   # no blink before this; none closer than this
BLINK_DRAW_S = 0.5        # one blink interval drawn per this much audio (enough to fill it)
EMPHASIS_DB, EMPHASIS_SMOOTH_S = 10.0, 0.12  # levels this close to the loud level: emphasis
NO_SIGNAL_DB = -100.0     # a loud level below this: digital silence, no emphasis
DRIFT_HZ = (0.05, 0.3)    # head drift: three sines per axis with frequencies in this range
BLINK_KNOTS = np.array([[-0.07, 0.0], [0.0, 1.0], [0.03, 1.0], [0.18, 0.0]])  # close, hold, open
BROW_GAIN, NOD_RAD, DRIFT_RAD = 0.2, 0.025, np.array([0.01, 0.006, 0.015])  # pitch, roll, yaw


@dataclass
class LipSyncResult:
    """weights [T, 52] at t = k / fps; head_rotation [T, 3] (radians, XYZ Euler offsets)."""
    weights: np.ndarray
    phones: list[Phone]
    warnings: list[str] = field(default_factory=list)
    head_rotation: np.ndarray | None = None
    fps: float = 30.0


def _loudness(samples: np.ndarray, rate: int, fps: float) -> tuple[np.ndarray, float]:
    """Per-frame level (dBFS) and the clip's loud level (LOUD_PERCENTILE)."""
    level = frame_level_db(samples, rate, fps, frame_count(len(samples) / rate, fps))
    return level, float(np.percentile(level, LOUD_PERCENTILE))


def energy_envelope(samples: np.ndarray, rate: int, fps: float) -> np.ndarray:
    """Baseline: [T, 52] with only jawOpen, following the smoothed loudness envelope."""
    level, loud = _loudness(np.asarray(samples, np.float32), rate, fps)
    opening = np.clip((level - (loud - SPEECH_RANGE_DB)) / SPEECH_RANGE_DB, 0.0, 1.0)
    out = np.zeros((len(level), NUM_SHAPES), dtype=np.float32)
    out[:, INDEX["jawOpen"]] = ENERGY_JAW * gaussian_filter1d(
        opening, max(ENERGY_SMOOTH_S * fps, MIN_SIGMA_FRAMES))
    return out


def secondary_motion(samples: np.ndarray, rate: int, fps: float,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Upper-face weights [T, 52] (blinks, brow raises on loud syllables) and head rotation
    [T, 3] (a slight nod on emphasis plus slow drift); random parts follow `seed`."""
    level, loud = _loudness(samples, rate, fps)
    t = np.arange(len(level)) / fps
    rng = np.random.default_rng(seed)
    out = np.zeros((len(level), NUM_SHAPES), dtype=np.float32)

    gaps = rng.gamma(BLINK_SHAPE, BLINK_MEAN_S / BLINK_SHAPE, size=int(t[-1] / BLINK_DRAW_S) + 2)
    blinks = BLINK_FIRST_S + np.cumsum(np.maximum(gaps, BLINK_MIN_GAP_S))
    blinks = blinks[blinks < t[-1]]
    if len(blinks):
        knots = (blinks[:, None, None] + BLINK_KNOTS[None] * [1.0, 0.0]).reshape(-1, 2)
        knots[:, 1] = np.tile(BLINK_KNOTS[:, 1], len(blinks))
        blink = np.interp(t, knots[:, 0], knots[:, 1], left=0.0, right=0.0)
        out[:, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]] = blink[:, None]

    emphasis = np.clip((level - (loud - EMPHASIS_DB)) / EMPHASIS_DB, 0.0, 1.0)
    if loud > NO_SIGNAL_DB:
        emphasis = gaussian_filter1d(emphasis, max(EMPHASIS_SMOOTH_S * fps, MIN_SIGMA_FRAMES))
    else:
        emphasis = emphasis * 0
    brows = [INDEX[n] for n in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")]
    out[:, brows] = (BROW_GAIN * emphasis)[:, None]

    freq = rng.uniform(*DRIFT_HZ, size=(3, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(3, 3))
    drift = np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None]).mean(2) * DRIFT_RAD
    drift[:, 0] += NOD_RAD * emphasis
    return out, drift.astype(np.float32)


def hybrid_blend(lip: np.ndarray, neural: np.ndarray, share: float = NEURAL_SHARE) -> np.ndarray:
    """The "hybrid" mouth: phone-based weights `lip` [T, 52] with `share` of the network's
    `neural` mixed in, except where the phones give the rest pose (pauses stay at rest)."""
    speaking = lip.any(axis=1, keepdims=True)
    return (1 - share) * lip + share * speaking * neural


def _between(progress, start: float, end: float):
    """`progress` for a part of an analysis that runs from share `start` to `end`."""
    return lambda share: progress(start + (end - start) * share)


def lipsync(samples: np.ndarray, rate: int, fps: float, transcript: str | None = None,
            engine: str = DEFAULT_ENGINE, secondary: bool = True,
            emotion: np.ndarray | None = None, seed: int = 0, net=None,
            transcribe: bool = False, progress=None,
            language: str = languages.DEFAULT) -> LipSyncResult:
    """Animate speech: weights [T, 52] at fps (T = round(duration * fps) + 1).

    engine "phonetic": pocketsphinx phones (force-aligned to `transcript` if given) ->
    visemes with coarticulation, owning the lower face; "phonetic-words": the same, but
    without a transcript, words are recognised first and aligned (slower, fewer phone
    errors); "neural": the causal network from log-mel (no phones; the transcript is not
    used); "hybrid": "phonetic-words" blended with NEURAL_SHARE of "neural" (the network's
    smoother opening evens out phone errors); "energy": the loudness baseline.
    `transcribe`: without a transcript, the phone engines align the one Whisper tiny.en
    (the multilingual base model in another language) hears (`whisper.segments`, optional
    packages) segment by segment, recognising without
    words wherever a segment does not fit the audio (`phonemes.align_segments`).
    `language` (ISO 639-1, `languages.LANGUAGES`): what is said is in it. In another
    language than English the words of the transcript (or of the multilingual Whisper
    base model, with `transcribe`) are pronounced by espeak-ng and aligned; without
    words the phone engines recognise phones directly (the English word recogniser is not
    used). A language not listed runs the acoustic engines only (no transcript), with
    a warning that says so.
    `emotion` [T', 52] (e.g. an emotion track) is laid on the upper face first;
    secondary motion is added on top of it. `net`: the neural engine's weights
    (`neural.runtime.load`), default the committed ones. `progress(share in 0..1)` is
    called as the analysis goes through the clip (recognition is the long part).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown lip-sync engine {engine!r}; choose from {ENGINES}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    language = languages.check(language)
    samples = remove_dc(np.asarray(samples, dtype=np.float32).reshape(-1))
    if len(samples) == 0:
        raise ValueError("the audio has no samples")
    warnings = []
    if not languages.supported(language):
        warnings.append(languages.unsupported_note(language))
        transcript, transcribe = None, False
    if peak_dbfs(samples) < QUIET_DBFS:
        warnings.append(f"the audio is very quiet (peak {peak_dbfs(samples):.0f} dBFS); "
                        f"it was normalised")
    if clipped_fraction(samples) > CLIP_WARN:
        warnings.append(f"the audio clips ({100 * clipped_fraction(samples):.1f}% of samples "
                        f"at full scale); timing may suffer")
    samples = resample(samples, rate, RATE)
    duration = len(samples) / RATE
    mouth = listen(samples, net) if engine in NETWORK_ENGINES else None   # once per clip
    segments = None
    if transcribe and not (transcript and transcript.strip()) and engine in PHONE_ENGINES:
        heard = progress and _between(progress, 0.0, WHISPER_SHARE)
        segments = lambda: whisper.segments(samples, language, heard)   # noqa: E731
        if progress:
            progress = _between(progress, WHISPER_SHARE, 1.0)
    if engine in PHONE_ENGINES:
        phones, notes = phones_from_audio(samples, RATE, transcript,
                                          words=engine != "phonetic" and language == "en",
                                          press=mouth.press(FRAME_RATE) if mouth else None,
                                          progress=progress, segments=segments,
                                          language=language)
        lip = coarticulate(phones, fps, duration)
        if engine == "hybrid":
            lip = hybrid_blend(lip, mouth.weights(fps))
    elif engine == "neural":
        phones, notes = [], ["the neural engine does not use the transcript"] if transcript else []
        lip = mouth.weights(fps)
        if not lip.any():
            notes.append("no speech found in the audio")
    else:
        phones, notes = [], []
        lip = energy_envelope(samples, RATE, fps)
    layers = [Layer(np.asarray(emotion, np.float32), "upper")] if emotion is not None else []
    layers.append(Layer(lip, "lower"))
    head = None
    if secondary:
        upper, head = secondary_motion(samples, RATE, fps, seed)
        layers.append(Layer(upper, "upper", mode="add"))
    weights = composite(layers)[:len(lip)]
    if progress:
        progress(1.0)
    return LipSyncResult(weights=weights, phones=phones, warnings=warnings + notes,
                         head_rotation=head, fps=fps)
