"""FACS regressor: camera and pose conventions, landmark binding, normalisation, the
numpy runtime against torch, causality, the committed model's outputs, the baseline."""
import numpy as np
import pytest

from faceforge.ml.video import regressor as regressor_mod
from lab.video.baseline import PerFrameBaseline
from lab.video.face_model import (Camera, LandmarkModel, euler_matrix, matrix_euler,
                                           posed, project, ray_cast, rays)
from faceforge.ml.video.features import frame_features, similarity, to_metric
from lab.video.metrics import dead_channels, jitter, shape_scores, static_mask
from faceforge.ml.video.regressor import FacsRegressor, load_regressor
from lab.video.synth import load_noise, random_clip, random_weights


@pytest.fixture(scope="module")
def committed():
    return load_regressor()


def _model(reg: FacsRegressor, seed: int = 0) -> LandmarkModel:
    """A landmark model on the committed template with random deltas (~5 mm) that leave
    the stable landmarks (the pose fit's) still, as real expressions mostly do."""
    rng = np.random.default_rng(seed)
    deltas = rng.normal(0, 0.005, (52, 478, 3)).astype(np.float32)
    deltas[:, reg.stable > 0] = 0
    return LandmarkModel(reg.template.astype(np.float32), deltas)


def test_projection_follows_mediapipe_convention():
    cam = Camera(0.5, 50.0)
    pts = np.array([[0, 0, 0], [0.05, 0, 0], [0, 0, 0.05], [0, -0.05, 0], [0, 0.05, 0]], np.float32)
    lm = project(pts, cam)
    assert np.allclose(lm[0, :2], 0.5)
    assert lm[1, 0] > 0.5 and np.isclose(lm[1, 1], 0.5)   # subject's left (+X) -> image right
    assert lm[2, 1] < 0.5                                  # up (+Z) -> image top
    assert lm[3, 2] < lm[0, 2] < lm[4, 2]                  # nearer the camera -> smaller z
    # z is on x's pixel scale: a depth step dz at the reference depth ~ dz * f / depth / width
    depth = 0.5 + pts[:, 1].mean()
    assert np.isclose(lm[4, 2] - lm[0, 2], 0.05 * cam.focal_px / depth / 640, rtol=1e-4)
    # The ray through a projected point passes through the point.
    d = rays(lm[1:2], cam)[0]
    origin = np.array([0.0, -0.5, 0.0])
    v = pts[1] - origin
    assert np.allclose(np.cross(d, v / np.linalg.norm(v)), 0, atol=1e-6)


def test_euler_matches_blender():
    mathutils = pytest.importorskip("bpy") and pytest.importorskip("mathutils")
    e = np.array([0.3, -0.2, 0.7])
    ref = np.array(mathutils.Euler(e.tolist(), "XYZ").to_matrix())
    assert np.allclose(euler_matrix(e), ref, atol=1e-6)
    assert np.allclose(matrix_euler(euler_matrix(e)), e, atol=1e-6)


def test_ray_cast_barycentric():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 1, 0], [0, 1, 1]], np.float64)
    tris = np.array([[3, 4, 5], [0, 1, 2]])                # the nearer triangle listed second
    origin = np.array([0.2, -1.0, 0.3])
    tri, bary = ray_cast(origin, np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]), verts, tris)
    assert tri.tolist() == [1, -1]
    assert np.allclose(bary[0] @ verts[tris[1]], [0.2, 0, 0.3])


def test_similarity_recovers_pose_and_features_are_invariant(committed):
    tpl = committed.template
    rot = euler_matrix(np.array([0.2, -0.1, 0.4]))
    pts = 3.0 * tpl @ rot.T + np.array([0.1, 0.0, -0.2])
    r, s, t = similarity(pts[None], tpl, committed.stable)
    assert np.allclose(r[0], rot, atol=1e-6) and np.isclose(s[0], 3.0)
    # MediaPipe-normalised landmarks of the same head at two sizes and positions in the
    # image give the same shape features (orthographic view: similarity only).
    def mp(p, aspect):
        return np.stack([p[:, 0] / aspect + 0.5, 0.5 - p[:, 2], p[:, 1] / aspect], 1)[None]
    a = frame_features(mp(0.8 * tpl @ rot.T, 1.5), 1.5, tpl, committed.stable, committed.subset)[0]
    b = frame_features(mp(1.3 * tpl @ rot.T + [0.1, 0, 0.05], 1.5), 1.5, tpl, committed.stable,
                       committed.subset)[0]
    shape = slice(0, a.shape[1] - 3)
    assert np.allclose(a[:, shape], b[:, shape], atol=1e-4)
    assert np.allclose(to_metric(mp(tpl, 1.5), 1.5)[0], tpl, atol=1e-9)


def _random_export(tmp_path, reg):
    torch = pytest.importorskip("torch")
    from lab.video.model import FacsNet
    from lab.video.train import export
    torch.manual_seed(0)
    n_in = 2 * len(reg.subset) * 3 + 3
    net = FacsNet(n_in, width=32, dilations=(1, 2, 4))
    for p in net.parameters():
        p.data.normal_(0, 0.2)
    mean, std = torch.randn(n_in), torch.rand(n_in) + 0.5
    path = tmp_path / "r.npz"
    export(net, mean, std, reg.template, reg.stable, reg.subset, path, {"families": "test"})
    return net, mean, std, load_regressor(path)


