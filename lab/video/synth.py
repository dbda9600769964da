"""Random but plausible face performances for training and testing the video regressor:
sparse expression events, blinks as short pulses, speech-like jaw and lips, saccadic gaze,
smooth head paths and random cameras, turned into MediaPipe-style landmark sequences with
measured tracking noise."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from faceforge.ml.arkit import INDEX, MIRROR, NUM_SHAPES
from .face_model import Camera, LandmarkModel, euler_matrix, posed, project

GAZE = {"In": "eyeLookIn", "Out": "eyeLookOut", "Up": "eyeLookUp", "Down": "eyeLookDown"}
BLINK = [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]
SPEECH = [INDEX[n] for n in ("mouthFunnel", "mouthPucker", "mouthClose", "mouthLowerDownLeft",
                              "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
                              "mouthStretchLeft", "mouthStretchRight", "mouthRollLower",
                              "mouthRollUpper", "mouthPressLeft", "mouthPressRight",
                              "mouthShrugLower", "mouthShrugUpper")]
EXCLUSIVE = [(INDEX["jawLeft"], INDEX["jawRight"]), (INDEX["mouthLeft"], INDEX["mouthRight"])]
GAZE_IDX = {k: (INDEX[v + "Left"], INDEX[v + "Right"]) for k, v in GAZE.items()}
SIZES = ((640, 480), (480, 640), (1280, 720), (360, 288), (720, 1280))
FACE_HEIGHT_M = 0.2


@dataclass
class Noise:
    """Tracking noise in units of the face's height: per-landmark std of a per-clip offset
    [478] and of AR(1) jitter [478] with lag-one correlation `rho`; MediaPipe's depth is
    off by a per-clip factor with std `z_spread` around 1. Optionally correlated noise:
    components `basis` [K,478,3] (head frame, one std each) with unit-variance AR(1)
    scores of lag-one correlations `basis_rho` [K]."""
    offset: np.ndarray
    jitter: np.ndarray
    rho: float
    z_spread: float = 0.2
    basis: np.ndarray | None = None
    basis_rho: np.ndarray | None = None


def load_noise(path, fitted: dict | None = None) -> Noise:
    """The noise model measured by lab/video/measure_noise.py, or a rough default;
    offsets, jitter and correlated components from `fitted` (`noise.*` of the tracker
    map, measured on many tracked clips: ml/video/tracker_map.fit_residual_noise) win."""
    if not Path(path).exists():
        noise = Noise(np.full(478, 0.01, np.float32), np.full(478, 0.004, np.float32), 0.6)
    else:
        with np.load(path) as z:
            noise = Noise(z["offset"], z["jitter"], float(z["rho"]), float(max(np.std(z["z_scale"]), 0.1)))
    if fitted and "noise.basis" in fitted:
        noise = replace(noise, offset=fitted["noise.offset"], jitter=fitted["noise.jitter"],
                        rho=float(fitted["noise.rho"]), basis=fitted["noise.basis"],
                        basis_rho=fitted["noise.basis_rho"])
    return noise


def _smooth_noise(rng, t: int, n: int, cutoff: float) -> np.ndarray:
    """[t, n] smooth zero-mean unit-ish noise, band-limited to `cutoff` cycles/frame."""
    spec = rng.normal(size=(t // 2 + 1, n)) + 1j * rng.normal(size=(t // 2 + 1, n))
    freq = np.fft.rfftfreq(t)
    spec *= np.exp(-0.5 * (freq / max(cutoff, 1e-3)) ** 2)[:, None]
    spec[0] = 0
    x = np.fft.irfft(spec, n=t, axis=0)
    return x / (x.std(axis=0, keepdims=True) + 1e-9)


def _envelope(t: int, start: int, stop: int, ramp: float) -> np.ndarray:
    """[t] 0..1 smooth plateau from start to stop with smoothstep ramps of `ramp` frames."""
    i = np.arange(t)
    up = np.clip((i - start) / max(ramp, 1.0) + 1.0, 0, 1)
    down = np.clip((stop - i) / max(ramp, 1.0) + 1.0, 0, 1)
    u = np.minimum(up, down)
    return u * u * (3 - 2 * u)


def random_weights(rng: np.random.Generator, t: int, fps: float,
                   hold_neutral: int = 0) -> np.ndarray:
    """[t, 52] float32 ARKit weights of one performance (see module docstring)."""
    w = np.zeros((t, NUM_SHAPES))
    seconds = t / fps
    # Expression events: 1-4 shapes (often mirrored), attack/hold/release.
    for _ in range(rng.poisson(1.5 * seconds) + 1):
        shapes = rng.choice(NUM_SHAPES, size=rng.integers(1, 5), replace=False)
        shapes = np.unique(np.concatenate([shapes, MIRROR[shapes[rng.random(len(shapes)) < 0.6]]]))
        start = rng.integers(-t // 4, t)
        length = rng.uniform(0.3, 2.5) * fps
        env = _envelope(t, start, start + length, rng.uniform(0.08, 0.4) * fps)
        w[:, shapes] = np.maximum(w[:, shapes], env[:, None] * rng.uniform(0.2, 1.0, len(shapes)))
    # Speech-like jaw and lips in some clips: band-limited syllable rhythm.
    if rng.random() < 0.5:
        talk = _envelope(t, rng.integers(-t // 2, t // 2), rng.integers(t // 2, 2 * t), 0.2 * fps)
        syll = np.clip(_smooth_noise(rng, t, 1 + len(SPEECH), 4.0 / fps), 0, None)
        w[:, INDEX["jawOpen"]] += talk * rng.uniform(0.2, 0.7) * syll[:, 0]
        w[:, SPEECH] += talk[:, None] * rng.uniform(0.0, 0.5, len(SPEECH)) * syll[:, 1:] \
            * (rng.random(len(SPEECH)) < 0.4)
    # Blinks: 100-250 ms pulses every 1.5-6 s, mostly both eyes.
    at = 0.0
    while True:
        at += rng.uniform(1.5, 6.0) * fps
        if at >= t:
            break
        half = rng.uniform(0.05, 0.12) * fps
        pulse = np.clip(1.0 - np.abs(np.arange(t) - at) / half, 0, 1) ** 0.7
        eyes = BLINK if rng.random() < 0.9 else [BLINK[rng.integers(2)]]
        w[:, eyes] = np.maximum(w[:, eyes], pulse[:, None] * rng.uniform(0.8, 1.0))
    # Gaze: fixations joined by fast saccades, conjugate for both eyes.
    if rng.random() < 0.7:
        n_fix = rng.poisson(seconds / 1.2) + 1
        times = np.sort(rng.integers(0, t, n_fix))
        targets = rng.uniform(-1, 1, (n_fix, 2)) * rng.uniform(0.3, 1.0)
        idx = np.searchsorted(times, np.arange(t), side="right") - 1
        gaze = np.where(idx[:, None] >= 0, targets[np.maximum(idx, 0)], 0.0)
        k = np.ones(max(2, int(0.05 * fps))) / max(2, int(0.05 * fps))
        gaze = np.stack([np.convolve(gaze[:, j], k, mode="full")[:t] for j in range(2)], 1)
        h, v = gaze[:, 0], gaze[:, 1]  # +h: toward the subject's left
        w[:, GAZE_IDX["Out"][0]] += np.clip(h, 0, None)
        w[:, GAZE_IDX["In"][1]] += np.clip(h, 0, None)
        w[:, GAZE_IDX["In"][0]] += np.clip(-h, 0, None)
        w[:, GAZE_IDX["Out"][1]] += np.clip(-h, 0, None)
        w[:, list(GAZE_IDX["Up"])] += np.clip(v, 0, None)[:, None]
        w[:, list(GAZE_IDX["Down"])] += np.clip(-v, 0, None)[:, None]
    for a, b in EXCLUSIVE:  # one direction at a time
        d = w[:, a] - w[:, b]
        w[:, a], w[:, b] = np.clip(d, 0, None), np.clip(-d, 0, None)
    if hold_neutral:
        w[:hold_neutral] = 0
    return np.clip(w, 0, 1).astype(np.float32)


def random_head_path(rng: np.random.Generator, t: int, fps: float,
                     scale: float = 1.0) -> np.ndarray:
    """[t, 3] XYZ Euler radians: smooth head motion (pitch +-20, roll +-10, yaw +-35 deg)."""
    limits = np.radians([20.0, 10.0, 35.0]) * scale
    base = rng.uniform(-0.5, 0.5, 3) * limits
    drift = _smooth_noise(rng, t, 3, rng.uniform(0.1, 0.6) / fps) * 0.35 * limits
    return np.clip(base + drift * rng.uniform(0, 1), -limits, limits).astype(np.float32)


def random_camera(rng: np.random.Generator, size: tuple[int, int] | None = None) -> Camera:
    """A phone/webcam-like camera framing the face at 25-70 % of the image height
    (`size` fixes the frame size, e.g. for rendering; default: one of SIZES)."""
    size = SIZES[rng.integers(len(SIZES))] if size is None else size
    lens = rng.uniform(20.0, 85.0)
    frac = rng.uniform(0.25, 0.7)
    cam = Camera(1.0, lens, (0.0, 0.0), size)
    distance = cam.focal_px * FACE_HEIGHT_M / (frac * size[1])
    room = np.array(size) / cam.focal_px * distance * (1 - frac) * 0.3
    return Camera(float(distance), float(lens), tuple(rng.uniform(-1, 1, 2) * room), size)


def correlated_noise(rng: np.random.Generator, t: int, noise: Noise, face: float) -> np.ndarray:
    """[t,478,3] head-frame offsets (metres for a face `face` m high) from the noise's
    components, with stationary unit-variance AR(1) scores."""
    rho = np.clip(noise.basis_rho.astype(np.float64), 0.0, 0.999)
    white = rng.standard_normal((t, len(rho))) * np.sqrt(1 - rho ** 2)
    white[0] /= np.sqrt(1 - rho ** 2)                # frame 0 drawn from the stationary law
    scores = np.stack([lfilter([1.0], [1.0, -r], white[:, k]) for k, r in enumerate(rho)], axis=1)
    return (np.tensordot(scores, noise.basis, axes=1) * face).astype(np.float32)


def add_noise(rng: np.random.Generator, lm: np.ndarray, noise: Noise, aspect: float) -> np.ndarray:
    """Landmarks [t,478,3] plus per-clip offsets and AR(1) jitter, both in units of the
    face's height in pixels (x and z are normalised by the width: divided by `aspect`)."""
    face = np.ptp(lm[0, :, 1])
    unit = (face * np.array([1.0 / aspect, 1.0, 1.0 / aspect])).astype(np.float32)
    off = rng.standard_normal(lm.shape[1:], np.float32) * noise.offset[:, None]
    white = rng.standard_normal(lm.shape, np.float32) * noise.jitter[None, :, None]
    jitter = lfilter([np.sqrt(1 - noise.rho ** 2)], [1.0, -noise.rho], white, axis=0)
    out = lm + (off[None] + jitter) * unit
    z = out[..., 2]
    out[..., 2] = (z - z.mean(-1, keepdims=True)) * max(0.3, 1 + rng.normal() * noise.z_spread)
    return out.astype(np.float32)


@dataclass
class Clip:
    """A synthetic clip: truth weights [t,52], head Euler [t,3], landmarks [t,478,3]."""
    weights: np.ndarray
    euler: np.ndarray
    landmarks: np.ndarray
    camera: Camera
    fps: float


def random_clip(rng: np.random.Generator, model: LandmarkModel, t: int,
                noise: Noise | None = None, fps: float | None = None) -> Clip:
    """One performance of `model` seen through a random camera, with tracking noise."""
    fps = float(fps or rng.choice([24.0, 25.0, 30.0, 30.0, 60.0]))
    weights = random_weights(rng, t, fps)
    euler = random_head_path(rng, t, fps)
    cam = random_camera(rng)
    points = posed(model, weights, euler)
    if noise is not None and noise.basis is not None:
        wobble = correlated_noise(rng, t, noise, float(np.ptp(model.neutral[:468, 2])))
        points = points + np.matmul(wobble, euler_matrix(euler).transpose(0, 2, 1).astype(np.float32))
    lm = project(points, cam)
    if noise is not None:
        lm = add_noise(rng, lm, noise, cam.size[0] / cam.size[1])
    return Clip(weights, euler, lm, cam, fps)
