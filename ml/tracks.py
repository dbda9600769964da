"""Emotion keys -> [T, 52] ARKit weight curves, and compositing weight layers by face region.

Tracks are built in weight space so that keys blend without pops; layers let one source own
part of the face (lip-sync the lower half, emotion the upper) before baking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .arkit import NUM_SHAPES, region_mask
from .frames import frame_times

# u in [0, 1] -> blend factor; smoothstep has zero slope at both ends (C1 transitions).
EASES = {
    "smooth": lambda u: u * u * (3.0 - 2.0 * u),
    "linear": lambda u: u,
    "constant": np.floor,  # hold, then switch exactly at the next key's time
}
MODES = ("replace", "add", "max")
# Key times and track durations are seconds from the start of the take; a day is far past
# any real take and keeps [T, 52] tracks small (a day at 60 fps is 5.2 M frames).
MAX_TRACK_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class EmotionKey:
    """At `time` seconds the face shows `emotion` (name, "a+b" mix or VAD triple) at `intensity`."""
    time: float
    emotion: str | tuple[float, float, float]
    intensity: float = 1.0

    def __post_init__(self):
        if not np.isfinite(self.time):
            raise ValueError(f"key time must be finite, got {self.time!r}")
        _check_seconds(self.time, f"emotion key time {self.time:g} s")
        if not np.isfinite(self.intensity) or self.intensity < 0:
            raise ValueError(f"key intensity must be a finite number >= 0, got {self.intensity!r}")


def _check_seconds(value: float, what: str) -> None:
    """Times are 0 ... MAX_TRACK_SECONDS; say which bound was crossed and what to do."""
    if value < 0:
        raise ValueError(f"{what} is negative: times count seconds from the start of the take "
                         f"(0 or later); shift the keys so the first is at 0")
    if value > MAX_TRACK_SECONDS:
        raise ValueError(f"{what} is more than {MAX_TRACK_SECONDS / 3600:g} hours; times are "
                         "seconds from the start of the take (e.g. '90:happiness' for 1.5 min)")


def _number(text: str, what: str, item: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"bad {what} {text.strip()!r} in track key {item!r}") from None


def parse_track_spec(spec: str) -> list[EmotionKey]:
    """"0:neutral,2:happiness*0.8,8:happiness+surprise" -> keys (time:emotion[*intensity]).

    A trailing "*x" on a single name is its intensity; inside a mix ("a*0.7+b*0.3") it
    weights that term and the whole mix is kept as the key's emotion.
    """
    keys = []
    for item in spec.split(","):
        time, colon, emotion = item.partition(":")
        emotion = emotion.strip()
        if not colon or not time.strip() or not emotion:
            raise ValueError(f"track key {item.strip()!r} is not time:emotion[*intensity] "
                             f"(e.g. '2:happiness*0.8'), in {spec!r}")
        intensity = 1.0
        if "+" not in emotion and "*" in emotion:
            emotion, _, level = emotion.rpartition("*")
            emotion, intensity = emotion.strip(), _number(level, "intensity", item)
        keys.append(EmotionKey(_number(time, "time", item), emotion, intensity))
    return keys


def emotion_track(keys: Sequence[EmotionKey] | str, model, fps: float, duration: float | None = None,
                  ease: str = "smooth", transition: float = 0.4) -> np.ndarray:
    """[T, 52] weights sampled at t = 0, 1/fps, ... duration (T = round(duration * fps) + 1).

    Each key holds its weights until a transition of `transition` seconds (shortened when
    keys are closer) that ends exactly at the next key's time; duration defaults to the
    last key's time. `model` is an ml.emotion.EmotionModel (anything with weights_for).
    """
    if isinstance(keys, str):
        keys = parse_track_spec(keys)
    keys = sorted(keys, key=lambda k: k.time)
    if not keys:
        raise ValueError("an emotion track needs at least one key")
    if ease not in EASES:
        raise ValueError(f"unknown ease {ease!r}; choose from {tuple(EASES)}")
    if not fps > 0 or not transition >= 0:
        raise ValueError(f"need fps > 0 and transition >= 0, got fps={fps!r}, transition={transition!r}")
    key_t = np.array([k.time for k in keys], dtype=np.float64)
    if np.any(np.diff(key_t) == 0):
        raise ValueError(f"two keys share a time: {key_t.tolist()}")
    duration = key_t[-1] if duration is None else duration
    if not np.isfinite(duration):
        raise ValueError(f"duration must be a finite number of seconds, got {duration!r}")
    _check_seconds(duration, f"track duration {duration:g} s")
    key_w = np.stack([model.weights_for(k.emotion, k.intensity) for k in keys]).astype(np.float32)

    t = frame_times(duration, fps)
    cur = np.clip(np.searchsorted(key_t, t, side="right") - 1, 0, len(keys) - 1)
    nxt = np.minimum(cur + 1, len(keys) - 1)
    span = np.minimum(transition, key_t[nxt] - key_t[cur])
    u = np.clip((t - (key_t[nxt] - span)) / np.maximum(span, 1e-9), 0.0, 1.0)
    blend = EASES[ease](u).astype(np.float32)[:, None]
    return key_w[cur] + blend * (key_w[nxt] - key_w[cur])


@dataclass
class Layer:
    """[T, 52] weights applied on some face regions (ml.arkit.region_mask names; None = all).

    mode: "replace" blends toward the layer by `strength`, "add" adds strength * weights,
    "max" keeps the larger of the current value and strength * weights.
    """
    weights: np.ndarray
    regions: tuple[str, ...] | str | None = None
    mode: str = "replace"
    strength: float = 1.0
    mask: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.weights = np.asarray(self.weights, dtype=np.float32)
        if self.weights.ndim != 2 or self.weights.shape[1] != NUM_SHAPES or len(self.weights) == 0:
            raise ValueError(f"layer weights must be [T>0, {NUM_SHAPES}], got {self.weights.shape}")
        if self.mode not in MODES:
            raise ValueError(f"unknown layer mode {self.mode!r}; choose from {MODES}")
        if not np.isfinite(self.strength):
            raise ValueError(f"layer strength must be finite, got {self.strength!r}")
        if isinstance(self.regions, str):
            self.regions = (self.regions,)
        self.mask = np.ones(NUM_SHAPES, bool) if self.regions is None else region_mask(*self.regions)


def composite(layers: Sequence[Layer], pad: str = "hold") -> np.ndarray:
    """Apply layers in order onto a neutral face -> [T, 52] in [0, 1] (clipped after each layer).

    Layers of different lengths are padded to the longest by holding their last frame
    (pad="hold"), or rejected (pad="error").
    """
    if not layers:
        raise ValueError("composite needs at least one layer")
    if pad not in ("hold", "error"):
        raise ValueError(f"unknown pad {pad!r}; choose 'hold' or 'error'")
    lengths = [len(layer.weights) for layer in layers]
    n = max(lengths)
    if pad == "error" and min(lengths) != n:
        raise ValueError(f"layer lengths differ: {lengths} frames (use pad='hold' to hold last frames)")
    out = np.zeros((n, NUM_SHAPES), dtype=np.float32)
    for layer in layers:
        src = layer.weights[np.minimum(np.arange(n), len(layer.weights) - 1)][:, layer.mask]
        cur, k = out[:, layer.mask], layer.strength
        if layer.mode == "replace":
            cur = cur + k * (src - cur)
        elif layer.mode == "add":
            cur = cur + k * src
        else:
            cur = np.maximum(cur, k * src)
        out[:, layer.mask] = np.clip(cur, 0.0, 1.0)
    return out
