"""Synthetic VAD -> ARKit training data built from the shared emotion tables.

Each basic emotion's EMFACS prototype (action units) becomes ARKit weights through the
approximate AU->ARKit map and sits at its PAD (valence/arousal/dominance) point; samples
scale both toward the neutral origin (intensity) and blend compatible pairs (mixtures).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from faceforge.ml.arkit import INDEX, MIRROR, NUM_SHAPES
from ..paths import SHARED_DATA

DEFAULT_DATA = SHARED_DATA
TABLE_FILE = Path("emotion") / "emotion_facs_arkit_pad.json"

# FACS intensity letters (trace .. maximum) as a fraction of a shape's full weight;
# prototype AUs without a letter are taken at the apex of a clear expression, "D".
FACS_LEVEL = {"A": 0.2, "B": 0.4, "C": 0.6, "D": 0.8, "E": 1.0}
APEX_LEVEL = "D"
# ARKit shapes whose full (1.0) pose goes far beyond what an emotional apex shows:
# capture data rarely drives them past these fractions.
SHAPE_GAIN = {"cheekSquint": 0.5, "eyeSquint": 0.6, "eyeWide": 0.75, "mouthStretch": 0.6, "jawOpen": 0.5}
# "jawOpen(small)" (AU25 lips part) and "jawOpen(large)" (AU27 mouth stretch) vs AU26 jaw drop.
QUALIFIER_GAIN = {"": 1.0, "small": 0.5, "large": 2.0}
# The PAD table of Ekman's six names happiness "joy"; contempt has no entry there and
# takes OCC "reproach" (Gebhard 2005): displeased, calm, dominant.
PAD_SOURCE = {"happiness": ("PAD_Ekman6_commonly_used", "joy"),
              "contempt": ("PAD_Gebhard2005_ALMA", "reproach")}

_AU_CODE = re.compile(r"^([LR]?)(\d+)([A-E]?)$")
_TARGET = re.compile(r"^(\w+?)(?:\((\w+)\))?$")


def load_table(data_dir: str | Path | None = None) -> dict:
    """The emotion/FACS/PAD tables (JSON) from the shared data folder."""
    return json.loads((Path(data_dir or DEFAULT_DATA) / TABLE_FILE).read_text())


def _shape_base(name: str) -> str:
    return name.removesuffix("Left").removesuffix("Right")


def au_weights(code: int | str, au_map: dict[str, list[str]]) -> np.ndarray:
    """[52] ARKit weights of one action unit code such as 12, "26" or "R12A" (side, AU, intensity).

    A unilateral AU keeps only that side's shapes; several targets of one AU all fire.
    """
    m = _AU_CODE.match(str(code))
    if m is None:
        raise ValueError(f"malformed action unit code {code!r}")
    side, au, letter = m.groups()
    if au not in au_map:
        raise ValueError(f"AU{au} has no ARKit mapping")
    level = FACS_LEVEL[letter or APEX_LEVEL]
    w = np.zeros(NUM_SHAPES, dtype=np.float32)
    for target in au_map[au]:
        m = _TARGET.match(target)
        if m is None or m[1] not in INDEX or (m[2] or "") not in QUALIFIER_GAIN:
            raise ValueError(f"AU{au} maps to {target!r}: not an ARKit name with an optional "
                             f"qualifier from {sorted(QUALIFIER_GAIN)}")
        name, qualifier = m.groups()
        if side and not name.endswith({"L": "Left", "R": "Right"}[side]):
            continue
        gain = SHAPE_GAIN.get(_shape_base(name), 1.0) * QUALIFIER_GAIN[qualifier or ""]
        w[INDEX[name]] = min(1.0, level * gain)
    return w


def prototypes(table: dict) -> dict[str, np.ndarray]:
    """Basic emotion -> [52] prototype weights (AUs combined by max; contempt stays one-sided)."""
    au_map = table["AU_to_ARKit_approx"]
    return {name: np.max([au_weights(c, au_map) for c in codes], axis=0)
            for name, codes in table["emfacs_prototypes_AU"].items()}


def emotion_vads(table: dict) -> dict[str, tuple[float, float, float]]:
    """Every named emotion -> VAD: the OCC emotions, the basic ones (their own PAD wins), neutral."""
    vads = {n: tuple(v) for n, v in table["PAD_Gebhard2005_ALMA"].items()}
    for name in table["emfacs_prototypes_AU"]:
        source, key = PAD_SOURCE.get(name, ("PAD_Ekman6_commonly_used", name))
        vads[name] = tuple(table[source][key])
    vads["neutral"] = (0.0, 0.0, 0.0)
    return vads


def mixable_pairs(vad: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs of emotions whose VAD points are less than 90 degrees apart.

    Blending opposite emotions (happiness + sadness) would put half-strength faces next to
    the neutral origin, contradicting the intensity samples there, so they are not mixed.
    """
    unit = vad / np.linalg.norm(vad, axis=1, keepdims=True)
    return [(i, j) for i, j in combinations(range(len(vad)), 2) if unit[i] @ unit[j] > 0]


