"""Bake Video's methods side by side, in one run: MediaPipe Face Landmarker blendshapes raw,
the FACS regressor (the bake's "regressor" method) and ours (the "landmarker" method:
blendshapes + fill-in from landmarks + per-actor calibration + the still-face filter), with
ablations of ours.

1. Render-and-track: held-out identities (seeds 16-19) of both head families, rendered
   by lab/video/render_eval.py (Workbench, 640x480, 30 fps, known weights and head
   motion, a still neutral start and a still stretch mid-clip); each clip tracked by Face
   Mesh (for the regressor) and by the Face Landmarker. Mean per-shape r, MAE, dead
   channels, static jitter, jerk, lag, head rotation error.
2. Real GRID clips (../shared/data/video/grid): detection rate, jawOpen against the audio
   envelope (r and lag), blinks, jitter on still (silent) stretches.
Tracks are cached in checkpoints/video_eval/.

    python -m lab.video.render_eval          # once (bpy, ~15 min on 2 busy cores)
    python -m lab.video.eval_bake            # ~3 min

The still-face filter's settings: lab/video/probe_still_filter.py.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceforge.ml.arkit import ARKIT_NAMES, INDEX
from faceforge.ml.video import refine
from faceforge.ml.video.decode import VideoSource
from faceforge.ml.video.landmarker import FaceTrack, track_face, with_blendshapes
from faceforge.ml.video.pipeline import VideoOptions, grid_landmarks, landmarker_inputs, solve_track
from faceforge.ml.video.regressor import load_regressor
from faceforge.ml.video.rotation import matrix_euler
from faceforge.ml.video.tracking import track
from lab.video.evaluate import audio_envelope, best_lag, score, shape_table, visible_shapes
from lab.video.face_model import FAMILIES, load_model
from lab.video.metrics import jitter
from lab.video.render_eval import CACHE, frames_path
from ..paths import SHARED_DATA

GRID = SHARED_DATA / "video" / "grid"
FPS = 30.0
OURS = VideoOptions(method="landmarker", two_trackers=True)
ONE_TRACKER = VideoOptions(method="landmarker")  # the default: Face Mesh + blendshape model
MESH_METHODS = ("FACS regressor (bake)", "ours, one tracker (default)",
                "blendshape model on Face Mesh (raw)")  # methods reading Face Mesh's track
REGRESSOR = VideoOptions(method="regressor")
ABLATIONS = (("ours, fill-in shapes only (no blend)", dict(blend=False)),
             ("ours with per-actor ranges", dict(ranges=True)),
             ("ours without the still-face filter", dict(steady=False)),
             ("blendshapes + neutral only", dict(blend=False, fill=False, ranges=False, steady=False)))
# Blinks seen (eye closed), frame ranges, counted by eye on the eye-crop strips that
# `--eye-strips DIR` writes (one crop of both eyes per frame).
BLINKS_SEEN = {"bbaf2n": [(42, 44), (50, 55)], "brbk7n": [(21, 23)],
               "id2_vcd_swwp2s": [(26, 30), (41, 46), (71, 73)], "lbax4n": [(27, 31)],
               "lbbc2a": []}
SILENT = 0.1      # GRID still stretch: audio envelope below this share of the clip's peak
MIN_STILL = 8     # ... for at least this many frames
MAX_LAG = 5       # jawOpen~audio: best lag searched within +-5 frames (+-200 ms at 25 fps)


class ArraySource(VideoSource):
    """Frames held in memory as a VideoSource."""

    def __init__(self, frames: np.ndarray, fps: float, name: str):
        super().__init__(Path(name), fps, len(frames), (frames.shape[2], frames.shape[1]))
        self.frames = frames

    def __iter__(self):
        for i, rgb in enumerate(self.frames):
            yield i / self.fps, rgb


def _save_tracks(path: Path, mesh, face: FaceTrack, **extra) -> None:
    np.savez_compressed(path, times=mesh.times, mesh=mesh.landmarks, mesh_found=mesh.found,
                        mesh_filled=mesh.filled, face=face.landmarks, face_found=face.found,
                        face_filled=face.filled, blendshapes=face.blendshapes,
                        rotation=face.rotation, face_mesh=face.mesh_landmarks,
                        size=np.array(mesh.size), **extra)


def _load_tracks(path: Path):
    """(Face Mesh Track, Face Landmarker FaceTrack, the npz) from a cache file."""
    from faceforge.ml.video.tracking import Track
    z = np.load(path)
    size = tuple(int(v) for v in z["size"])
    mesh = Track(z["times"], z["mesh"], z["mesh_found"], z["mesh_filled"], size)
    face = FaceTrack(z["times"], z["face"], z["face_found"], z["face_filled"], size,
                     blendshapes=z["blendshapes"], rotation=z["rotation"],
                     mesh_landmarks=z["face_mesh"])
    return mesh, face, z


def render_tracks(family: str, seed: int, frames: int):
    """Tracks of one rendered test clip (cached), and its truth."""
    path = CACHE / f"tracks2_{family}_{seed:03d}_{frames}.npz"
    if not path.exists():
        z = np.load(frames_path(family, seed, frames))
        rgb = z["frames"]
        mesh = track(ArraySource(rgb, FPS, f"{family}_{seed}"))
        face = track_face(ArraySource(rgb, FPS, f"{family}_{seed}"), two_trackers=True)
        _save_tracks(path, mesh, face, weights=z["weights"], euler=z["euler"])
    return _load_tracks(path)


def raw_blendshapes(face: FaceTrack) -> np.ndarray:
    """The Face Landmarker's blendshapes as they come (long losses held)."""
    out = face.blendshapes.copy()
    ok = np.flatnonzero(np.isfinite(out).all(1))
    return out[ok[np.clip(np.searchsorted(ok, np.arange(len(out))), 0, len(ok) - 1)]]


