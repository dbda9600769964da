"""Train the FACS regressor on synthetic landmark clips of bound heads (torch, one CPU
thread), resumable, and export the numpy weights.

    python -m lab.video.train [--families anny ict] [--minutes 40] \
        [--out checkpoints/video_regressor/main] [--export ml/video/facs_regressor.npz] \
        [--tracked checkpoints/video_tracked --init checkpoints/video_regressor/main/checkpoint.pt]

Losses on the weights' position, velocity and acceleration (the last weighted low, so
the output stays responsive) plus the head rotation. Training identities are seeds
0..TRAIN_SEEDS-1 of each family; the rest are held out for evaluation.
The synthetic clips use the weight-1 tracker response and the measured noise; with
--tracker-map, the tracker map and noise fitted on rendered-and-tracked clips
(lab/video/fit_tracker_map.py; the committed regressor uses it) on top.
With --tracked, each batch mixes synthetic clips with windows of clips MediaPipe tracked
on renders of training identities (lab/video/render_training.py) to close the gap
between the analytic landmark model and the tracker; --init fine-tunes a trained run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..paths import SHARED_DATA
from .face_model import BINDINGS, FAMILIES, LandmarkModel, load_model, matrix_euler
from faceforge.ml.video.features import frame_features
from .metrics import shape_scores
from .model import FacsNet
from faceforge.ml.video.regressor import ROTATION_STEP
from .synth import load_noise, random_clip
from .tracker_map import apply_map, family_terms, load_tracker_map

TRAIN_SEEDS = 16
TEST_SEEDS = (16, 17, 18, 19)
LOSS_VEL, LOSS_ACC, LOSS_ROT = 0.5, 0.05, 20.0
STABLE_QUANTILE = 0.3
MEDIAPIPE_JSON = SHARED_DATA / "mediapipe" / "mediapipe_blendshape_names.json"
CHEEKS = (50, 280, 205, 425, 117, 346, 187, 411, 123, 352, 36, 266)  # cheekPuff/Squint cues
TRACKER_MAP = BINDINGS / "tracker_map.npz"


def feature_subset() -> np.ndarray:
    """Landmarks the network reads: the 146 of MediaPipe's own blendshape model + cheeks."""
    mp = json.loads(MEDIAPIPE_JSON.read_text())["landmark_subset_idxs_fed_to_blendshape_model"]
    return np.unique(np.r_[mp, CHEEKS]).astype(np.int64)


def load_models(families, seeds, response: bool = True, tracker_map: bool = False) -> list[LandmarkModel]:
    """Bound landmark models; with `response`, each family's measured tracker response
    (lab/video/measure_response.py) corrects the analytic deltas; with `tracker_map`,
    so does the map fitted on tracked renders (lab/video/fit_tracker_map.py), if any."""
    path = BINDINGS / "response.npz"
    fix = dict(np.load(path)) if response and path.exists() else {}
    fitted = load_tracker_map(TRACKER_MAP) if tracker_map else {}
    models = []
    for f in families:
        for s in seeds:
            m = load_model(f, s)
            m = LandmarkModel(m.neutral, m.deltas + fix.get(f"{f}.correction", 0.0))
            models.append(apply_map(m, family_terms(fitted, f)))
    return models


def template_of(models: list[LandmarkModel]) -> tuple[np.ndarray, np.ndarray]:
    """Mean neutral landmarks [478,3] and stable-landmark weights [478] (the 30 % that
    expressions move least; irises excluded) for the similarity fit."""
    template = np.mean([m.neutral for m in models], axis=0).astype(np.float64)
    motion = np.mean([np.linalg.norm(m.deltas, axis=2).max(axis=0) for m in models], axis=0)
    motion[468:] = np.inf
    return template, (motion <= np.quantile(motion[:468], STABLE_QUANTILE)).astype(np.float64)


class ClipMaker:
    """Random noisy clips of the given landmark models -> (features, truth) arrays."""

    def __init__(self, models, template, stable, subset, noise, frames: int):
        self.models, self.template, self.stable, self.subset = models, template, stable, subset
        self.noise, self.frames = noise, frames

    def clip(self, rng):
        model = self.models[rng.integers(len(self.models))]
        c = random_clip(rng, model, self.frames, self.noise)
        feats, rot = frame_features(c.landmarks, c.camera.size[0] / c.camera.size[1],
                                    self.template, self.stable, self.subset)
        return feats, c.weights, c.euler, matrix_euler(rot).astype(np.float32)

    def batch(self, rng, n: int):
        return [np.stack(a) for a in zip(*(self.clip(rng) for _ in range(n)))]


