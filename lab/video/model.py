"""FacsNet (torch, training only): per-frame MLP encoder, residual causal dilated
convolutions over time, linear head -> 52 ARKit weights + 3 head-rotation corrections.
`regressor.FacsRegressor` is the numpy twin used at runtime."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CausalBlock(nn.Module):
    """h + mix(relu(conv(h))) with the convolution seeing only the past (replicate pad)."""

    def __init__(self, width: int, kernel: int, dilation: int):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv = nn.Conv1d(width, width, kernel, dilation=dilation)
        self.mix = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:   # [B,T,C]
        x = F.pad(h.transpose(1, 2), (self.pad, 0), mode="replicate")
        y = F.relu(self.conv(x)).transpose(1, 2)
        return h + self.mix(y)


class FacsNet(nn.Module):
    def __init__(self, n_in: int, width: int = 192, kernel: int = 3,
                 dilations: tuple[int, ...] = (1, 2, 4, 8), n_out: int = 55):
        super().__init__()
        self.kernel, self.dilations = kernel, tuple(dilations)
        self.enc0 = nn.Linear(n_in, width)
        self.enc1 = nn.Linear(width, width)
        self.blocks = nn.ModuleList(CausalBlock(width, kernel, d) for d in dilations)
        self.out = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:    # [B,T,F] -> [B,T,55]
        h = F.relu(self.enc1(F.relu(self.enc0(x))))
        for block in self.blocks:
            h = block(h)
        return self.out(h)
