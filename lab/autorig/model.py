"""The auto-rig network (torch, for training): DiffusionNet blocks plus a global encoder.

Per vertex it predicts the displacement of all 52 ARKit shapes at once, [V, 52, 3] in the
canonical head frame (mm, eyes 63 mm apart). Each block mixes three views of the features:
the features themselves, a learned heat diffusion of them (spectral, per channel time),
and rotation-aware spatial-gradient features; a global encoder pools every block's input
over the whole mesh and broadcasts it back, so disconnected parts (eyeballs, teeth,
tongue), which diffusion cannot reach, still see where the face is and how it moves.
`runtime.py` runs the same network in numpy inside Blender.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from faceforge.ml.arkit import NUM_SHAPES
from faceforge.ml.autorig.encoding import fourier_features


@dataclass
class NetConfig:
    in_channels: int = 22     # xyz (3) + normal (3) + heat-kernel signature (16)
    width: int = 96
    blocks: int = 4
    global_width: int = 32
    k_eig: int = 96
    fourier: int = 0          # octaves of sin/cos position encoding (features[:, :3], dm)


@dataclass
class MeshTensors:
    """One mesh's inputs and operators as torch tensors (see geometry.spectral.operators)."""
    features: torch.Tensor   # [V, in_channels]
    mass: torch.Tensor       # [V]
    evals: torch.Tensor      # [k]
    evecs: torch.Tensor      # [V, k]
    grad_x: torch.Tensor     # sparse [V, V]
    grad_y: torch.Tensor     # sparse [V, V]


def sparse_tensor(mat) -> torch.Tensor:
    """scipy sparse matrix -> torch sparse COO tensor (float32)."""
    coo = mat.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(coo.data.astype(np.float32)),
                                   coo.shape, check_invariants=True).coalesce()


class SpectralDiffusion(nn.Module):
    """Heat diffusion of each channel for a learned time, in the truncated eigenbasis."""

    def __init__(self, width: int):
        super().__init__()
        self.log_time = nn.Parameter(torch.full((width,), -4.0))

    def forward(self, x, m: MeshTensors):
        spec = m.evecs.T @ (m.mass[:, None] * x)                          # [k, C]
        decay = torch.exp(-m.evals[:, None] * torch.exp(self.log_time)[None])
        return m.evecs @ (decay * spec)


class GradientFeatures(nn.Module):
    """tanh(Re(conj(g) * A g)) of each channel's tangent gradient g = gx + i gy: a feature
    that sees direction while staying independent of the tangent frames' rotation."""

    def __init__(self, width: int):
        super().__init__()
        self.re = nn.Linear(width, width, bias=False)
        self.im = nn.Linear(width, width, bias=False)

    def forward(self, x, m: MeshTensors):
        gx, gy = torch.sparse.mm(m.grad_x, x), torch.sparse.mm(m.grad_y, x)
        ax, ay = self.re(gx) - self.im(gy), self.re(gy) + self.im(gx)
        return torch.tanh(gx * ax + gy * ay)


class Block(nn.Module):
    """x + MLP([x, diffuse(x), gradient features, global code])."""

    def __init__(self, width: int, global_width: int):
        super().__init__()
        self.diffusion = SpectralDiffusion(width)
        self.gradients = GradientFeatures(width)
        self.pool = nn.Sequential(nn.Linear(width, global_width), nn.ReLU(),
                                  nn.Linear(global_width, global_width))
        self.mlp = nn.Sequential(nn.Linear(3 * width + global_width, width), nn.ReLU(),
                                 nn.Linear(width, width))

    def forward(self, x, m: MeshTensors):
        diffused = self.diffusion(x, m)
        pooled = (m.mass[:, None] * x).sum(0) / m.mass.sum()              # area-weighted mean
        code = self.pool(pooled).expand(len(x), -1)
        return x + self.mlp(torch.cat([x, diffused, self.gradients(diffused, m), code], dim=1))


class AutoRigNet(nn.Module):
    """Features [V, in] -> displacements [V, 52, 3] (mm in the canonical frame)."""

    def __init__(self, cfg: NetConfig = NetConfig()):
        super().__init__()
        self.cfg = cfg
        self.lift = nn.Linear(cfg.in_channels + 6 * cfg.fourier, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.global_width) for _ in range(cfg.blocks))
        self.head = nn.Linear(cfg.width, NUM_SHAPES * 3)

    def forward(self, m: MeshTensors) -> torch.Tensor:
        x = m.features
        if self.cfg.fourier:
            enc = fourier_features(x[:, :3], self.cfg.fourier, torch.sin, torch.cos,
                                   lambda xs: torch.cat(xs, dim=1))
            x = torch.cat([x, enc], dim=1)
        x = self.lift(x)
        for block in self.blocks:
            x = block(x, m)
        return self.head(x).view(len(x), NUM_SHAPES, 3)

    def export(self) -> dict[str, np.ndarray]:
        """Weights as float32 numpy arrays plus the config, for `runtime.AutoRigRuntime`."""
        out = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.state_dict().items()}
        for k, v in asdict(self.cfg).items():
            out[f"cfg.{k}"] = np.array(v)
        return out
