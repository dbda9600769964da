"""The imitator: an MLP standing in for Blender, from a rig's parameters (each scaled to
[-1, 1] across its limits) to the 3-D positions of the fit landmarks (FIT_INDICES) on the
posed surface, in face units (origin at the landmarks' rest centroid, one unit = the
outer-eye-corner distance). Trained per rig on samples of the real deformation; cached."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .landmarks import FIT_INDICES
from .mlp import MLP, Adam

HIDDEN = (256, 256)
FORMAT = 1
# A cached imitator serves a rig whose limits are within this share of each range and whose
# landmarks at the probe poses are within PROBE_TOL face units of the ones it was trained
# on. Rendering and MediaPipe differ slightly across CPUs (the binding of one head moved
# up to 7e-5 face units between two Xeon generations), so an exact hash would miss the
# shipped imitator on some machines; a real edit of the mesh, weights or bones moves far more.
LIMIT_TOL, PROBE_TOL = 1e-3, 1e-3


@dataclass
class RigPrint:
    """What a cached imitator must match: the rig's parameter limits [P, 2] and its fit
    landmarks at the probe poses [5, K, 3] (face units)."""
    limits: np.ndarray
    probes: np.ndarray

    def matches(self, other: RigPrint) -> bool:
        if self.limits.shape != other.limits.shape or self.probes.shape != other.probes.shape:
            return False
        span = np.maximum(np.abs(self.limits[:, 1] - self.limits[:, 0]), 1e-12)[:, None]
        return bool((np.abs(self.limits - other.limits) <= LIMIT_TOL * span).all()
                    and np.abs(self.probes - other.probes).max() <= PROBE_TOL)


@dataclass
class Imitator:
    """mlp: [P] unit parameters -> [K*3] (landmarks - rest) / scale; rest [K, 3] the
    landmarks and rest_unit [P] the parameters of the rest pose (the average face);
    whiten [K*2, K*2] or None: the detector's noise whitening for the fit's residual
    (see solve.noise_whitening)."""
    mlp: MLP
    rest: np.ndarray
    scale: float
    rest_unit: np.ndarray
    key: str = ""
    report: dict = field(default_factory=dict)
    whiten: np.ndarray | None = None
    rig: RigPrint | None = None

    @property
    def n_params(self) -> int:
        return self.mlp.weights[0].shape[0]

    def landmarks(self, unit: np.ndarray) -> np.ndarray:
        """[N, P] unit parameters -> [N, K, 3] face-unit landmarks."""
        out = self.mlp.forward(np.atleast_2d(unit))
        return self.rest + out.reshape(len(out), -1, 3) * self.scale

    def jacobian(self, unit: np.ndarray) -> np.ndarray:
        """d landmarks / d unit at one parameter vector [P]: [K, 3, P]."""
        return self.mlp.jacobian(unit).reshape(-1, 3, self.n_params) * self.scale

    def backward(self, grad_landmarks: np.ndarray) -> np.ndarray:
        """Gradient [N, K, 3] w.r.t. the last landmarks() output -> [N, P] w.r.t. its input."""
        g, _ = self.mlp.backward(grad_landmarks.reshape(len(grad_landmarks), -1) * self.scale,
                                 params=False)
        return g

    def save(self, path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez_compressed(tmp, format=FORMAT, rest=self.rest.astype(np.float32),
                            scale=self.scale, key=self.key,
                            rest_unit=self.rest_unit.astype(np.float32), **self.mlp.state("imit_"),
                            **({} if self.whiten is None else {"whiten": self.whiten.astype(np.float32)}),
                            **({} if self.rig is None else {"rig_limits": self.rig.limits,
                                                           "rig_probes": self.rig.probes}))
        tmp.replace(path)

    @classmethod
    def load(cls, path) -> Imitator:
        with np.load(path) as z:
            return cls(MLP.from_state(z, "imit_"), z["rest"].astype(np.float32),
                       float(z["scale"]), z["rest_unit"].astype(np.float64), str(z["key"]),
                       whiten=z["whiten"].astype(np.float64) if "whiten" in z.files else None,
                       rig=read_print(z))


def read_print(z) -> RigPrint | None:
    """The RigPrint stored in an imitator's npz, None in files made before it was."""
    if "rig_limits" not in z.files:
        return None
    return RigPrint(z["rig_limits"].astype(np.float64), z["rig_probes"].astype(np.float64))


def rig_print(space, probes: np.ndarray) -> RigPrint:
    """A rig's RigPrint: its ParamSpace and its landmarks at `probe_units` [5, K, 3]."""
    return RigPrint(np.stack([space.lo, space.hi], axis=1), np.asarray(probes, np.float64))


