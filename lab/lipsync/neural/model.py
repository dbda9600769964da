"""The neural engine's network (torch, for training): log-mel at 100 fps -> mouth controls
and viseme logits at 50 fps, strictly causal, predicting the mouth DELAY frames back (the
look-ahead the anticipation of coarticulation needs).

Front end: causal conv (kernel 4, stride 2) + ReLU. Then residual blocks of
LayerNorm -> causal dilated conv (kernel 3) -> ReLU -> pointwise conv, and a LayerNorm
before the two linear heads. The numpy runtime (runtime.py) computes the same function.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

N_MELS, FRONT_KERNEL, KERNEL = 40, 4, 3
DILATIONS = (1, 2, 4, 8, 16, 1)
DELAY = 8                 # output frame k is the mouth at frame k - DELAY (160 ms look-ahead)


class Block(nn.Module):
    """Pre-norm residual block with one causal dilated convolution."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = nn.Conv1d(channels, channels, KERNEL, dilation=dilation)
        self.out = nn.Linear(channels, channels)
        self.pad = (KERNEL - 1) * dilation

    def forward(self, x):                                   # [B, T, C]
        h = F.pad(self.norm(x).transpose(1, 2), (self.pad, 0))
        return x + self.out(F.relu(self.conv(h)).transpose(1, 2))


class LipNet(nn.Module):
    """log-mel [B, M, 40] -> (controls [B, ceil(M/2), n_controls], viseme logits)."""

    def __init__(self, n_controls: int, n_visemes: int, channels: int = 96,
                 dilations=DILATIONS, delay: int = DELAY):
        super().__init__()
        self.register_buffer("mel_mean", torch.zeros(N_MELS))
        self.register_buffer("mel_std", torch.ones(N_MELS))
        self.front = nn.Conv1d(N_MELS, channels, FRONT_KERNEL, stride=2)
        self.blocks = nn.ModuleList(Block(channels, d) for d in dilations)
        self.norm = nn.LayerNorm(channels)
        self.controls = nn.Linear(channels, n_controls)
        self.visemes = nn.Linear(channels, n_visemes)
        self.dilations, self.delay = tuple(dilations), delay

    def forward(self, mel):
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)
        x = F.relu(self.front(F.pad(x, (FRONT_KERNEL - 1, 0)))).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.controls(x), self.visemes(x)

    def export(self) -> dict[str, np.ndarray]:
        """Weights and settings as numpy arrays for runtime.LipNetRuntime (heads: controls)."""
        out = {k: v.detach().cpu().numpy().astype(np.float32)
               for k, v in self.state_dict().items() if not k.startswith("visemes.")}
        out["dilations"] = np.array(self.dilations)
        out["delay"] = np.array(self.delay)
        return out
