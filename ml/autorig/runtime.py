"""The auto-rig network's forward pass in numpy + scipy (Blender ships no torch).

Mirrors `model.AutoRigNet` layer for layer; `tests/test_autorig_model.py` checks the two
agree, so training (torch) and rigging (numpy) can never drift apart silently.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..arkit import NUM_SHAPES
from ..model_cache import cached_model, read_arrays
from .encoding import fourier_features

DEFAULT_WEIGHTS = Path(__file__).with_name("autorig_net.npz")


def _linear(p: dict, name: str, x: np.ndarray) -> np.ndarray:
    y = x @ p[f"{name}.weight"].T
    bias = p.get(f"{name}.bias")
    return y if bias is None else y + bias


def _relu(x):
    return np.maximum(x, 0.0)


class AutoRigRuntime:
    """Loads exported weights and predicts [V, 52, 3] displacements for one mesh."""

    def __init__(self, params: dict[str, np.ndarray]):
        self.p = params
        self.blocks = int(params["cfg.blocks"])
        self.k_eig = int(params["cfg.k_eig"])
        self.fourier = int(params.get("cfg.fourier", 0))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "AutoRigRuntime":
        return cls(read_arrays(path or DEFAULT_WEIGHTS, "auto-rig weights"))

    @classmethod
    def cached(cls, path: str | Path | None = None) -> "AutoRigRuntime":
        """load(path), once per process (model_cache)."""
        return cached_model("autorig", path or DEFAULT_WEIGHTS, cls.load)

    def __call__(self, features, mass, evals, evecs, grad_x, grad_y) -> np.ndarray:
        """Inputs as in `model.MeshTensors`, numpy/scipy; returns float32 [V, 52, 3]."""
        p = self.p
        x = features.astype(np.float32)
        if self.fourier:
            x = np.concatenate([x, fourier_features(x[:, :3], self.fourier, np.sin, np.cos,
                                                    lambda xs: np.concatenate(xs, axis=1))], axis=1)
        x = _linear(p, "lift", x)
        mass = mass.astype(np.float32)
        for b in range(self.blocks):
            pre = f"blocks.{b}."
            spec = evecs.T @ (mass[:, None] * x)
            time = np.exp(p[pre + "diffusion.log_time"])
            diffused = evecs @ (np.exp(-evals[:, None] * time[None]) * spec)
            gx, gy = grad_x @ diffused, grad_y @ diffused
            ax = _linear(p, pre + "gradients.re", gx) - _linear(p, pre + "gradients.im", gy)
            ay = _linear(p, pre + "gradients.re", gy) + _linear(p, pre + "gradients.im", gx)
            grads = np.tanh(gx * ax + gy * ay)
            pooled = (mass[:, None] * x).sum(0) / mass.sum()
            code = _linear(p, pre + "pool.2", _relu(_linear(p, pre + "pool.0", pooled)))
            h = np.concatenate([x, diffused, grads, np.broadcast_to(code, (len(x), len(code)))], 1)
            x = x + _linear(p, pre + "mlp.2", _relu(_linear(p, pre + "mlp.0", h)))
        return _linear(p, "head", x).reshape(len(x), NUM_SHAPES, 3).astype(np.float32)