def tracked_shards(folder: Path, seen: set[str] | None = None):
    """Yield (clip index k, npz) for each shard of lab/video/render_training.py in
    `folder` that the tracker followed on at least 90 % of its frames with no landmark
    lost, skipping the file names in `seen` (and adding every name read to it)."""
    for path in sorted(folder.glob("clip_[0-9]*[0-9].npz")):
        if seen is not None:
            if path.name in seen:
                continue
            seen.add(path.name)
        z = np.load(path)
        if z["found"].mean() >= 0.9 and not np.isnan(z["landmarks"]).any():
            yield int(path.stem.split("_")[1]), z


def tracked_held_out(k: int) -> bool:
    """Is tracked clip k a validation clip? k % 12 in (0, 1): clip k is anny for even k and
    ICT for odd k, so both families are held out (the tracker map is validated on the same)."""
    return k % 12 in (0, 1)


class TrackedClips:
    """Windows of rendered-and-tracked clips (npz shards of lab/video/render_training.py,
    clips the tracker lost for > 10 % of frames dropped) -> (features, truth) arrays like
    ClipMaker; the `tracked_held_out` shards are kept apart for validation."""

    def __init__(self, folder: Path, template, stable, subset, frames: int):
        self.folder, self.template, self.stable, self.subset = folder, template, stable, subset
        self.frames = frames
        self.train, self.val, self.names = [], [], set()
        self.refresh()

    def refresh(self) -> None:
        """Load shards written since the last call (rendering may still be running)."""
        for k, z in tracked_shards(self.folder, self.names):
            clip = (z["landmarks"], z["weights"], z["euler"], float(z["aspect"]))
            (self.val if tracked_held_out(k) else self.train).append(clip)

    def window(self, clip, start: int, length: int):
        lm, weights, euler, aspect = clip
        cut = slice(start, start + length)
        feats, rot = frame_features(lm[cut], aspect, self.template, self.stable, self.subset)
        return feats, weights[cut], euler[cut], matrix_euler(rot).astype(np.float32)

    def batch(self, rng, n: int):
        clips = [self.train[i] for i in rng.integers(len(self.train), size=n)]
        length = min(self.frames, min(len(c[0]) for c in clips))
        return [np.stack(a) for a in zip(*(
            self.window(c, rng.integers(len(c[0]) - length + 1), length) for c in clips))]

    def val_batch(self):
        length = min(len(c[0]) for c in self.val)
        return [np.stack(a) for a in zip(*(self.window(c, 0, length) for c in self.val))]


def losses(net, mean, std, batch, vel_weight: float = LOSS_VEL) -> dict[str, torch.Tensor]:
    feats, weights, euler, fitted = (torch.from_numpy(a) for a in batch)
    raw = net((feats - mean) / std)
    w = raw[..., :52]
    rot = fitted + ROTATION_STEP * raw[..., 52:]
    vel, vel_t = w.diff(dim=1), weights.diff(dim=1)
    return dict(pos=((w - weights) ** 2).mean(),
                vel=((vel - vel_t) ** 2).mean() * vel_weight,
                acc=((vel.diff(dim=1) - vel_t.diff(dim=1)) ** 2).mean() * LOSS_ACC,
                rot=((rot - euler) ** 2).mean() * LOSS_ROT)