TEMPORAL_NETS: dict[str, Path] = {}  # extra temporal networks to score (--temporal NAME=PATH)


def temporal_method(path: Path | None):
    """The landmarker method through the temporal network at `path` (None: the shipped one)."""
    from faceforge.ml.video.pipeline import temporal_solve
    from faceforge.ml.video.temporal import load_temporal
    def run(mesh, face, rate, reg):
        _, w, r, _ = temporal_solve(face, rate, "auto", reg, load_temporal(path))
        return w, r
    return run


def methods(reg) -> list[tuple[str, callable]]:
    """(name, fn(mesh track, face track, frame rate) -> (weights [T,52], rotation [T,3]))."""
    def bake(options, reading):
        """`reading(mesh, face)`: the track solve_track reads."""
        def run(mesh, face, rate):
            _, w, r, _ = solve_track(reading(mesh, face), rate, options, reg)
            return w, r
        return run

    def two(mesh, face):
        return face

    def one(mesh, face):
        return with_blendshapes(mesh)

    def mesh_raw(mesh, face, rate):
        landmarks = grid_landmarks(mesh, mesh.times)  # long losses held
        return (raw_blendshapes(with_blendshapes(mesh)),
                reg.predict(landmarks, aspect=mesh.size[0] / mesh.size[1])[1])
    out = [("MediaPipe blendshapes (raw)",
            lambda mesh, face, rate: (raw_blendshapes(face), matrix_euler(
                np.nan_to_num(face.rotation).astype(np.float64)))),
           ("FACS regressor (bake)", bake(REGRESSOR, lambda mesh, face: mesh)),
           ("ours", bake(OURS, two)),
           ("ours, one tracker (default)", bake(ONE_TRACKER, one)),
           ("blendshape model on Face Mesh (raw)", mesh_raw)]
    out += [(name, bake(replace(OURS, **kw), two)) for name, kw in ABLATIONS]
    from faceforge.ml.video.temporal import DEFAULT_WEIGHTS
    nets = ({"temporal network (shipped)": None} if DEFAULT_WEIGHTS.exists() else {}) | TEMPORAL_NETS
    for name, path in nets.items():
        fn = temporal_method(path)
        out.append((name, lambda mesh, face, rate, fn=fn: fn(mesh, face, rate, reg)))
    return out


