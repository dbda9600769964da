"""Tracker map: the fitters recover a known gain, correction basis, pose bias, linear map,
neutral gain and noise structure from synthetic pairs with per-clip offsets; the map
applies to a model; the correlated noise has the fitted spread."""
import numpy as np

from lab.video.face_model import LandmarkModel, pose_terms, posed
from lab.video.synth import Noise, correlated_noise
from lab.video.tracker_map import (apply_map, centre, fit_correction, fit_gain, fit_linear_map,
                                            fit_neutral_gain, fit_residual_noise)
from lab.video.train import load_models


def _pairs(rng, clips: int = 30, frames: int = 40, points: int = 12):
    """Random weights, head Euler and analytic landmarks per clip, clip labels and
    per-clip constant offsets (which the fits must ignore)."""
    n = clips * frames
    weights = rng.uniform(0, 1, (n, 52)) * (rng.random((n, 52)) < 0.2)
    euler = rng.uniform(-0.4, 0.4, (n, 3))
    analytic = rng.normal(0, 0.01, (n, points, 3))
    labels = np.repeat(np.arange(clips), frames)
    offsets = rng.normal(0, 0.05, (clips, points, 3))[labels]
    return weights, euler, analytic, labels, offsets


def test_centre_removes_clip_means():
    x = np.arange(12.0).reshape(6, 2)
    c = centre(x, np.array([0, 0, 0, 1, 1, 1]))
    assert np.allclose(c[:3].mean(0), 0) and np.allclose(c[3:].mean(0), 0)
    assert np.allclose(c, x - np.repeat([[2, 3], [8, 9]], 3, axis=0))


def test_fit_correction_recovers_shape_and_pose_bases():
    rng = np.random.default_rng(0)
    weights, euler, analytic, labels, offsets = _pairs(rng)
    shape = rng.normal(0, 0.003, (52, 12, 3))
    pose = rng.normal(0, 0.003, (9, 12, 3))
    reg = np.concatenate([weights, pose_terms(euler)], axis=1)
    tracked = analytic + np.tensordot(reg, np.concatenate([shape, pose]), axes=1) + offsets
    basis = fit_correction(reg, analytic, tracked, labels, ridge=1e-8)
    assert np.allclose(basis[:52], shape, atol=1e-4) and np.allclose(basis[52:], pose, atol=1e-4)


def test_fit_linear_map_recovers_a_known_map():
    rng = np.random.default_rng(1)
    _, _, analytic, labels, offsets = _pairs(rng, points=5)
    m = np.eye(15) + rng.normal(0, 0.1, (15, 15))
    tracked = (analytic.reshape(len(analytic), -1) @ m).reshape(analytic.shape) + offsets
    assert np.allclose(fit_linear_map(analytic, tracked, labels, ridge=1e-8), m, atol=1e-3)
    # A strong ridge shrinks toward the identity (no map), not toward zero.
    assert np.abs(fit_linear_map(analytic, tracked, labels, ridge=1e6) - np.eye(15)).max() < 1e-3


def test_fit_gain_and_neutral_gain():
    rng = np.random.default_rng(3)
    _, _, analytic, labels, offsets = _pairs(rng)
    assert np.isclose(fit_gain(analytic, 0.4 * analytic + offsets, labels), 0.4, atol=1e-3)
    neutral = rng.normal(0, 0.01, (50, 20, 3))
    gain = np.array([0.6, 0.1, 0.7])
    assert np.allclose(fit_neutral_gain(neutral, 0.3 + gain * neutral), gain, atol=1e-4)


def test_fit_residual_noise_finds_the_correlated_part():
    rng = np.random.default_rng(4)
    clips, frames, points = 40, 50, 30
    labels = np.repeat(np.arange(clips), frames)
    pattern = rng.normal(0, 1, (points, 3))
    pattern *= 0.05 / np.linalg.norm(pattern)
    score = np.concatenate([np.cumsum(rng.normal(0, 0.3, frames)) for _ in range(clips)])
    resid = score[:, None, None] * pattern + rng.normal(0, 0.001, (len(labels), points, 3))
    resid += rng.normal(0, 0.01, (clips, points, 3))[labels]
    noise = fit_residual_noise(resid, labels, components=1)
    direction = noise["basis"][0] / np.linalg.norm(noise["basis"][0])
    assert abs((direction * pattern).sum() / np.linalg.norm(pattern)) > 0.99
    assert noise["basis_rho"][0] > 0.7 and np.allclose(np.median(noise["offset"]), 0.01, rtol=0.3)
    assert np.allclose(np.median(noise["jitter"]), 0.001, rtol=0.2) and abs(noise["rho"]) < 0.2
    sim = correlated_noise(rng, 4000, Noise(noise["offset"], noise["jitter"], noise["rho"],
                                            basis=noise["basis"], basis_rho=noise["basis_rho"]), 2.0)
    b = noise["basis"][0].reshape(-1)
    scores = sim.reshape(len(sim), -1) @ b / (b @ b)     # unit-variance scores x face (2)
    assert np.isclose(scores.std(), 2.0, rtol=0.15)


def test_apply_map_and_pose_bias():
    rng = np.random.default_rng(2)
    model = LandmarkModel(rng.normal(0, 0.05, (478, 3)).astype(np.float32),
                          rng.normal(0, 0.005, (52, 478, 3)).astype(np.float32))
    shape = rng.normal(0, 0.001, (52, 478, 3)).astype(np.float32)
    pose = rng.normal(0, 0.001, (9, 478, 3)).astype(np.float32)
    ref = rng.normal(0, 0.05, (478, 3)).astype(np.float32)
    terms = dict(linear=np.eye(478 * 3, dtype=np.float32), gain=np.float32(0.5), shape=shape, pose=pose,
                 neutral_ref=ref, neutral_target=ref + 0.01, neutral_gain=np.array([0.5, 0.1, 0.5], np.float32))
    mapped = apply_map(model, terms)
    assert np.allclose(mapped.deltas, 0.5 * model.deltas + shape, atol=1e-6)
    assert np.allclose(mapped.neutral, ref + 0.01 + terms["neutral_gain"] * (model.neutral - ref), atol=1e-6)
    assert apply_map(model, {}).pose_bias is None and np.array_equal(apply_map(model, {}).deltas, model.deltas)
    w = rng.uniform(0, 1, (4, 52)).astype(np.float32)
    plain = LandmarkModel(mapped.neutral, mapped.deltas)
    still = np.zeros((4, 3), np.float32)
    assert np.allclose(posed(mapped, w, still), posed(plain, w, still))
    turned = np.array([[0.2, -0.1, 0.3]] * 4, np.float32)
    assert np.abs(posed(mapped, w, turned) - posed(plain, w, turned)).max() > 1e-5


def test_training_models_without_a_map_file(monkeypatch, tmp_path):
    """No tracker_map.npz: the mapped models are the response-corrected ones."""
    import lab.video.train as train
    head = LandmarkModel(np.zeros((478, 3), np.float32), np.ones((52, 478, 3), np.float32))
    monkeypatch.setattr(train, "load_model", lambda family, seed: head)
    monkeypatch.setattr(train, "TRACKER_MAP", tmp_path / "missing.npz")
    plain, mapped = load_models(["ict"], [0]), load_models(["ict"], [0], tracker_map=True)
    assert np.array_equal(plain[0].deltas, mapped[0].deltas) and mapped[0].pose_bias is None