@dataclass
class Split:
    """Paired samples: VAD inputs [N, 3] and ARKit weight targets [N, 52] (float32)."""
    vad: np.ndarray
    weights: np.ndarray

    def mirrored(self) -> "Split":
        """The split plus every sample's mirror image (same VAD: it has no handedness)."""
        return Split(np.concatenate([self.vad, self.vad]),
                     np.concatenate([self.weights, self.weights[:, MIRROR]]))


@dataclass
class Splits:
    """Training data, held-out samples, held-out mixtures and which pairs those are."""
    train: Split
    val: Split
    val_mix: Split
    heldout_pairs: list[str]


def make_splits(table: dict, seed: int = 0, n_per_emotion: int = 600, n_per_pair: int = 400,
                n_neutral: int = 300, val_fraction: float = 0.15, n_heldout_pairs: int = 2,
                vad_noise: float = 0.03, weight_jitter: float = 0.05) -> Splits:
    """Deterministic train / val (held-out samples) / val_mix (held-out pairs) splits.

    A sample is s * (a * emotion_i + (1 - a) * emotion_j) in VAD and in weights alike
    (s: intensity, a: mix; i == j for single emotions, s == 0 for neutral), plus Gaussian
    VAD noise and a per-shape multiplicative jitter (zeros stay zero); all mirror-augmented.
    """
    rng = np.random.default_rng(seed)
    protos, vads = prototypes(table), emotion_vads(table)
    names = list(protos)
    proto = np.stack([protos[n] for n in names])
    vad = np.array([vads[n] for n in names], dtype=np.float32)
    pairs = np.array(mixable_pairs(vad))
    heldout = np.zeros(len(pairs), dtype=bool)
    heldout[rng.choice(len(pairs), n_heldout_pairs, replace=False)] = True

    singles = np.repeat(np.arange(len(names)), n_per_emotion)
    pair_idx = np.repeat(np.arange(len(pairs)), n_per_pair)
    i = np.concatenate([singles, pairs[pair_idx, 0], np.zeros(n_neutral, int)])
    j = np.concatenate([singles, pairs[pair_idx, 1], np.zeros(n_neutral, int)])
    n = len(i)
    a = np.where(i == j, 1.0, rng.uniform(size=n))[:, None]
    s = np.concatenate([rng.uniform(size=n - n_neutral), np.zeros(n_neutral)])[:, None]
    x = s * (a * vad[i] + (1 - a) * vad[j]) + rng.normal(0.0, vad_noise, (n, 3))
    w = s * (a * proto[i] + (1 - a) * proto[j]) * (1 + rng.normal(0.0, weight_jitter, (n, NUM_SHAPES)))
    x, w = x.astype(np.float32), np.clip(w, 0.0, 1.0).astype(np.float32)

    in_val_mix = np.concatenate([np.zeros(len(singles), bool), heldout[pair_idx], np.zeros(n_neutral, bool)])
    rest = rng.permutation(np.flatnonzero(~in_val_mix))
    n_val = round(val_fraction * len(rest))
    train, val, val_mix = (Split(x[p], w[p]).mirrored()
                           for p in (rest[n_val:], rest[:n_val], np.flatnonzero(in_val_mix)))
    held_names = [f"{names[p]}+{names[q]}" for p, q in pairs[heldout]]
    return Splits(train, val, val_mix, held_names)
