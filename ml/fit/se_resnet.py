"""The paper's translator body in numpy: a residual MLP whose blocks are gated by
squeeze-and-excitation (Shi et al., TPAMI, "Neural Rendering for Game Character
Auto-creation": residual attention blocks), with its own backward pass; the same interface
as `mlp.MLP` (forward, backward, params, state), so the translator trains either.

    h = SiLU(x W_in + b_in)                                          [N, W]
    per block:  y = SiLU(h W1 + b1) W2 + b2;  s = sigmoid(ReLU(y A + a) B + c)
                h = h + y * s                                          (excitation gate)
    out = tanh(h W_out + b_out)                                       [N, out]
"""
from __future__ import annotations

import numpy as np

from .mlp import _silu


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


class SEResMLP:
    """sizes (in, width, out); `blocks` gated residual blocks; `squeeze`: the gate's
    bottleneck width. weights [in, out] float32; the output is squashed by tanh."""

    NAMES = ("W1", "b1", "W2", "b2", "A", "a", "B", "c")

    def __init__(self, sizes, rng: np.random.Generator | None = None, blocks: int = 2,
                 squeeze: int = 32):
        rng = rng or np.random.default_rng(0)
        n_in, width, n_out = sizes

        def dense(a, b, gain=1.0):
            return (rng.standard_normal((a, b)) * gain * np.sqrt(1.0 / a)).astype(np.float32)
        zeros = lambda n: np.zeros(n, np.float32)  # noqa: E731
        self.w_in, self.b_in = dense(n_in, width), zeros(width)
        # The second layer of each block starts small, so every block starts near identity.
        self.blocks = [dict(W1=dense(width, width), b1=zeros(width),
                            W2=dense(width, width, 0.1), b2=zeros(width),
                            A=dense(width, squeeze), a=zeros(squeeze),
                            B=dense(squeeze, width), c=zeros(width)) for _ in range(blocks)]
        self.w_out, self.b_out = dense(width, n_out), zeros(n_out)
        self._cache = None

    @property
    def params(self) -> list[np.ndarray]:
        out = [self.w_in, self.b_in]
        for b in self.blocks:
            out += [b[k] for k in self.NAMES]
        return out + [self.w_out, self.b_out]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """[N, in] -> [N, out]; keeps what backward() needs."""
        x = np.asarray(x, np.float32)
        z0 = x @ self.w_in + self.b_in
        h, s0 = _silu(z0)
        caches = []
        for b in self.blocks:
            z1 = h @ b["W1"] + b["b1"]
            u, s1 = _silu(z1)
            y = u @ b["W2"] + b["b2"]
            q = y @ b["A"] + b["a"]
            r = np.maximum(q, 0)
            gate = _sigmoid(r @ b["B"] + b["c"])
            caches.append((h, z1, s1, u, y, q, r, gate))
            h = h + y * gate
        out = np.tanh(h @ self.w_out + self.b_out)
        self._cache = (x, z0, s0, caches, h, out)
        return out

    def backward(self, grad_out: np.ndarray, params: bool = True) -> tuple[np.ndarray, list]:
        """Gradient of a loss w.r.t. the last forward's input [N, in] and its parameters
        (in `params` order)."""
        x, z0, s0, caches, h_last, out = self._cache
        g_out = np.asarray(grad_out, np.float32) * (1.0 - out * out)
        grads_out = [h_last.T @ g_out, g_out.sum(0)]
        gh = g_out @ self.w_out.T
        grads_blocks = []
        for b, (h, z1, s1, u, y, q, r, gate) in zip(reversed(self.blocks), reversed(caches)):
            gy = gh * gate                                  # through y * gate
            gpre = gh * y * gate * (1.0 - gate)             # through the gate's sigmoid
            gB, gc = r.T @ gpre, gpre.sum(0)
            gq = (gpre @ b["B"].T) * (q > 0)
            gA, ga = y.T @ gq, gq.sum(0)
            gy = gy + gq @ b["A"].T
            gW2, gb2 = u.T @ gy, gy.sum(0)
            gz1 = (gy @ b["W2"].T) * (s1 * (1.0 + z1 * (1.0 - s1)))
            gW1, gb1 = h.T @ gz1, gz1.sum(0)
            gh = gh + gz1 @ b["W1"].T                       # the residual path and the block
            grads_blocks.insert(0, [gW1, gb1, gW2, gb2, gA, ga, gB, gc])
        gz0 = gh * (s0 * (1.0 + z0 * (1.0 - s0)))
        grads = [x.T @ gz0, gz0.sum(0)] + [g for blk in grads_blocks for g in blk] + grads_out
        return gz0 @ self.w_in.T, (grads if params else [])

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}se_in_w": self.w_in, f"{prefix}se_in_b": self.b_in,
               f"{prefix}se_out_w": self.w_out, f"{prefix}se_out_b": self.b_out,
               f"{prefix}se_blocks": np.array(len(self.blocks))}
        for i, b in enumerate(self.blocks):
            out.update({f"{prefix}se{i}_{k}": b[k] for k in self.NAMES})
        return out

    @classmethod
    def from_state(cls, z, prefix: str) -> SEResMLP:
        m = cls.__new__(cls)
        m.w_in, m.b_in = z[f"{prefix}se_in_w"], z[f"{prefix}se_in_b"]
        m.w_out, m.b_out = z[f"{prefix}se_out_w"], z[f"{prefix}se_out_b"]
        m.blocks = [{k: np.asarray(z[f"{prefix}se{i}_{k}"], np.float32) for k in cls.NAMES}
                    for i in range(int(z[f"{prefix}se_blocks"]))]
        m._cache = None
        return m

    @staticmethod
    def in_state(z, prefix: str) -> bool:
        return f"{prefix}se_blocks" in z