def export(net: FacsNet, mean, std, template, stable, subset, path: Path, meta: dict) -> None:
    """Weights + normalisation as the flat npz `regressor.FacsRegressor` reads."""
    params = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    params.update({"feat_mean": mean.numpy(), "feat_std": std.numpy(),
                   "template": template.astype(np.float32), "stable": stable.astype(np.float32), "subset": subset,
                   "cfg.dilations": np.array(net.dilations), "cfg.kernel": np.array(net.kernel)})
    params.update({f"meta.{k}": np.array(v) for k, v in meta.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **params)


def validate(net, mean, std, val) -> tuple[float, float]:
    """Mean per-shape correlation and MAE on fixed held-out clips."""
    with torch.no_grad():
        raw = net((torch.from_numpy(val[0]) - mean) / std).numpy()
    pred = np.clip(raw[..., :52], 0, 1).reshape(-1, 52)
    s = shape_scores(val[1].reshape(-1, 52), pred)
    return float(np.nanmean(s["corr"])), float(s["mae"].mean())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--out", type=Path, default=Path("checkpoints/video_regressor/main"))
    ap.add_argument("--export", type=Path, default=None, help="npz path (default: OUT/facs_regressor.npz)")
    ap.add_argument("--minutes", type=float, default=40.0,
                    help="wall-clock training budget; the learning rate anneals over it")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tracked", type=Path, default=None,
                    help="folder of rendered-and-tracked clips to mix into every batch")
    ap.add_argument("--tracked-share", type=float, default=0.5, help="share of each batch from --tracked")
    ap.add_argument("--vel-weight", type=float, default=LOSS_VEL,
                    help="weight of the velocity loss (higher: smoother, less jitter)")
    ap.add_argument("--tracker-map", action="store_true",
                    help=f"add the tracker map and its noise ({TRACKER_MAP.name}, made by "
                         "lab/video/fit_tracker_map.py) to the synthetic clips")
    ap.add_argument("--map-only", action="store_true",
                    help="with --tracker-map: the map's landmark model with noise.npz's noise")
    ap.add_argument("--init", type=Path, default=None,
                    help="checkpoint.pt to fine-tune from (network and normalisation; fresh optimiser)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "checkpoint.pt"

    # The pose fit's template and stable landmarks come from the response-corrected models
    # (the frame the tracker map was fitted in); the clips from the mapped ones.
    template, stable = template_of(load_models(args.families, range(TRAIN_SEEDS)))
    mapped = args.tracker_map
    if mapped and not TRACKER_MAP.exists():
        raise SystemExit(f"--tracker-map: {TRACKER_MAP} is missing; run lab/video/fit_tracker_map.py")
    print(f"tracker map: {TRACKER_MAP if mapped else 'none (weight-1 response only)'}", flush=True)
    models = load_models(args.families, range(TRAIN_SEEDS), tracker_map=mapped)
    noise = load_noise(BINDINGS / "noise.npz",
                       load_tracker_map(TRACKER_MAP) if mapped and not args.map_only else None)
    subset = feature_subset()
    maker = ClipMaker(models, template, stable, subset, noise, args.frames)
    val_maker = ClipMaker(load_models(args.families, TEST_SEEDS, tracker_map=mapped), template,
                          stable, subset, noise, args.frames)
    val = val_maker.batch(np.random.default_rng(999), 24)

    rng = np.random.default_rng(args.seed)
    first = maker.batch(rng, 32)[0].reshape(-1, val[0].shape[-1])
    mean = torch.from_numpy(first.mean(0))
    std = torch.from_numpy(np.maximum(first.std(0), 1e-3))
    net = FacsNet(first.shape[1], width=args.width)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    step, spent = 0, 0.0
    if args.init and not ckpt_path.exists():
        ck = torch.load(args.init, weights_only=False)
        net.load_state_dict(ck["net"])
        mean, std = ck["mean"], ck["std"]
        print(f"fine-tuning {args.init} (step {ck['step']})", flush=True)
    tracked = n_tracked = None
    if args.tracked:
        tracked = TrackedClips(args.tracked, template, stable, subset, args.frames)
        n_tracked = int(round(args.batch * args.tracked_share))
        print(f"tracked clips: {len(tracked.train)} train, {len(tracked.val)} validation", flush=True)
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ck["net"]), opt.load_state_dict(ck["opt"])
        mean, std, step, rng, spent = ck["mean"], ck["std"], ck["step"], ck["rng"], ck["spent"]
        print(f"resumed at step {step} after {spent / 60:.1f} min", flush=True)
    budget = args.minutes * 60

    def save():
        torch.save(dict(net=net.state_dict(), opt=opt.state_dict(), mean=mean, std=std,
                        step=step, rng=rng, spent=elapsed()), ckpt_path)
        export(net, mean, std, template, stable, subset, args.export or args.out / "facs_regressor.npz",
               dict(families=",".join(args.families), steps=step, train_seeds=TRAIN_SEEDS))

    start, running = time.time(), {}

    def report_tracked():
        if tracked is None:
            return
        tracked.refresh()
        if tracked.val:
            corr, mae = validate(net, mean, std, tracked.val_batch())
            print(f"  tracked validation ({len(tracked.val)} clips; {len(tracked.train)} train): "
                  f"mean per-shape corr {corr:.3f}, MAE {mae:.4f}", flush=True)

    def elapsed() -> float:
        return spent + time.time() - start

    while elapsed() < budget:
        frac = elapsed() / budget  # warm up over 3 %, then cosine to zero at the deadline
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, frac / 0.03) * 0.5 * (1 + np.cos(np.pi * frac))
        parts = losses(net, mean, std, maker.batch(rng, args.batch - (n_tracked or 0)), args.vel_weight)
        if n_tracked:
            real = losses(net, mean, std, tracked.batch(rng, n_tracked), args.vel_weight)
            parts = {k: (1 - args.tracked_share) * v + args.tracked_share * real[k]
                     for k, v in parts.items()}
        loss = sum(parts.values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in parts.items():
            running[k] = 0.98 * running.get(k, v.item()) + 0.02 * v.item()
        if step % 100 == 0:
            print(f"step {step} {elapsed():.0f}s " +
                  " ".join(f"{k} {v:.4f}" for k, v in running.items()), flush=True)
        if step % 500 == 0:
            corr, mae = validate(net, mean, std, val)
            print(f"  held-out: mean per-shape corr {corr:.3f}, MAE {mae:.4f}", flush=True)
            report_tracked()
            save()
    save()
    corr, mae = validate(net, mean, std, val)
    print(f"done at step {step}: held-out mean per-shape corr {corr:.3f}, MAE {mae:.4f}", flush=True)
    report_tracked()


if __name__ == "__main__":
    main()