def clip_lag(truth: np.ndarray, pred: np.ndarray, shapes: np.ndarray, max_lag: int = 6) -> int:
    """Lag (frames; > 0: prediction late) maximising the mean correlation over `shapes`."""
    best, arg = -2.0, 0
    for lag in range(-max_lag, max_lag + 1):
        p = pred[lag:] if lag >= 0 else pred[:lag]
        t = truth[:len(truth) - lag] if lag >= 0 else truth[-lag:]
        c = np.nanmean([np.corrcoef(t[:, i], p[:, i])[0, 1] for i in shapes
                        if p[:, i].std() > 1e-6])
        if c > best:
            best, arg = c, lag
    return arg


def rotation_error(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute head-rotation error (degrees) once each clip's constant offset (the
    neutral pose, camera tilt) is removed."""
    d = pred - truth
    return float(np.degrees(np.abs(d - np.median(d, axis=0)).mean()))


def render_and_track(args, reg) -> dict:
    results = {}
    for family in args.families:
        clips = [(s, *render_tracks(family, s, args.frames)) for s in args.seeds]
        vis = np.all([visible_shapes(load_model(family, s)) for s in args.seeds], axis=0)
        print(f"\n{family}: seeds {args.seeds}, Face Mesh tracked "
              f"{np.mean([m.found.mean() for _, m, _, _ in clips]):.0%}, Face Landmarker "
              f"{np.mean([f.found.mean() for _, _, f, _ in clips]):.0%}; shapes that move no "
              f"landmark: {', '.join(n for n, v in zip(ARKIT_NAMES, vis) if not v)}")
        from lab.video.evaluate import EvalClip
        evals = [EvalClip(f"{family}_{s}", z["weights"], z["euler"], m.landmarks, m.found, 4 / 3)
                 for s, m, _, z in clips]
        for name, fn in methods(reg):
            out = [fn(m, f, FPS) for _, m, f, _ in clips]
            s = score(evals, [o[0] for o in out], vis)
            shapes = np.flatnonzero(s["varies"] & vis)
            s["lag"] = float(np.mean([clip_lag(c.weights, o[0], shapes) for c, o in zip(evals, out)]))
            s["rot"] = float(np.mean([rotation_error(c.euler, o[1]) for c, o in zip(evals, out)]))
            results[(family, name)] = s
    return results


def print_render(results: dict) -> None:
    print("\n## Render-and-track (held-out identities)\n")
    print("| test set | method | mean r (visible) | mean r (all varying) | MAE | dead visible "
          "channels | static jitter | mean sq. jerk (truth) | lag (frames) | head rot. err (deg) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (family, name), s in results.items():
        print(f"| {family} | {name} | {s['corr']:.3f} | {s['corr_all']:.3f} | {s['mae']:.4f} "
              f"| {len(s['dead'])} {', '.join(s['dead'])} | {s['jitter']:.5f} "
              f"| {s['jerk']:.2e} ({s['jerk_truth']:.2e}) | {s['lag']:+.1f} | {s['rot']:.2f} |")
    for family in sorted({f for f, _ in results}):
        raw = results[(family, "MediaPipe blendshapes (raw)")]
        for (fam, name), s in results.items():
            if fam == family and (name.startswith("ours") or name.startswith("temporal")):
                print(f"\n{family}: {name} - raw mean r = {s['corr'] - raw['corr']:+.3f}; static "
                      f"jitter {name} / raw = {s['jitter'] / raw['jitter']:.2f}")
    for family in sorted({f for f, _ in results}):
        names = ["MediaPipe blendshapes (raw)", "FACS regressor (bake)", "ours",
                 "ours, one tracker (default)"]
        names += [n for f, n in results if f == family and n.startswith("temporal")]
        print(f"\n### Per-shape r, {family}\n")
        print(shape_table(names, [results[(family, n)] for n in names]))


def still_frames(envelope: np.ndarray) -> np.ndarray:
    """[T] bool: frames inside silent runs of >= MIN_STILL frames."""
    quiet = envelope < SILENT * envelope.max()
    out = np.zeros(len(quiet), bool)
    edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0])).reshape(-1, 2)
    for s, e in edges[edges[:, 1] - edges[:, 0] >= MIN_STILL]:
        out[s:e] = True
    return out


def grid_tracks(clip: Path):
    path = CACHE / f"grid2_{clip.stem}.npz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        _save_tracks(path, track(clip), track_face(clip, two_trackers=True))
    return _load_tracks(path)


def blink_onsets(weights: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Frames where the mean eyeBlink weight rises through `threshold`."""
    blink = weights[:, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]].mean(1) > threshold
    return np.flatnonzero(np.diff(blink.astype(np.int8)) == 1) + 1


