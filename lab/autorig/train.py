"""Train the auto-rig network on anny and ICT-FaceKit heads (CPU, resumable).

    python -m lab.autorig.train --families anny ict --out ml/autorig/autorig_net.npz

Samples (identities, warps, remeshes: see data.py) and their operators are built once by
worker processes and cached under checkpoints/autorig_inputs/; the model checkpoints to
checkpoints/autorig/<run>.v<data version>.pt after every epoch and resumes from there when
restarted.
The best epoch on the validation split is exported as float32 npz for runtime.py.
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from . import data
from faceforge.ml.autorig.features import mesh_inputs
from .model import AutoRigNet, MeshTensors, NetConfig, sparse_tensor

from ..paths import ROOT
INPUTS_DIR = ROOT / "checkpoints" / "autorig_inputs"
CKPT_DIR = ROOT / "checkpoints" / "autorig"
OUTSIDE_FACE_WEIGHT = 0.25  # vertices outside the face region still count, less


def _input_path(family: str, identity: int, preset: str, seed: int, p_mask: float) -> Path:
    return INPUTS_DIR / data.data_tag(p_mask) / f"{family}-{identity}-{preset}-{seed}.npz"


def _build(job) -> Path:
    """Worker: one sample and its operators, written to the inputs cache."""
    family, identity, preset, seed, p_mask = job
    path = _input_path(family, identity, preset, seed, p_mask)
    if path.exists():
        return path
    s = data.build_sample(family, identity, preset, seed, p_mask)
    m = mesh_inputs(s.verts, s.tris)
    weight = np.where(s.face_mask, 1.0, OUTSIDE_FACE_WEIGHT).astype(np.float32)
    gx, gy = m.pop("grad_x").tocsr(), m.pop("grad_y").tocsr()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # workers may race on a sample
    np.savez(tmp, **m, deltas=s.deltas.transpose(1, 0, 2), weight=weight, has_shape=s.has_shape,
             face_mask=s.face_mask, gx_data=gx.data, gx_indices=gx.indices, gx_indptr=gx.indptr,
             gy_data=gy.data, gy_indices=gy.indices, gy_indptr=gy.indptr)
    os.replace(tmp, path)
    return path


def prepare(families, split: str, n: int, seed: int, workers: int, p_mask: float = data.P_MASK) -> list[Path]:
    """Build (or find cached) inputs for n samples per family of a split."""
    jobs = [(f, identity, preset, seed, p_mask) for f in families
            for identity, preset in data.split_plan(f, split, n, seed)]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_build, jobs))


def load_item(path: Path):
    """(MeshTensors, target [V,52,3], vertex weight [V], shape mask [52], face mask [V])."""
    with np.load(path) as z:
        v = len(z["features"])
        grads = [sp.csr_matrix((z[f"{g}_data"], z[f"{g}_indices"], z[f"{g}_indptr"]), (v, v))
                 for g in ("gx", "gy")]
        mesh = MeshTensors(features=torch.from_numpy(z["features"]), mass=torch.from_numpy(z["mass"]),
                           evals=torch.from_numpy(z["evals"]), evecs=torch.from_numpy(z["evecs"]),
                           grad_x=sparse_tensor(grads[0]), grad_y=sparse_tensor(grads[1]))
        return (mesh, torch.from_numpy(z["deltas"]), torch.from_numpy(z["weight"]),
                torch.from_numpy(z["has_shape"]), torch.from_numpy(z["face_mask"]))


def loss_fn(pred, target, weight, has_shape, squared: bool = True):
    """Weighted mean per-vertex error over present shapes: squared (mm², so the large local
    motions of lids and lips are not averaged away by the many still vertices) or the
    error norm (mm, smoothed near zero)."""
    sq = ((pred - target) ** 2).sum(-1)[:, has_shape]                          # [V, S]
    err = sq if squared else torch.sqrt(sq + 1e-4)
    return (weight[:, None] * err).sum() / (weight.sum() * err.shape[1])


@torch.no_grad()
def evaluate(model, items) -> float:
    """Mean per-vertex error (mm) over the face region and present shapes."""
    errs = []
    for mesh, target, _, has_shape, face in items:
        err = torch.linalg.norm(model(mesh) - target, dim=-1)[face][:, has_shape]
        errs.append(err.mean().item())
    return float(np.mean(errs))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", default=["anny", "ict"], choices=sorted(data.FAMILIES))
    p.add_argument("--n-train", type=int, default=160, help="training samples per family")
    p.add_argument("--n-val", type=int, default=12, help="validation samples per family")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=NetConfig.width)
    p.add_argument("--blocks", type=int, default=NetConfig.blocks)
    p.add_argument("--fourier", type=int, default=7, help="position-encoding octaves (0: none)")
    p.add_argument("--loss", choices=("squared", "norm"), default="squared")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-seed", type=int, default=None,
                   help="seed of the initial weights and sample order only (default: --seed); "
                        "another value trains a second network on the same data")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--run", default=None, help="checkpoint name (default: from the families)")
    p.add_argument("--out", type=Path, default=None, help="exported weights (.npz)")
    p.add_argument("--p-mask", type=float, default=data.P_MASK,
                   help="share of samples cut to face-only masks (0: the data of version 2)")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these exported weights (.npz; e.g. fine-tune the shipped network)")
    args = p.parse_args(argv)
    run = args.run or "-".join(args.families)
    torch.set_num_threads(args.threads)
    torch_seed = args.seed if args.torch_seed is None else args.torch_seed
    torch.manual_seed(torch_seed)

    t0 = time.time()
    train_paths = prepare(args.families, "train", args.n_train, args.seed, args.workers, args.p_mask)
    val_paths = prepare(args.families, "val", args.n_val, args.seed, args.workers, args.p_mask)
    train_items = [load_item(q) for q in train_paths]
    val_items = [load_item(q) for q in val_paths]
    print(f"data: {len(train_items)} train / {len(val_items)} val meshes in {time.time() - t0:.0f} s",
          flush=True)

    cfg = NetConfig(width=args.width, blocks=args.blocks, fourier=args.fourier)
    model = AutoRigNet(cfg)
    if args.init is not None:
        with np.load(args.init) as z:
            model.load_state_dict({k: torch.from_numpy(z[k]) for k in model.state_dict()})
        print(f"initialised from {args.init}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-5)
    steps = args.epochs * len(train_items)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.05)
    ckpt = CKPT_DIR / f"{run}.{data.data_tag(args.p_mask)}.pt"  # never resume a run on other data
    start, best = 0, (float("inf"), None)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"]), opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start, best = state["epoch"] + 1, tuple(state["best"])
        print(f"resumed {ckpt} at epoch {start}", flush=True)
    print(f"model: {sum(p.numel() for p in model.parameters())} parameters, {asdict(cfg)}", flush=True)

    rng = np.random.default_rng(torch_seed)
    for epoch in range(start, args.epochs):
        t = time.time()
        model.train()
        total = 0.0
        for i in rng.permutation(len(train_items)):
            mesh, target, weight, has_shape, _ = train_items[i]
            loss = loss_fn(model(mesh), target, weight, has_shape, args.loss == "squared")
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item()
        model.eval()
        val = evaluate(model, val_items)
        if val < best[0]:
            best = (val, {k: v.clone() for k, v in model.state_dict().items()})
        print(f"epoch {epoch:3d}  train {total / len(train_items):.4g}  val {val:.3f} mm  "
              f"best {best[0]:.3f}  ({time.time() - t:.0f} s)", flush=True)
        CKPT_DIR.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch, "best": list(best), "args": vars(args)}, ckpt)

    model.load_state_dict(best[1])
    out = args.out or CKPT_DIR / f"{run}.npz"
    np.savez(out, **model.export())
    print(f"wrote {out} ({out.stat().st_size} bytes), best val {best[0]:.3f} mm", flush=True)


if __name__ == "__main__":
    main()
