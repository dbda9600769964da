"""Train the neural lip-sync engine on the synthetic shards from `neural.synth` (torch, one
CPU thread), resumably, and export the numpy weights.

    python -m lab.lipsync.neural.synth --count 1200 --seed 1   # data (per seed)
    python -m lab.lipsync.train_neural --steps 3000            # background job

Checkpoints go to checkpoints/lipsync_neural/ (`last.pt`, resumed automatically); the
final weights to ml/lipsync/neural/lipnet.npz, those with the lowest held-out control MSE
to `best_lipnet.npz` in the run folder. New shards are picked up every RELOAD steps, so
training can start while data is still being generated. Fine-tuning starts a new run
folder from another run's weights (optimiser state fresh, step 0):

    python -m lab.lipsync.train_neural --init checkpoints/lipsync_neural/last.pt \
        --data checkpoints/lipsync_neural/data_t2 --out checkpoints/lipsync_neural/t3 \
        --export checkpoints/lipsync_neural/t3/final_lipnet.npz --steps 6000 --batch 16 --lr 1e-3

`--real` mixes real-speech shards (`neural.real_speech`) into every batch (`--real-share`),
`--leave-out` keeps named clips out (lab/lipsync/train_real.sh runs both).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .neural.model import LipNet
from .neural.real_speech import PREFIX as REAL_PREFIX
from faceforge.ml.lipsync.neural.runtime import WEIGHTS
from .neural.synth import CONTROL_COLUMNS
from faceforge.ml.lipsync.controls import CONTROL_NAMES
from faceforge.ml.lipsync.visemes import VISEME_NAMES

OUT = Path("checkpoints/lipsync_neural")
CONTEXT = 64              # output frames of warm-up context before the scored crop
RELOAD = 250              # steps between looks for new shards
VAL_EVERY = 100
START_SHARE = 0.3         # crops that start at the utterance start (the stream's first state)
L1_WEIGHT = 0.1           # an L1 term pulls uncertain frames to the rest pose, not the mean
LIP_WEIGHT = 2.0          # loss weight of the controls that open and close the lips
VISEME_WEIGHT = 0.3
CONTROL_WEIGHT = torch.tensor([LIP_WEIGHT if n in ("jawOpen", "mouthClose", "mouthPress")
                               else 1.0 for n in CONTROL_NAMES])


class Shards:
    """All utterances of the shards `pattern` matches in a folder; unless `holdout` is off,
    shards whose name hash is 0 mod 20 are held out for validation. Shards named in `skip`
    (a left-out real clip) are not read."""

    def __init__(self, folder: Path, pattern: str = "shard_*.npz", holdout: bool = True,
                 skip: frozenset[str] = frozenset()):
        self.folder, self.pattern, self.holdout, self.seen = folder, pattern, holdout, set(skip)
        self.train: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.val: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def refresh(self) -> int:
        for path in sorted(self.folder.glob(self.pattern)):
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            with np.load(path) as d:
                d = dict(d)                           # each key read once
            m_off = np.concatenate([[0], np.cumsum(d["mel_len"])])
            c_off = np.concatenate([[0], np.cumsum(d["ctl_len"])])
            items = [(d["mel"][m_off[i]:m_off[i + 1]], d["controls"][c_off[i]:c_off[i + 1]],
                      d["visemes"][c_off[i]:c_off[i + 1]]) for i in range(len(d["mel_len"]))]
            held_out = self.holdout and sum(map(ord, path.name)) % 20 == 0
            (self.val if held_out else self.train).extend(items)
        return len(self.train)


def draw(items, rng: np.random.Generator, size: int, real=(), real_share: float = 0.0):
    """`size` random utterances, each from `real` with probability `real_share`."""
    n_real = int(rng.binomial(size, real_share)) if real else 0
    return ([items[i] for i in rng.integers(len(items), size=size - n_real)]
            + [real[i] for i in rng.integers(len(real), size=n_real)])


def batch(picks, rng: np.random.Generator, crop: int, augment: bool):
    """(mel [B, 2L, 40], controls [B, L, C], visemes [B, L], scored mask [B, L]) of random
    crops of the utterances `picks`; output frame j of a crop is scored when it lies past
    the warm-up context."""
    size, length = len(picks), CONTEXT + crop
    mel = np.zeros((size, 2 * length, 40), np.float32)
    ctl = np.zeros((size, length, len(CONTROL_COLUMNS)), np.float32)
    vis = np.zeros((size, length), np.int64)
    mask = np.zeros((size, length), np.float32)
    for b, (m, c, v) in enumerate(picks):
        k = min(len(c), (len(m) + 1) // 2)
        s = 0 if rng.random() < START_SHARE else int(rng.integers(0, max(k - crop, 0) + 1))
        a = max(s - CONTEXT, 0)
        e = min(s + crop, k)
        seg = m[2 * a:2 * e].astype(np.float32)
        mel[b, :len(seg)] = seg
        if len(seg) < 2 * length:
            mel[b, len(seg):] = m.min(0)             # silence after the end
        ctl[b, :e - a], vis[b, :e - a] = c[a:e], v[a:e]
        mask[b, s - a:e - a] = 1.0
    if augment:                                       # channel colouring and level
        tilt = rng.uniform(-1.0, 1.0, size=(size, 1, 1)) * np.linspace(-1, 1, 40)
        mel += tilt + rng.uniform(-1.5, 1.5, size=(size, 1, 1))
    return (torch.from_numpy(mel), torch.from_numpy(ctl), torch.from_numpy(vis),
            torch.from_numpy(mask))


def loss_fn(model: LipNet, mel, ctl, vis, mask) -> tuple[torch.Tensor, float]:
    """Weighted control MSE (+ L1) plus viseme cross-entropy, output frame j against target
    j - delay; the MSE alone is returned as the second value."""
    pred, logits = model(mel)
    d = model.delay
    pred, logits = pred[:, d:], logits[:, d:]
    ctl, vis, mask = ctl[:, :-d], vis[:, :-d], mask[:, :-d]
    n = mask.sum().clamp(min=1)
    err = pred - ctl
    mse = ((err ** 2 * CONTROL_WEIGHT).mean(-1) * mask).sum() / n
    l1 = ((err.abs() * CONTROL_WEIGHT).mean(-1) * mask).sum() / n
    ce = (F.cross_entropy(logits.transpose(1, 2), vis, reduction="none") * mask).sum() / n
    return mse + L1_WEIGHT * l1 + VISEME_WEIGHT * ce, mse.item()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=OUT / "data")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--export", type=Path, default=WEIGHTS)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--crop", type=int, default=200, help="scored output frames per crop")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, help="a checkpoint (.pt) or exported weights (.npz) "
                   "whose weights start a new run")
    p.add_argument("--real", type=Path, help="real-speech shards (neural.real_speech), "
                   "training only")
    p.add_argument("--real-share", type=float, default=0.25,
                   help="share of each batch drawn from --real")
    p.add_argument("--leave-out", nargs="+", default=[], metavar="CLIP",
                   help="real clips (stems) kept out of training")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    data = Shards(args.data)
    if not data.refresh():
        raise SystemExit(f"no training shards in {args.data}")
    real = []
    if args.real:
        skip = frozenset(f"{REAL_PREFIX}{stem}.npz" for stem in args.leave_out)
        if missing := sorted(name for name in skip if not (args.real / name).exists()):
            raise SystemExit(f"--leave-out: no shards {', '.join(missing)} in {args.real}")
        shards = Shards(args.real, f"{REAL_PREFIX}*.npz", holdout=False, skip=skip)
        if not shards.refresh():
            raise SystemExit(f"no real-speech shards in {args.real}")
        real = shards.train
    model = LipNet(len(CONTROL_COLUMNS), len(VISEME_NAMES), channels=args.channels)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    ckpt, step, best = args.out / "last.pt", 0, np.inf
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, best = state["step"], state.get("best", np.inf)
        print(f"resumed at step {step}", flush=True)
    elif args.init and args.init.suffix == ".npz":       # exported weights: no viseme head
        with np.load(args.init) as d:
            state = {k: torch.from_numpy(d[k]) for k in d.files if k not in ("dilations", "delay")}
        model.load_state_dict(state, strict=False)
        print(f"initialised from {args.init} (viseme head fresh)", flush=True)
    elif args.init:
        model.load_state_dict(torch.load(args.init, weights_only=False)["model"])
        print(f"initialised from {args.init}", flush=True)
    else:
        sample = np.concatenate([m[::7] for m, _, _ in data.train]).astype(np.float32)
        model.mel_mean.copy_(torch.from_numpy(sample.mean(0)))
        model.mel_std.copy_(torch.from_numpy(sample.std(0) + 1e-3))
    print(f"{sum(p.numel() for p in model.parameters())} parameters, "
          f"{len(data.train)} train / {len(data.val)} val / {len(real)} real utterances",
          flush=True)
    rng = np.random.default_rng([args.seed, step])
    val_rng = np.random.default_rng(123)
    val = [batch(draw(data.val or data.train, val_rng, args.batch), val_rng, args.crop, False)
           for _ in range(4)]
    start, running = time.time(), []
    while step < args.steps:
        lr = args.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        picks = draw(data.train, rng, args.batch, real, args.real_share)
        loss, mse = loss_fn(model, *batch(picks, rng, args.crop, True))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running.append(mse)
        step += 1
        if step % VAL_EVERY == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                vmse = np.mean([loss_fn(model, *b)[1] for b in val])
            print(f"step {step} lr {lr:.2e} train mse {np.mean(running):.5f} val mse "
                  f"{vmse:.5f} ({time.time() - start:.0f} s)", flush=True)
            running = []
            if vmse < best:
                best = vmse
                np.savez(args.out / "best_lipnet.npz", **model.export())
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "best": best}, ckpt)
            np.savez(args.out / "lipnet.npz", **model.export())
        if step % RELOAD == 0:
            print(f"{data.refresh()} train utterances", flush=True)
    np.savez(args.export, **model.export())
    print(f"exported {args.export}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
