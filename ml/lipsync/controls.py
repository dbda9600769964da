"""The mouth controls both lip-sync models output (the phonetic engine's viseme targets and
the network's heads): a few articulatory controls, their groups for coarticulation, and how
they spread to the 52 ARKit shapes."""
from __future__ import annotations

import numpy as np

from ..arkit import INDEX, NUM_SHAPES

GROUPS = ("lips", "round", "spread", "tongue")
# control -> group; a control without Left/Right in ARKit drives both sides equally.
CONTROLS: dict[str, str] = {
    "jawOpen": "lips", "mouthClose": "lips", "mouthLowerDown": "lips", "mouthUpperUp": "lips",
    "mouthPress": "lips", "mouthRollLower": "lips", "mouthRollUpper": "lips",
    "mouthFunnel": "round", "mouthPucker": "round",
    "mouthSmile": "spread", "mouthStretch": "spread",
    "tongueOut": "tongue",
}
CONTROL_NAMES = tuple(CONTROLS)
CONTROL_GROUP = np.array([GROUPS.index(g) for g in CONTROLS.values()])
REST_EPS = 1e-3        # control values below this are the rest pose exactly (dominance tails)


def _control_matrix() -> np.ndarray:
    """[C, 52]: control c drives the ARKit shapes it names (both sides for paired ones)."""
    m = np.zeros((len(CONTROLS), NUM_SHAPES), dtype=np.float32)
    for c, name in enumerate(CONTROLS):
        for n in ((name,) if name in INDEX else (name + "Left", name + "Right")):
            m[c, INDEX[n]] = 1.0
    return m


CONTROL_TO_ARKIT = _control_matrix()
CONTROL_COLUMNS = CONTROL_TO_ARKIT.argmax(1)   # [C] the (first) ARKit column of each control


def to_arkit(controls: np.ndarray) -> np.ndarray:
    """[T, C] controls -> [T, 52] ARKit weights in [0, 1]; values under REST_EPS become 0
    first (in place), so a tail of a dominance or of the network is the rest pose exactly."""
    controls[controls < REST_EPS] = 0.0
    return np.clip(controls @ CONTROL_TO_ARKIT, 0.0, 1.0).astype(np.float32)


def from_arkit(weights: np.ndarray) -> np.ndarray:
    """[T, 52] ARKit weights -> [T, C] the mouth controls that drive them (the left side of
    paired shapes): the inverse of `to_arkit` on lip-sync output."""
    return np.asarray(weights, np.float32)[:, CONTROL_COLUMNS]
