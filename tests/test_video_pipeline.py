"""The video pipeline around the regressor: resampling variable frame rates, neutral
calibration, region gains, causal smoothing, progress and cancelling."""
import numpy as np
import pytest

from faceforge.ml import arkit
from faceforge.ml.video import pipeline
from faceforge.ml.video.pipeline import VideoOptions
from faceforge.ml.steps import Cancelled


class MouthRegressor:
    """Stand-in for the trained regressor in plumbing tests: jawOpen from the inner-lip
    gap (landmarks 13/14) relative to face height, head yaw from the nose's offset."""

    def predict(self, landmarks, aspect=1.0):
        assert not np.isnan(landmarks).any()
        face = np.ptp(landmarks[:, :, 1], axis=1)
        weights = np.zeros((len(landmarks), arkit.NUM_SHAPES), dtype=np.float32)
        weights[:, arkit.INDEX["jawOpen"]] = np.clip(
            8 * (landmarks[:, 14, 1] - landmarks[:, 13, 1]) / face, 0, 1)
        rotation = np.zeros((len(landmarks), 3), dtype=np.float32)
        rotation[:, 2] = landmarks[:, 1, 0] - landmarks[:, :, 0].mean(axis=1)
        return weights, rotation


def test_resample_variable_rate():
    times = np.array([0.0, 0.03, 0.1, 0.11, 0.2])
    values = np.stack([times * 10, -times], axis=1).astype(np.float32)
    grid = pipeline.uniform_times(times, 25.0)
    np.testing.assert_allclose(grid, np.arange(6) * 0.04)
    np.testing.assert_allclose(pipeline.resample(times, values, grid)[:, 0], grid * 10, atol=1e-5)
    one = pipeline.resample(times[:1], values[:1], grid)
    assert one.shape == (6, 2) and (one == values[0]).all()


def test_calibration_removes_the_actors_neutral():
    rng = np.random.default_rng(0)
    t = np.arange(200) / 30
    truth = np.zeros((200, arkit.NUM_SHAPES), dtype=np.float32)
    truth[100:130, arkit.INDEX["jawOpen"]] = 0.8
    truth[50:55, arkit.INDEX["eyeBlinkLeft"]] = 1.0
    resting = rng.uniform(0, 0.3, arkit.NUM_SHAPES).astype(np.float32)  # e.g. a resting smile
    seen = resting + truth * (1 - resting)
    rot = np.tile([0.1, 0.0, 0.2], (200, 1)).astype(np.float32)
    w, r, neutral = pipeline.calibrate(seen, rot, t, "auto")
    np.testing.assert_allclose(neutral, resting, atol=1e-6)
    np.testing.assert_allclose(w, truth, atol=1e-5)
    np.testing.assert_allclose(r, 0, atol=1e-6)
    w2, _, neutral2 = pipeline.calibrate(seen, rot, t, (0.0, 1.0))  # a neutral stretch
    np.testing.assert_allclose(neutral2, resting, atol=1e-6)
    w3, r3, _ = pipeline.calibrate(seen, rot, t, "none")
    assert w3 is seen and r3 is rot
    with pytest.raises(ValueError, match="outside the clip"):
        pipeline.calibrate(seen, rot, t, (10.0, 11.0))


def test_gains_and_options_checked():
    w = np.full((3, arkit.NUM_SHAPES), 0.5, dtype=np.float32)
    g = pipeline.apply_gains(w, {"mouth": 1.6, "brow": 0.0})
    assert (g[:, arkit.region_mask("mouth")] == 0.8).all()
    assert (g[:, arkit.region_mask("brow")] == 0).all()
    assert (g[:, arkit.region_mask("jaw")] == 0.5).all()
    for bad in (VideoOptions(calibration="sometimes"), VideoOptions(calibration=(2, 1)),
                VideoOptions(gains={"ears": 1}), VideoOptions(smoothing=-1)):
        with pytest.raises(ValueError):
            bad.check()


def test_smoothing_is_causal():
    x = np.zeros((60, 2), dtype=np.float32)
    x[30:] = 1.0
    y = pipeline.smooth(x, 30.0, 0.1)
    assert (y[:30] == 0).all() and 0 < y[30, 0] < 0.5 and y[-1, 0] > 0.99
    assert pipeline.smooth(x, 30.0, 0.0) is x


def test_analyse_grid_clip(shared_data):
    clip = shared_data / "video" / "grid" / "bbaf2n.mpg"  # 3 s, 25 fps, speaking
    shares = []
    res = pipeline.analyse_video(clip, 30.0, VideoOptions(method="regressor"), regressor=MouthRegressor(),
                                 progress=shares.append)
    assert res.weights.shape == (90, arkit.NUM_SHAPES) and res.head_rotation.shape == (90, 3)
    assert res.tracked == 1.0 and res.duration == pytest.approx(3.0)
    assert shares == sorted(shares) and shares[-1] == 1.0 and len(shares) == 75
    jaw = res.weights[:, arkit.INDEX["jawOpen"]]
    assert jaw.max() > 0.3 and np.quantile(jaw, 0.1) < 0.05  # speech opens, calibration rests
    calls = []
    with pytest.raises(Cancelled):
        pipeline.analyse_video(clip, 30.0, VideoOptions(method="regressor"), regressor=MouthRegressor(),
                               cancel=lambda: calls.append(1) or len(calls) > 10)
    with pytest.raises(ValueError, match="no such video"):
        pipeline.analyse_video(clip.with_name("missing.mp4"), 30.0, regressor=MouthRegressor())
