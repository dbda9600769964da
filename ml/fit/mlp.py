"""A small multilayer perceptron in numpy with its own backward pass and Adam, so the
imitator and translator train and run inside Blender (no torch there)."""
from __future__ import annotations

import numpy as np


def _silu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))
    return x * s, s


class MLP:
    """Dense layers with SiLU between them; `out_tanh` squashes the output into (-1, 1).
    weights[i] [in, out], biases[i] [out]; arrays float32 for speed."""

    def __init__(self, sizes, rng: np.random.Generator | None = None, out_tanh: bool = False):
        rng = rng or np.random.default_rng(0)
        self.weights = [(rng.standard_normal((a, b)) * np.sqrt(1.0 / a)).astype(np.float32)
                        for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
        self.out_tanh = out_tanh
        self._cache = None

    @property
    def params(self) -> list[np.ndarray]:
        return self.weights + self.biases

    def forward(self, x: np.ndarray) -> np.ndarray:
        """[N, in] -> [N, out]; keeps what backward() needs."""
        h = np.asarray(x, dtype=np.float32)
        cache = []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = h @ w + b
            if i < last:
                a, s = _silu(z)
                cache.append((h, z, s))
                h = a
            else:
                cache.append((h, None, None))
                h = np.tanh(z) if self.out_tanh else z
        self._cache = (cache, h)
        return h

    def backward(self, grad_out: np.ndarray, params: bool = True) -> tuple[np.ndarray, list]:
        """Gradient of a loss w.r.t. the last forward's input [N, in] and (unless `params`
        is False, for fitting inputs only) its parameters."""
        cache, out = self._cache
        g = np.asarray(grad_out, dtype=np.float32)
        if self.out_tanh:
            g = g * (1.0 - out * out)
        gw, gb = [None] * len(self.weights), [None] * len(self.weights)
        for i in range(len(self.weights) - 1, -1, -1):
            h, z, s = cache[i]
            if z is not None:
                g = g * (s * (1.0 + z * (1.0 - s)))
            if params:
                gw[i] = h.T @ g
                gb[i] = g.sum(axis=0)
            g = g @ self.weights[i].T
        return g, gw + gb

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Exact Jacobian [out, in] of the output at one input x [in] (forward mode)."""
        h = np.asarray(x, dtype=np.float64)
        jac = np.eye(len(h))
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            w = w.astype(np.float64)
            z = h @ w + b
            jac = jac @ w                                     # [in, width]
            if i < last:
                h, s = _silu(z)
                jac = jac * (s * (1.0 + z * (1.0 - s)))
            elif self.out_tanh:
                jac = jac * (1.0 - np.tanh(z) ** 2)
        return jac.T

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}w{i}": w for i, w in enumerate(self.weights)}
        out.update({f"{prefix}b{i}": b for i, b in enumerate(self.biases)})
        out[f"{prefix}tanh"] = np.array(self.out_tanh)
        return out

    @classmethod
    def from_state(cls, z, prefix: str) -> MLP:
        n = sum(1 for k in z.keys() if k.startswith(f"{prefix}w"))
        m = cls.__new__(cls)
        m.weights = [np.asarray(z[f"{prefix}w{i}"], dtype=np.float32) for i in range(n)]
        m.biases = [np.asarray(z[f"{prefix}b{i}"], dtype=np.float32) for i in range(n)]
        m.out_tanh = bool(z[f"{prefix}tanh"])
        m._cache = None
        return m


class Adam:
    """Adam over a list of arrays, updated in place."""

    def __init__(self, params: list[np.ndarray], lr: float = 1e-3, betas=(0.9, 0.999),
                 eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= (self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)).astype(p.dtype)
