"""Train the landmarker method's causal temporal network (ml/video/temporal.py) in torch and
export it for the numpy runtime.

Data: render-and-track clips of TRAINING identities (seeds 0-15 of each family; the
evaluation's 16-19 are never used), rendered at 30 fps and tracked by the Face Landmarker
and Face Mesh exactly as the bake tracks them (`render_training --landmarker`). Each clip
becomes the network's inputs as the bake computes them (pipeline.landmarker_inputs,
auto neutral) and its true weights; `prepare` caches them in one small npz (the data a
GPU run would need). Loss: MSE of the weights plus MSE of their first and second
differences (velocity and acceleration), so the output follows the truth's motion
without the tracker's frame-to-frame noise. Identities 14 and 15 of each family are
the validation split; the exported weights are the best validation r's (`--select best`,
the fixed blend itself when training never beats it) or the last step's.

    python -m lab.video.train_temporal prepare
    python -m lab.video.train_temporal train --minutes 8 [--families anny] [--pcs 16]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from lab.video.metrics import shape_scores, varies
from ..paths import CHECKPOINTS

DATA = CHECKPOINTS / "video_temporal" / "data.npz"
MAX_PCS = 32
VAL_SEEDS = (14, 15)


def prepare(src: Path, out: Path) -> None:
    """Tracked clips -> per-frame network inputs and truth, concatenated, with clip bounds."""
    from faceforge.ml.video.pipeline import grid_landmarks, landmarker_inputs, resample
    from faceforge.ml.video.regressor import load_regressor
    from faceforge.ml.video.temporal import RATE
    from lab.video.eval_bake import _load_tracks
    reg = load_regressor()
    rows = {k: [] for k in ("shapes", "regressed", "rotation", "features", "truth")}
    meta = []
    for path in sorted(src.glob("clip_?????_*.npz")):
        _, face, z = _load_tracks(path)
        if face.found.mean() < 0.8:
            continue
        grid, shapes, regressed, rotation, _ = landmarker_inputs(face, RATE, "auto", reg)
        features, _ = reg.features(grid_landmarks(face, grid), face.size[0] / face.size[1])
        truth = resample(face.times, z["weights"].astype(np.float32), grid)
        for k, v in zip(rows, (shapes, regressed, rotation, features, truth)):
            rows[k].append(v.astype(np.float32))
        meta.append((str(z["family"]), int(z["seed"]), len(grid), int(path.stem.split("_")[1])))
    feats = np.concatenate(rows.pop("features"))
    mean = feats.mean(0)
    _, _, vt = np.linalg.svd(feats - mean, full_matrices=False)
    pcs = ((feats - mean) @ vt[:MAX_PCS].T).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **{k: np.concatenate(v) for k, v in rows.items()}, pcs=pcs,
                        pca_mean=mean.astype(np.float32), pca_components=vt[:MAX_PCS].astype(np.float32),
                        family=np.array([m[0] for m in meta]), seed=np.array([m[1] for m in meta]),
                        length=np.array([m[2] for m in meta]), render=np.array([m[3] for m in meta]))
    print(f"{out}: {len(meta)} clips, {len(feats)} frames "
          f"({sum(m[0] == 'anny' for m in meta)} anny, {sum(m[0] == 'ict' for m in meta)} ict)")


def load_clips(path: Path, pcs: int, families, calibrated: bool = False,
               per_shape: bool = False) -> tuple[list, list, dict]:
    """(train clips, validation clips, the data npz) as (inputs [T,C], base [T,52], truth [T,52]).
    Validation: identities VAL_SEEDS, or where the data has none of them, the last fifth
    of the renders (all variants of a render stay on one side)."""
    from faceforge.ml.video import refine
    from faceforge.ml.video.temporal import per_shape_inputs, temporal_inputs
    z = dict(np.load(path))
    bounds = np.r_[0, np.cumsum(z["length"])]
    train, val = [], []
    use = np.isin(z["family"], families)
    held = use & np.isin(z["seed"], VAL_SEEDS)
    if not held.any():
        renders = np.unique(z["render"][use])
        held = use & np.isin(z["render"], renders[len(renders) - max(1, len(renders) // 5):])
    for i, fam in enumerate(z["family"]):
        if fam not in families:
            continue
        sl = slice(bounds[i], bounds[i + 1])
        if per_shape:
            x = per_shape_inputs(z["shapes"][sl], z["regressed"][sl], calibrated)
        else:
            x = temporal_inputs(z["shapes"][sl], z["regressed"][sl], z["rotation"][sl], z["pcs"][sl, :pcs], calibrated)
        base = refine.blend(z["shapes"][sl], z["regressed"][sl])
        (val if held[i] else train).append((x, base.astype(np.float32), z["truth"][sl]))
    return train, val, z


def export(net, in_mean, in_std, z: dict, pcs: int, path: Path, meta: dict) -> None:
    """Weights, input standardisation and the landmark PCA as temporal.TemporalNet reads them."""
    params = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    params.update({"in_mean": in_mean, "in_std": in_std,
                   "pca.mean": z["pca_mean"], "pca.components": z["pca_components"][:pcs],
                   "cfg.kernel": np.array(net.kernel), "cfg.dilations": np.array(net.dilations),
                   "cfg.calibrated": np.array(bool(meta.get("calibrated", False))),
                   "cfg.per_shape": np.array(bool(meta.get("per_shape", False)))})
    params.update({f"meta.{k}": np.array(v) for k, v in meta.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **params)


def train(args) -> None:
    import torch
    from lab.video.model import FacsNet
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    train_clips, val_clips, z = load_clips(args.data, args.pcs, args.families, args.calibrated,
                                           args.per_shape)
    allx = np.concatenate([c[0] for c in train_clips])
    flat = allx.reshape(-1, allx.shape[-1])
    in_mean, in_std = flat.mean(0), flat.std(0) + 1e-3
    norm = lambda c: (torch.from_numpy((c[0] - in_mean) / in_std), torch.from_numpy(c[1]), torch.from_numpy(c[2]))
    train_t, val_t = [norm(c) for c in train_clips], [norm(c) for c in val_clips]
    net = FacsNet(allx.shape[-1], width=args.width, dilations=tuple(args.dilations),
                  n_out=1 if args.per_shape else 52)
    torch.nn.init.zeros_(net.out.weight), torch.nn.init.zeros_(net.out.bias)  # start at the fixed blend
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    print(f"{len(train_t)} train clips ({len(allx)} frames), {len(val_t)} validation clips; "
          f"{sum(p.numel() for p in net.parameters())} parameters, receptive field "
          f"{1 + 2 * sum(args.dilations)} frames", flush=True)

    def run(x):  # [B,T,F] or per shape [B,T,52,C] -> [B,T,52]
        if not args.per_shape:
            return net(x)
        b, t, k, c = x.shape
        return net(x.permute(0, 2, 1, 3).reshape(b * k, t, c)).reshape(b, k, t).permute(0, 2, 1)

    def loss_of(x, base, truth):
        pred = base + run(x)
        d1, t1 = pred.diff(dim=1), truth.diff(dim=1)
        return (((pred - truth) ** 2).mean() + args.vel * ((d1 - t1) ** 2).mean()
                + args.acc * ((d1.diff(dim=1) - t1.diff(dim=1)) ** 2).mean())

    def validate(clips=None) -> tuple[float, float, float]:
        clips = val_t if clips is None else clips
        net.eval()
        with torch.no_grad():
            preds = [torch.clamp(b + run(x[None])[0], 0, 1).numpy() for x, b, _ in clips]
        net.train()
        truth = np.concatenate([c[2].numpy() for c in clips])
        s = shape_scores(truth, np.concatenate(preds))
        v = varies(s)
        jit = np.mean([np.abs(np.diff(p, axis=0)).mean() for p in preds])
        return float(np.nanmean(s["corr"][v])), float(s["mae"].mean()), float(jit)

    r0 = validate()
    base_s = shape_scores(np.concatenate([c[2] for c in val_clips]),
                          np.clip(np.concatenate([c[1] for c in val_clips]), 0, 1))
    print(f"validation, fixed blend (no filter): r {np.nanmean(base_s['corr'][varies(base_s)]):.3f} "
          f"MAE {base_s['mae'].mean():.4f}; network at start: r {r0[0]:.3f}", flush=True)
    best, start, step = (r0[0], {k: v.clone() for k, v in net.state_dict().items()}), time.time(), 0
    total = args.minutes * 60
    while time.time() - start < total:
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * min(1.0, (time.time() - start) / total)))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = []
        for _ in range(args.batch):
            x, b, t = train_t[rng.integers(len(train_t))]
            lo = int(rng.integers(0, max(1, len(x) - args.frames)))
            sl = slice(lo, lo + args.frames)
            batch.append((x[sl], b[sl], t[sl]))
        n = min(len(c[0]) for c in batch)
        xs, bs, ts = (torch.stack([c[i][:n] for c in batch]) for i in range(3))
        loss = loss_of(xs, bs, ts)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % args.every == 0:
            r, mae, jit = validate()
            if r > best[0]:
                best = (r, {k: v.clone() for k, v in net.state_dict().items()})
            print(f"step {step} ({time.time() - start:.0f} s) loss {loss.item():.5f} "
                  f"train r {validate(train_t[::4])[0]:.3f} "
                  f"val r {r:.3f} MAE {mae:.4f} mean |dw| {jit:.4f}", flush=True)
    if args.select == "best" and best[1] is not None:
        net.load_state_dict(best[1])
    r, mae, _ = validate()
    print(f"best validation r {r:.3f} MAE {mae:.4f}")
    export(net, in_mean, in_std, z, args.pcs, args.out,
           dict(families=",".join(args.families), val_r=r, steps=step, pcs=args.pcs, calibrated=args.calibrated,
                per_shape=args.per_shape,
                vel=args.vel, acc=args.acc, frames=int(len(allx))))
    print(f"exported {args.out}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="tracked clips -> network inputs (one npz)")
    p.add_argument("--src", type=Path, default=CHECKPOINTS / "video_tracked_fl")
    p.add_argument("--out", type=Path, default=DATA)
    t = sub.add_parser("train", help="train and export")
    t.add_argument("--data", type=Path, default=DATA)
    t.add_argument("--out", type=Path, default=CHECKPOINTS / "video_temporal" / "temporal_net.npz")
    t.add_argument("--families", nargs="+", default=["anny", "ict"])
    t.add_argument("--pcs", type=int, default=16, help="landmark feature components (0..32)")
    t.add_argument("--calibrated", action="store_true",
                   help="also feed the inputs scaled to the actor's own range (temporal.actor_scaled)")
    t.add_argument("--per-shape", action="store_true",
                   help="one small network shared by all shapes (temporal.per_shape_inputs)")
    t.add_argument("--width", type=int, default=64)
    t.add_argument("--dilations", type=int, nargs="+", default=[1, 2, 4])
    t.add_argument("--minutes", type=float, default=8.0)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--weight-decay", type=float, default=1e-2)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--frames", type=int, default=64)
    t.add_argument("--vel", type=float, default=10.0)
    t.add_argument("--acc", type=float, default=20.0)
    t.add_argument("--every", type=int, default=100)
    t.add_argument("--select", choices=("best", "last"), default="best",
                   help="export the best validation r (the fixed blend when nothing beats it) or the last step")
    t.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.src, args.out)
    else:
        train(args)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
