"""Train the VAD -> ARKit MLP on the synthetic emotion data and write emotion_vad.npz.

python -m lab.emotion.train [--data DIR] [--out PATH] [--epochs N] [--seed S]
Deterministic on CPU (one thread), about a minute.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .dataset import DEFAULT_DATA, Splits, emotion_vads, load_table, make_splits
from faceforge.ml.emotion.model import DEFAULT_PATH, NUM_UNITS, SHAPE_UNIT, EmotionModel


class SymmetricMLP(nn.Module):
    """Torch twin of EmotionModel: tanh hidden layers, sigmoid units shared by mirror pairs."""

    def __init__(self, hidden: tuple[int, ...] = (64, 64)):
        super().__init__()
        sizes = (3, *hidden, NUM_UNITS)
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.register_buffer("shape_unit", torch.as_tensor(SHAPE_UNIT))

    def forward(self, vad: torch.Tensor) -> torch.Tensor:
        h = vad
        for lin in self.linears[:-1]:
            h = torch.tanh(lin(h))
        return torch.sigmoid(self.linears[-1](h))[:, self.shape_unit]

    def export(self, emotions: dict, info: dict) -> EmotionModel:
        """The numpy inference model with these weights."""
        layers = [(lin.weight.detach().numpy().T, lin.bias.detach().numpy()) for lin in self.linears]
        return EmotionModel(layers, emotions, info)


def mse(net: nn.Module, vad: np.ndarray, weights: np.ndarray) -> float:
    with torch.no_grad():
        return float(((net(torch.from_numpy(vad)) - torch.from_numpy(weights)) ** 2).mean())


def train(splits: Splits, epochs: int = 300, seed: int = 0, batch: int = 512, lr: float = 3e-3,
          hidden: tuple[int, ...] = (64, 64), log_every: int = 50) -> SymmetricMLP:
    """Adam on minibatch MSE with a cosine learning-rate decay; reports train/val MSE."""
    torch.manual_seed(seed)
    net = SymmetricMLP(hidden)
    x, y = torch.from_numpy(splits.train.vad), torch.from_numpy(splits.train.weights)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = -(-len(x) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch, eta_min=lr * 0.02)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            loss = ((net(x[idx]) - y[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if epoch % log_every == 0 or epoch == epochs:
            print(f"epoch {epoch:4d}  train mse {mse(net, splits.train.vad, splits.train.weights):.2e}"
                  f"  val mse {mse(net, splits.val.vad, splits.val.weights):.2e}"
                  f"  val_mix mse {mse(net, splits.val_mix.vad, splits.val_mix.weights):.2e}", flush=True)
    return net


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH, help="output .npz")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    table = load_table(args.data)
    splits = make_splits(table, seed=args.seed)
    print(f"samples: train {len(splits.train.vad)}, val {len(splits.val.vad)}, "
          f"val_mix {len(splits.val_mix.vad)} (held-out pairs: {', '.join(splits.heldout_pairs)})")
    net = train(splits, epochs=args.epochs, seed=args.seed)
    model = net.export(emotion_vads(table), {"seed": args.seed, "epochs": args.epochs})
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {model.num_parameters} parameters) "
          f"in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