def rig_family(space_json: str) -> str:
    """The part of a cache key that must match exactly: the parameters' names and the bone
    channels they drive (not their limits, which RigPrint compares with a tolerance)."""
    shape = [(d["name"], d["targets"]) for d in json.loads(space_json)]
    return hashlib.sha1(json.dumps(shape).encode()).hexdigest()[:8]


def find_cached(folders, space, probes: np.ndarray) -> Path | None:
    """The first imitator file in `folders` made for this rig: named `<rig_family>-*.npz`
    (rig_key) with a RigPrint that matches."""
    family, wanted = rig_family(space.to_json()), rig_print(space, probes)
    for folder in folders:
        for path in sorted(Path(folder).glob(f"{family}-*.npz")):
            if path.stem.endswith("_translator") or path.name.endswith(".tmp.npz"):
                continue
            with np.load(path) as z:
                found = read_print(z)
            if found is not None and found.matches(wanted):
                return path
    return None


def face_units(points: np.ndarray, pivot: np.ndarray, unit: float) -> np.ndarray:
    """[..., 478, 3] landmarks in object space -> [..., K, 3] fit landmarks in face units."""
    return ((np.asarray(points)[..., FIT_INDICES, :] - pivot) / unit).astype(np.float32)


def rig_key(space_json: str, probes: np.ndarray) -> str:
    """Cache key (file stem) of a newly trained imitator: its rig family, then a hash of its
    exact parameter space and landmarks at the probe poses; find_cached matches rigs that
    differ from it by no more than rounding (RigPrint)."""
    h = hashlib.sha1(space_json.encode())
    h.update(np.round(np.asarray(probes, dtype=np.float64) * 1e4).astype(np.int64).tobytes())
    return f"{rig_family(space_json)}-{h.hexdigest()[:16]}"


def probe_units(n_params: int) -> np.ndarray:
    """[5, P] unit parameter vectors at which a rig is probed for its cache key."""
    rng = np.random.default_rng(12345)
    return np.vstack([np.zeros(n_params), rng.uniform(-1, 1, (4, n_params))])


def train_imitator(unit: np.ndarray, targets: np.ndarray, rest: np.ndarray,
                   rest_unit: np.ndarray, *,
                   epochs: int = 300, batch: int = 128, lr: float = 2e-3, val_share: float = 0.1,
                   seed: int = 0, progress=None, cancel=None, key: str = "",
                   init: Imitator | None = None) -> Imitator:
    """Fit the MLP to samples: unit [N, P] parameters, targets [N, K, 3] face-unit
    landmarks, rest [K, 3] the landmarks at the rest pose. Cosine-decayed Adam on MSE;
    `progress(share, val_rmse)` per epoch; `cancel()` true stops with KeyboardInterrupt.
    `init`: fine-tune that imitator (its weights, rest and output scale) instead."""
    rng = np.random.default_rng(seed)
    unit = np.asarray(unit, dtype=np.float32)
    if init is not None:
        rest = init.rest
    y = (np.asarray(targets, dtype=np.float32) - rest).reshape(len(unit), -1)
    scale = init.scale if init is not None else float(y.std()) or 1.0
    y = y / scale
    order = rng.permutation(len(unit))
    n_val = max(1, int(len(unit) * val_share))
    val, tr = order[:n_val], order[n_val:]
    mlp = MLP((unit.shape[1],) + HIDDEN + (y.shape[1],), rng)
    if init is not None:
        mlp.weights = [w.copy() for w in init.mlp.weights]
        mlp.biases = [b.copy() for b in init.mlp.biases]
    opt = Adam(mlp.params, lr)
    start = time.perf_counter()
    val_rmse = np.nan
    for epoch in range(epochs):
        opt.lr = lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        perm = rng.permutation(tr)
        for lo in range(0, len(perm), batch):
            idx = perm[lo:lo + batch]
            out = mlp.forward(unit[idx])
            _, grads = mlp.backward(2.0 * (out - y[idx]) / out.size)
            opt.step(grads)
        if cancel is not None and cancel():
            raise KeyboardInterrupt("imitator training cancelled")
        if progress is not None or epoch == epochs - 1:
            err = (mlp.forward(unit[val]) - y[val]) * scale
            val_rmse = float(np.sqrt((err.reshape(len(val), -1, 3) ** 2).sum(-1).mean()))
            if progress is not None:
                progress((epoch + 1) / epochs, val_rmse)
    imit = Imitator(mlp, np.asarray(rest, dtype=np.float32), scale,
                    np.asarray(rest_unit, dtype=np.float64), key,
                    rig=init.rig if init is not None else None)
    imit.report = dict(samples=len(unit), epochs=epochs, val_rmse=val_rmse,
                       seconds=time.perf_counter() - start)
    return imit
