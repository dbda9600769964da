"""VAD (valence/pleasure, arousal, dominance) -> 52 ARKit weights, inference in pure numpy.

Blender ships numpy but not torch, so the trained MLP lives in a small .npz (layer arrays
plus the named emotions' VAD points) and runs here; training is in train.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..arkit import MIRROR, NUM_SHAPES
from ..model_cache import cached_model

DEFAULT_PATH = Path(__file__).with_name("emotion_vad.npz")
# The network has one output unit per centre shape and per left/right pair; both sides of
# a pair read the same unit, so every output satisfies w == w[..., MIRROR] exactly.
_REPRESENTATIVE = np.minimum(np.arange(NUM_SHAPES), MIRROR)
UNIT_REPS = np.unique(_REPRESENTATIVE)
SHAPE_UNIT = np.searchsorted(UNIT_REPS, _REPRESENTATIVE)
NUM_UNITS = len(UNIT_REPS)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


class EmotionModel:
    """MLP with tanh hidden layers and a sigmoid output per symmetric unit, plus named emotions."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]],
                 emotions: dict[str, tuple[float, float, float]], info: dict | None = None):
        if layers[0][0].shape[0] != 3 or layers[-1][0].shape[1] != NUM_UNITS:
            raise ValueError(f"expected a 3 -> ... -> {NUM_UNITS} network")
        self.layers = [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in layers]
        self.emotions = {n: tuple(float(c) for c in v) for n, v in emotions.items()}
        self.info = dict(info or {})

    @classmethod
    def load(cls, path: str | Path | None = None) -> "EmotionModel":
        """Read a model written by save() (default: the committed emotion_vad.npz)."""
        with np.load(Path(path or DEFAULT_PATH), allow_pickle=False) as z:
            n_layers = int(z["n_layers"])
            layers = [(z[f"w{k}"], z[f"b{k}"]) for k in range(n_layers)]
            emotions = dict(zip(z["emotion_names"].tolist(), z["emotion_vad"]))
            info = {k[5:]: z[k].item() for k in z.files if k.startswith("info_")}
        return cls(layers, emotions, info)

    @classmethod
    def cached(cls, path: str | Path | None = None) -> "EmotionModel":
        """load(path), once per process (model_cache)."""
        return cached_model("emotion", path or DEFAULT_PATH, cls.load)

    def save(self, path: str | Path) -> None:
        """Write the layers, the named emotions and scalar info to a compressed .npz."""
        arrays = {f"{p}{k}": a for k, (w, b) in enumerate(self.layers) for p, a in (("w", w), ("b", b))}
        np.savez_compressed(
            path, n_layers=len(self.layers), **arrays,
            emotion_names=np.array(list(self.emotions)),
            emotion_vad=np.array(list(self.emotions.values()), dtype=np.float64),
            **{f"info_{k}": v for k, v in self.info.items()})

    @property
    def num_parameters(self) -> int:
        return sum(w.size + b.size for w, b in self.layers)

    def __call__(self, vad: np.ndarray) -> np.ndarray:
        """[..., 3] VAD -> [..., 52] weights in [0, 1] (ARKit order), exactly left/right symmetric."""
        h = np.asarray(vad, dtype=np.float32)
        if h.shape[-1:] != (3,):
            raise ValueError(f"expected [..., 3] VAD, got shape {h.shape}")
        for w, b in self.layers[:-1]:
            h = np.tanh(h @ w + b)
        w, b = self.layers[-1]
        return _sigmoid(h @ w + b)[..., SHAPE_UNIT]

    def vad_of(self, emotion: str) -> np.ndarray:
        """[3] VAD of a name or a mix: "happiness+surprise" (mean), "happiness*0.7+surprise*0.3".

        A term without a weight weighs 1/(number of terms); weights need not sum to one, so
        "happiness*0.5" is happiness at half intensity (intensity scales VAD toward neutral).
        """
        terms = [t.strip() for t in str(emotion).split("+")]
        vad = np.zeros(3)
        for term in terms:
            name, star, weight = term.partition("*")
            name = name.strip().lower().replace(" ", "_")
            if name not in self.emotions:
                raise ValueError(f"unknown emotion {name!r} in {emotion!r}; known: {', '.join(sorted(self.emotions))}")
            try:
                k = float(weight) if star else 1.0 / len(terms)
            except ValueError:
                raise ValueError(f"bad weight {weight!r} in {emotion!r} (expected name*number)") from None
            if not np.isfinite(k) or k < 0:
                raise ValueError(f"weight in {term!r} must be a finite number >= 0")
            vad += k * np.asarray(self.emotions[name])
        return vad.astype(np.float32)

    def weights_for(self, emotion_or_vad: str | np.ndarray, intensity: float = 1.0) -> np.ndarray:
        """[52] weights of a named emotion / mix or a VAD triple, at an intensity (0 = neutral)."""
        if not np.isfinite(intensity) or intensity < 0:
            raise ValueError(f"intensity must be a finite number >= 0, got {intensity!r}")
        if isinstance(emotion_or_vad, str):
            vad = self.vad_of(emotion_or_vad)
        else:
            vad = np.asarray(emotion_or_vad, dtype=np.float32)
            if vad.shape != (3,):
                raise ValueError(f"expected an emotion name or a VAD triple, got shape {vad.shape}")
        return self(intensity * vad)