def blink_hits(onsets: np.ndarray, seen: list[tuple[int, int]], slack: int = 2) -> tuple[int, int]:
    """(seen blinks with an onset inside them (+- slack frames), onsets matching none)."""
    inside = [[s - slack <= o <= e + slack for o in onsets] for s, e in seen]
    hit = sum(any(row) for row in inside)
    stray = sum(not any(col) for col in zip(*inside)) if seen else len(onsets)
    return hit, stray


def grid_row(weights: np.ndarray, found: np.ndarray, envelope: np.ndarray, still: np.ndarray,
             seen: list[tuple[int, int]]) -> dict:
    corr, lag = best_lag(weights[:, INDEX["jawOpen"]], envelope, max_lag=MAX_LAG)
    hit, stray = blink_hits(blink_onsets(weights), seen)
    return dict(detection=float(found.mean()), jaw_corr=corr, jaw_lag=lag, blinks=hit,
                seen=len(seen), stray=stray, jitter=jitter(weights, still))


def eye_strips(out: Path) -> None:
    """One image per GRID clip: both eyes cropped from every frame (numbered), to count
    blinks by eye."""
    import cv2
    from faceforge.ml.video.decode import open_video
    out.mkdir(parents=True, exist_ok=True)
    for clip in sorted(GRID.glob("*.mpg")):
        _, face, _ = grid_tracks(clip)
        crops = []
        for i, (_, rgb) in enumerate(open_video(clip)):
            h, w = rgb.shape[:2]
            pts = face.landmarks[i, [33, 133, 362, 263, 159, 145, 386, 374], :2] * [w, h]
            (x0, y0), (x1, y1) = pts.min(0) - [8, 10], pts.max(0) + [8, 10]
            crop = cv2.resize(rgb[int(y0):int(y1), int(x0):int(x1)], (120, 40))
            cv2.putText(crop, str(i), (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 0), 1)
            crops.append(crop)
        crops += [np.zeros_like(crops[0])] * (-len(crops) % 15)
        sheet = np.concatenate([np.concatenate(crops[i:i + 15], 1) for i in range(0, len(crops), 15)])
        cv2.imwrite(str(out / f"eyes_{clip.stem}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def grid(reg) -> None:
    clips = sorted(GRID.glob("*.mpg"))
    rows: dict[str, list[dict]] = {}
    for clip in clips:
        mesh, face, _ = grid_tracks(clip)
        rate = 1.0 / np.median(np.diff(mesh.times))
        env = audio_envelope(clip, mesh.times)
        still = still_frames(env)
        for name, fn in methods(reg):
            w = fn(mesh, face, rate)[0]
            found = mesh.found if name in MESH_METHODS else face.found
            rows.setdefault(name, []).append(dict(clip=clip.stem, **grid_row(
                w, found, env, still, BLINKS_SEEN[clip.stem])))
    print(f"\n## GRID ({len(clips)} real clips, 25 fps, no labels)\n")
    print("(per clip: the three methods; the mean table below adds the ablations)\n")
    print("| clip | method | detection | jawOpen~audio r | lag (frames) | blinks found / seen (stray) | jitter on silent stretches |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in list(rows.items())[:3]:
        for r in rs:
            print(f"| {r['clip']} | {name} | {r['detection']:.0%} | {r['jaw_corr']:.2f} | {r['jaw_lag']:+d} "
                  f"| {r['blinks']} / {r['seen']} ({r['stray']}) | {r['jitter']:.5f} |")
    print("\n| method | detection | jawOpen~audio r | lag (ms) | blinks found / seen (stray) | jitter on silent stretches |")
    print("|---|---|---|---|---|---|")
    for name, rs in rows.items():
        print(f"| {name} | {np.mean([r['detection'] for r in rs]):.0%} "
              f"| {np.mean([r['jaw_corr'] for r in rs]):.3f} "
              f"| {1000 * np.mean([r['jaw_lag'] for r in rs]) / 25:+.0f} "
              f"| {sum(r['blinks'] for r in rs)} / {sum(r['seen'] for r in rs)} "
              f"({sum(r['stray'] for r in rs)}) | {np.nanmean([r['jitter'] for r in rs]):.5f} |")


def blend_sweep(reg, seeds, frames: int, one_tracker: bool = False) -> None:
    """Mean r and static jitter of blend shares on the fit clips (training identities),
    and GRID's jawOpen~audio r (the filter on, as in the bake); `one_tracker`: the
    blendshape model read on Face Mesh's landmarks instead of the Face Landmarker's."""
    from lab.video.metrics import shape_scores, static_mask, varies
    which = "one tracker" if one_tracker else "two trackers"
    print(f"\n## Blend share on training identities {seeds}, {which} (the choice of refine.BLEND)\n")
    print("| share of blendshapes | " + " | ".join(f"{f} r / jitter" for f in FAMILIES)
          + " | GRID jawOpen~audio r |")
    print("|---|" + "---|" * (len(FAMILIES) + 1))

    def reading(mesh, face):
        return with_blendshapes(mesh) if one_tracker else face
    def steadied(track, rate, share):
        grid, b, r, _, _ = landmarker_inputs(track, rate, "auto", reg)
        motion = refine.shape_motion(grid_landmarks(track, grid), track.size[0] / track.size[1],
                                     reg.template, reg.stable)
        return refine.steady(np.clip(refine.blend(b, r, share), 0, 1), rate, motion)
    clips = {f: [(None, reading(m, fc), z) for m, fc, z in (render_tracks(f, s, frames) for s in seeds)]
             for f in FAMILIES}
    grids = []
    for clip in sorted(GRID.glob("*.mpg")):
        mesh, face, _ = grid_tracks(clip)
        rate = 1.0 / np.median(np.diff(mesh.times))
        grids.append((reading(mesh, face), rate, audio_envelope(clip, mesh.times)))
    for share in (0.0, 0.15, 0.3, 0.5, 0.7, 1.0):
        cells = []
        for f in FAMILIES:
            truth, preds, jits = [], [], []
            for _, face, z in clips[f]:
                w = steadied(face, FPS, share)
                truth.append(z["weights"]), preds.append(w)
                jits.append(jitter(w, static_mask(z["weights"], z["euler"])))
            sc = shape_scores(np.concatenate(truth), np.concatenate(preds))
            cells.append(f"{np.nanmean(sc['corr'][varies(sc)]):.3f} / {np.mean(jits):.5f}")
        jaw = [best_lag(steadied(track, rate, share)[:, INDEX["jawOpen"]], env, max_lag=MAX_LAG)[0]
               for track, rate, env in grids]
        print(f"| {share} | " + " | ".join(cells) + f" | {np.mean(jaw):.3f} |", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[16, 17, 18, 19])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--skip-render", action="store_true", help="GRID only")
    ap.add_argument("--skip-grid", action="store_true")
    ap.add_argument("--blend-sweep", type=int, nargs="*", metavar="SEED",
                    help="score blend shares on these training identities (rendered by "
                         "render_eval --seeds 0 1 --size 320 240) and stop")
    ap.add_argument("--eye-strips", type=Path, help="write GRID eye-crop strips here and stop")
    ap.add_argument("--temporal", nargs="*", default=[], metavar="NAME=PATH",
                    help="also score these temporal networks (lab/video/train_temporal.py exports)")
    args = ap.parse_args(argv)
    for item in args.temporal:
        name, _, path = item.partition("=")
        TEMPORAL_NETS[f"temporal network {name}"] = Path(path)
    if args.eye_strips:
        return eye_strips(args.eye_strips)
    if args.blend_sweep is not None:
        for one in (False, True):
            blend_sweep(load_regressor(), args.blend_sweep or [0, 1], args.frames, one)
        return
    reg = load_regressor()
    if not args.skip_render:
        print_render(render_and_track(args, reg))
    if not args.skip_grid:
        grid(reg)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None)
