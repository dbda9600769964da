"""One-shot mode: a translator from a photo's aligned landmarks to the rig's unit
parameters in one pass. Trained per rig on faces the frozen imitator draws (random
parameters, head yaw/pitch, landmark noise like MediaPipe's) with two losses: the
parameters themselves and the loopback loss (the imitator's landmarks of the predicted
parameters against the input landmarks). Its body is a plain MLP ("mlp") or the paper's
residual MLP with squeeze-and-excitation gates ("se", `se_resnet.SEResMLP`)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .blas import single_thread
from .imitator import Imitator
from .mlp import MLP, Adam
from .se_resnet import SEResMLP
from .solve import FitResult, nme, project, rotation, similarity_batch

HIDDEN = (256, 256)
BODIES = ("mlp", "se")
SE_WIDTH, SE_BLOCKS, SE_SQUEEZE = 256, 2, 32
POSE_RANGE = 0.25   # radians of random yaw / pitch in training
NOISE = 0.01        # landmark noise in eye distances (MediaPipe's jitter is about this)


class Translator:
    """features (target aligned to the rest face, minus it) -> unit parameters."""

    def __init__(self, mlp: MLP, rest2d: np.ndarray, feat_scale: float):
        self.mlp, self.rest2d, self.feat_scale = mlp, rest2d, feat_scale

    def features(self, targets: np.ndarray) -> np.ndarray:
        """[N, K, 2] normalised landmarks -> [N, 2K] features."""
        rest = np.broadcast_to(self.rest2d, np.shape(targets))
        aligned = similarity_batch(np.asarray(targets, dtype=np.float64), rest)
        return ((aligned - rest) / self.feat_scale).reshape(len(aligned), -1).astype(np.float32)

    def predict(self, targets: np.ndarray) -> np.ndarray:
        """[N, K, 2] -> [N, P] unit parameters."""
        return self.mlp.forward(self.features(targets)).astype(np.float64)

    def fit(self, target: np.ndarray, imit: Imitator | None = None) -> FitResult:
        """One photo's [K, 2] target -> FitResult (nme through the imitator if given)."""
        t0 = time.perf_counter()
        with single_thread():
            unit = self.predict(target[None])[0]
        seconds = time.perf_counter() - t0
        err = nme(project(imit.landmarks(unit[None])[0]), target) if imit is not None else np.nan
        return FitResult(unit, 0.0, 0.0, err, seconds)

    def state(self) -> dict:
        out = self.mlp.state("trans_")
        out.update(trans_rest2d=self.rest2d.astype(np.float32), trans_scale=self.feat_scale)
        return out

    @classmethod
    def from_state(cls, z) -> Translator:
        body = (SEResMLP if SEResMLP.in_state(z, "trans_") else MLP).from_state(z, "trans_")
        return cls(body, np.asarray(z["trans_rest2d"], np.float64),
                   float(z["trans_scale"]))


def _draw(imit: Imitator, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n random faces from the imitator: (unit [n, P], normalised targets [n, K, 2])."""
    unit = rng.uniform(-1, 1, (n, imit.n_params))
    pts = imit.landmarks(unit).astype(np.float64)
    rots = np.stack([rotation(y, p)[0] for y, p in rng.uniform(-POSE_RANGE, POSE_RANGE, (n, 2))])
    q = pts @ rots.transpose(0, 2, 1)
    targets = np.stack([q[..., 0], -q[..., 2]], axis=-1)
    targets += rng.normal(0, NOISE, targets.shape)
    targets -= targets.mean(axis=1, keepdims=True)
    return unit, targets


def train_translator(imit: Imitator, *, steps: int = 1500, batch: int = 128, lr: float = 2e-3,
                     loopback: float = 1.0, seed: int = 1, body: str = "mlp", progress=None,
                     cancel=None) -> Translator:
    """Train the translator on fresh imitator faces each step (see the module docstring);
    `body` one of BODIES."""
    if body not in BODIES:
        raise ValueError(f"translator body must be one of {', '.join(BODIES)}, not {body!r}")
    rng = np.random.default_rng(seed)
    rest2d = project(imit.landmarks(imit.rest_unit[None])[0]).astype(np.float64)
    rest2d -= rest2d.mean(axis=0)
    probe = Translator(None, rest2d, 1.0)
    _, t = _draw(imit, rng, 512)
    feat_scale = float(probe.features(t).std()) or 1.0
    mlp = (MLP((rest2d.size,) + HIDDEN + (imit.n_params,), rng, out_tanh=True) if body == "mlp"
           else SEResMLP((rest2d.size, SE_WIDTH, imit.n_params), rng, SE_BLOCKS, SE_SQUEEZE))
    trans = Translator(mlp, rest2d, feat_scale)
    opt = Adam(mlp.params, lr)
    for step in range(steps):
        opt.lr = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        unit, targets = _draw(imit, rng, batch)
        feats = trans.features(targets)
        pred = mlp.forward(feats).astype(np.float64)
        g = 2.0 * (pred - unit) / pred.size
        if loopback:
            # Loopback: the imitator's frontal landmarks of the prediction against the
            # (aligned) input; pose is not predicted, so the frontal rest alignment is used.
            aligned = feats.reshape(batch, -1, 2) * feat_scale + rest2d
            pts = imit.landmarks(pred)
            proj = np.stack([pts[..., 0], -pts[..., 2]], -1)
            proj = proj - proj.mean(axis=1, keepdims=True)
            res = proj - aligned
            g3 = np.zeros(pts.shape, dtype=np.float32)
            g3[..., 0], g3[..., 2] = res[..., 0], -res[..., 1]
            g += loopback * 2.0 * imit.backward(g3 / res.size)
        _, grads = mlp.backward(g)
        opt.step(grads)
        if cancel is not None and cancel():
            raise KeyboardInterrupt("translator training cancelled")
        if progress is not None and step % 50 == 0:
            progress(step / steps)
    return trans


def translator_path(imit_path: Path) -> Path:
    return Path(imit_path).with_name(Path(imit_path).stem + "_translator.npz")


def save_translator(trans: Translator, path) -> None:
    np.savez_compressed(path, **trans.state())


def load_translator_file(path) -> Translator:
    with np.load(path) as z:
        return Translator.from_state(z)
