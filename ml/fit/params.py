"""The fit's parameter space: each parameter is one pose-bone channel (location, Euler
rotation or scale, one axis) inside limits; a mirrored bone pair shares one parameter
(the right bone mirrored: location X and rotation Y/Z negated). Values are stored as the
channel's own numbers so a fitted face stays editable by hand."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

PROPS = ("location", "rotation_euler", "scale")
AXES = "XYZ"
# Channels that change sign between a bone and its mirror image across the X = 0 plane.
MIRROR_NEGATED = {("location", 0), ("rotation_euler", 1), ("rotation_euler", 2)}


def rest_value(prop: str) -> float:
    """The channel's value in the rest pose (the average face)."""
    return 1.0 if prop == "scale" else 0.0


def mirror_sign(prop: str, index: int) -> float:
    return -1.0 if (prop, index) in MIRROR_NEGATED else 1.0


@dataclass(frozen=True)
class Param:
    """One parameter: `targets` ((bone, prop, axis index, sign), ...) receive sign * value;
    lo <= value <= hi in the first target's units (metres in bone space, radians, factor)."""
    name: str
    targets: tuple[tuple[str, str, int, float], ...]
    lo: float
    hi: float

    @property
    def rest(self) -> float:
        return rest_value(self.targets[0][1])


@dataclass
class ParamSpace:
    """An ordered list of parameters with vectorised limits (arrays [P])."""
    params: list[Param] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.params)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def lo(self) -> np.ndarray:
        return np.array([p.lo for p in self.params], dtype=np.float64)

    @property
    def hi(self) -> np.ndarray:
        return np.array([p.hi for p in self.params], dtype=np.float64)

    @property
    def rest(self) -> np.ndarray:
        return np.array([p.rest for p in self.params], dtype=np.float64)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """[..., P] channel values -> [..., P] in [-1, 1] across each parameter's range."""
        lo, hi = self.lo, self.hi
        return 2.0 * (np.asarray(values) - lo) / np.maximum(hi - lo, 1e-12) - 1.0

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Inverse of to_unit, clipped to the limits."""
        lo, hi = self.lo, self.hi
        return lo + (np.clip(unit, -1.0, 1.0) + 1.0) * 0.5 * (hi - lo)

    def clip(self, values: np.ndarray) -> np.ndarray:
        return np.clip(values, self.lo, self.hi)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """[n, P] values uniform within the limits."""
        return self.lo + rng.random((n, len(self))) * (self.hi - self.lo)

    def channel_values(self, values: np.ndarray) -> dict[tuple[str, str, int], float]:
        """One parameter vector [P] -> {(bone, prop, axis): value} for every target."""
        out = {}
        for p, v in zip(self.params, np.asarray(values, dtype=np.float64)):
            for bone, prop, axis, sign in p.targets:
                rest = rest_value(prop)
                out[(bone, prop, axis)] = rest + sign * (float(v) - rest)
        return out

    def to_json(self) -> str:
        return json.dumps([dict(name=p.name, targets=[list(t) for t in p.targets],
                                lo=p.lo, hi=p.hi) for p in self.params])

    @classmethod
    def from_json(cls, text: str) -> ParamSpace:
        return cls([Param(d["name"], tuple((b, pr, int(i), float(s)) for b, pr, i, s in d["targets"]),
                          float(d["lo"]), float(d["hi"])) for d in json.loads(text)])

    def fingerprint(self) -> str:
        """A stable text of the space (for cache keys)."""
        return self.to_json()
