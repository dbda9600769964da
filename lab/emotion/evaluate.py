"""Evaluate the committed VAD -> ARKit model with numpy inference (the runtime path).

python -m lab.emotion.evaluate [--data DIR] [--model PATH] [--seed S]
Regenerates the validation splits with the training seed and prints errors, the symmetry
error, the top shapes per basic emotion and checks against the EMFACS prototypes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceforge.ml.arkit import ARKIT_NAMES, MIRROR
from .dataset import DEFAULT_DATA, Split, load_table, make_splits, prototypes
from faceforge.ml.emotion.model import DEFAULT_PATH, EmotionModel


def _errors(model: EmotionModel, split: Split) -> str:
    err = model(split.vad) - split.weights
    return f"MSE {np.mean(err ** 2):.2e}  MAE {np.mean(np.abs(err)):.4f}  (n={len(err)})"


def _top(w: np.ndarray, k: int, target: np.ndarray | None = None) -> str:
    idx = np.argsort(-w, kind="stable")[:k]
    extra = (lambda i: f"/{target[i]:.2f}") if target is not None else (lambda i: "")
    return ", ".join(f"{ARKIT_NAMES[i]} {w[i]:.2f}{extra(i)}" for i in idx)


def report(model: EmotionModel, table: dict, seed: int) -> str:
    """The evaluation text: metrics, top shapes per emotion and prototype checks."""
    splits = make_splits(table, seed=seed)
    probe = np.random.default_rng(seed).uniform(-1, 1, (100_000, 3))
    out = model(probe)
    lines = [
        f"model: {model.num_parameters} parameters, trained with {model.info}",
        f"train                : {_errors(model, splits.train)}",
        f"val (held-out samples): {_errors(model, splits.val)}",
        f"val_mix (held-out pairs {', '.join(splits.heldout_pairs)}): {_errors(model, splits.val_mix)}",
        f"symmetry: max |w - w[MIRROR]| over 100000 random VAD in [-1,1]^3 = {np.abs(out - out[:, MIRROR]).max():.1e}",
        f"range: outputs in [{out.min():.4f}, {out.max():.4f}]",
        f"neutral (origin): max weight {model.weights_for('neutral').max():.4f}",
        "",
        "top 5 shapes per basic emotion at intensity 1 (model / symmetrised prototype):",
    ]
    protos = {n: 0.5 * (p + p[MIRROR]) for n, p in prototypes(table).items()}
    for name, target in protos.items():
        lines.append(f"  {name:9s} {_top(model.weights_for(name), 5, target)}")
    lines += ["", "prototype checks: error vs prototype | model's top-k (k = min(5, active)) all active "
              "in the prototype | active shapes monotone in intensity 0..1 (smallest step)"]
    ramp = np.linspace(0, 1, 21)[:, None]
    for name, target in protos.items():
        w = model.weights_for(name)
        active = target > 0
        k = min(5, int(active.sum()))
        top_ok = bool(active[np.argsort(-w)[:k]].all())
        step = np.diff(model(ramp * model.vad_of(name))[:, active], axis=0).min()
        lines.append(f"  {name:9s} MAE {np.abs(w - target).mean():.4f}  max {np.abs(w - target).max():.3f}"
                     f" | top-{k} {'ok' if top_ok else 'FAIL'} | monotone {'ok' if step > -1e-3 else 'FAIL'} ({step:+.4f})")
    lines += ["", "other named emotions (OCC, Gebhard 2005), top 3 shapes:"]
    lines += [f"  {name:15s} {_top(model.weights_for(name), 3)}"
              for name in sorted(model.emotions) if name not in protos and name != "neutral"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    ap.add_argument("--model", type=Path, default=DEFAULT_PATH, help="model .npz")
    ap.add_argument("--seed", type=int, default=None, help="data seed (default: the training seed)")
    args = ap.parse_args(argv)
    model = EmotionModel.load(args.model)
    seed = model.info.get("seed", 0) if args.seed is None else args.seed
    print(report(model, load_table(args.data), seed))


if __name__ == "__main__":
    main()