def test_numpy_matches_torch(tmp_path, committed, monkeypatch):
    torch = pytest.importorskip("torch")
    net, mean, std, reg = _random_export(tmp_path, committed)
    assert reg.receptive_field == 1 + 2 * (1 + 2 + 4)
    x = np.random.default_rng(1).normal(size=(70, len(mean))).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)[None])[0].numpy()
    assert np.allclose(reg.network(x), ref, atol=1e-4)
    monkeypatch.setattr(regressor_mod, "CHUNK", 16)      # chunked long clips: same outputs
    assert np.allclose(reg.network(x), ref, atol=1e-4)


def test_causal(tmp_path, committed):
    _, _, _, reg = _random_export(tmp_path, committed)
    clip = random_clip(np.random.default_rng(3), _model(committed), 60, load_noise("missing"))
    w, e = reg.predict(clip.landmarks, 4 / 3)
    changed = clip.landmarks.copy()
    changed[40:] += np.random.default_rng(4).normal(0, 0.01, changed[40:].shape).astype(np.float32)
    w2, e2 = reg.predict(changed, 4 / 3)
    assert np.array_equal(w[:40], w2[:40]) and np.array_equal(e[:40], e2[:40])
    assert not np.allclose(w[40:], w2[40:])


def test_predict_in_chunks_equals_the_whole_clip(committed, monkeypatch):
    """Long clips stream through features and network a chunk at a time (the running
    neutral and the receptive field carried over): the same outputs as one pass."""
    clip = random_clip(np.random.default_rng(6), _model(committed), 90, load_noise("missing"))
    x, rot = committed.features(clip.landmarks, 4 / 3)
    raw = committed.network(x)
    monkeypatch.setattr(regressor_mod, "CHUNK", 16)
    streamed, srot = committed._stream(clip.landmarks, 4 / 3)
    assert np.allclose(streamed, raw, atol=1e-5) and np.allclose(srot, rot)
    w, e = committed.predict(clip.landmarks, 4 / 3)
    monkeypatch.setattr(regressor_mod, "CHUNK", 1024)
    w2, e2 = committed.predict(clip.landmarks, 4 / 3)
    assert np.allclose(w, w2, atol=1e-5) and np.allclose(e, e2, atol=1e-5)


def test_committed_predict_shapes_and_ranges(committed):
    clip = random_clip(np.random.default_rng(5), _model(committed), 50, load_noise("missing"))
    w, e = committed.predict(clip.landmarks, clip.camera.size[0] / clip.camera.size[1])
    assert w.shape == (50, 52) and w.dtype == np.float32 and (w >= 0).all() and (w <= 1).all()
    assert e.shape == (50, 3) and e.dtype == np.float32 and np.isfinite(e).all()
    assert committed.receptive_field > 1
    with pytest.raises(ValueError):
        committed.predict(np.full((3, 478, 3), np.nan, np.float32))
    assert committed.predict(np.zeros((0, 478, 3), np.float32))[0].shape == (0, 52)


def test_committed_head_rotation(committed):
    """A still neutral head turned by a known rotation: the predicted Euler follows it."""
    model = LandmarkModel(committed.template.astype(np.float32), np.zeros((52, 478, 3), np.float32))
    truth = np.array([[0.15, 0.05, -0.3]] * 20, np.float32)
    lm = project(posed(model, np.zeros((20, 52), np.float32), truth), Camera(1.0, 85.0))
    _, e = committed.predict(lm, 4 / 3)
    assert np.degrees(np.abs(e[-1] - truth[-1])).max() < 6.0


def test_baseline_recovers_noise_free_weights(committed):
    model = _model(committed, seed=2)
    w = random_weights(np.random.default_rng(6), 40, 30.0, hold_neutral=10)
    lm = project(posed(model, w, np.zeros((40, 3), np.float32)), Camera(3.0, 200.0))
    base = PerFrameBaseline([model], committed.template, committed.stable)
    pred, _ = base.predict(lm, 4 / 3)
    assert np.abs(pred - w).max() < 0.05


def test_metrics():
    t = np.zeros((40, 52))
    t[:, 0] = np.sin(np.arange(40) / 3)
    t[:, 1] = np.cos(np.arange(40) / 3)
    p = t.copy()
    p[:, 1] = 0.3
    s = shape_scores(t, p)
    assert np.isclose(s["corr"][0], 1.0) and np.isnan(s["corr"][2])
    assert dead_channels(s).tolist() == [i == 1 for i in range(52)]
    still = np.zeros((30, 52))
    assert static_mask(still).all()
    noisy = still + np.random.default_rng(0).normal(0, 0.01, still.shape)
    assert jitter(noisy, static_mask(still)) > jitter(still, static_mask(still)) == 0.0


def test_random_performances_are_plausible():
    from faceforge.ml.arkit import INDEX
    w = random_weights(np.random.default_rng(8), 600, 30.0, hold_neutral=10)
    assert w.shape == (600, 52) and (w >= 0).all() and (w <= 1).all() and not w[:10].any()
    for a, b in (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")):
        assert not ((w[:, INDEX[a]] > 0) & (w[:, INDEX[b]] > 0)).any()
    blink = w[:, INDEX["eyeBlinkLeft"]] > 0.7
    assert 1 <= (np.diff(blink.astype(int)) == 1).sum() and blink.mean() < 0.3
    assert (w > 0.05).mean() < 0.4   # sparse: most shapes rest most of the time
