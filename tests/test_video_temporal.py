"""The landmarker method's causal temporal network: the numpy runtime against torch, causality
(frame t unchanged when later frames change), the untrained network is the fixed blend,
and the bake through the shipped network."""
import numpy as np
import pytest

from faceforge.ml import arkit
from faceforge.ml.video import refine
from faceforge.ml.video.temporal import DEFAULT_WEIGHTS, TemporalNet, load_temporal

T, PCS, FEATS = 70, 4, 30


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    shapes = rng.uniform(-0.1, 0.8, (T, 52)).astype(np.float32)
    regressed = rng.uniform(-0.1, 0.8, (T, 52)).astype(np.float32)
    rotation = rng.normal(0, 0.1, (T, 3)).astype(np.float32)
    features = rng.normal(0, 1, (T, FEATS)).astype(np.float32)
    return shapes, regressed, rotation, features


def _export(tmp_path, zero_out: bool = False, per_shape: bool = False):
    torch = pytest.importorskip("torch")
    from lab.video.model import FacsNet
    from lab.video.train_temporal import export
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    n_in = 4 + 52 if per_shape else 52 + 52 + 3 + PCS
    net = FacsNet(n_in, width=16, dilations=(1, 2, 4), n_out=1 if per_shape else 52)
    if zero_out:
        torch.nn.init.zeros_(net.out.weight), torch.nn.init.zeros_(net.out.bias)
    z = {"pca_mean": rng.normal(size=FEATS).astype(np.float32),
         "pca_components": rng.normal(size=(8, FEATS)).astype(np.float32)}
    in_mean, in_std = rng.normal(size=n_in).astype(np.float32), rng.uniform(0.5, 2, n_in).astype(np.float32)
    path = tmp_path / "temporal.npz"
    export(net, in_mean, in_std, z, PCS, path, {"per_shape": per_shape})
    with np.load(path) as data:
        return net, TemporalNet({k: data[k] for k in data.files}), z, in_mean, in_std


def test_numpy_matches_torch(tmp_path):
    import torch
    net, tnet, z, in_mean, in_std = _export(tmp_path)
    shapes, regressed, rotation, features = _inputs()
    pcs = (features - z["pca_mean"]) @ z["pca_components"][:PCS].T
    x = np.concatenate([shapes, regressed, rotation, pcs], 1)
    with torch.no_grad():
        delta = net(torch.from_numpy(((x - in_mean) / in_std).astype(np.float32))[None])[0].numpy()
    ref = np.clip(refine.blend(shapes, regressed) + delta, 0, 1)
    ref[:, refine.TONGUE] = 0
    assert tnet.receptive_field == 15
    assert np.allclose(tnet.predict(shapes, regressed, rotation, features), ref, atol=1e-4)


def test_shape_shared_numpy_matches_torch(tmp_path):
    import torch
    from faceforge.ml.video.temporal import per_shape_inputs
    net, tnet, _, in_mean, in_std = _export(tmp_path, per_shape=True)
    shapes, regressed, rotation, features = _inputs(1)
    x = (per_shape_inputs(shapes, regressed) - in_mean) / in_std   # [T,52,C]
    with torch.no_grad():
        delta = net(torch.from_numpy(x.astype(np.float32)).permute(1, 0, 2))[..., 0].T.numpy()
    ref = np.clip(refine.blend(shapes, regressed) + delta, 0, 1)
    ref[:, refine.TONGUE] = 0
    assert np.allclose(tnet.predict(shapes, regressed, rotation, features), ref, atol=1e-4)


@pytest.mark.parametrize("per_shape", [False, True])
def test_causal(tmp_path, per_shape):
    _, tnet, *_ = _export(tmp_path, per_shape=per_shape)
    inputs = _inputs()
    out = tnet.predict(*inputs)
    rng = np.random.default_rng(5)
    changed = [a.copy() for a in inputs]
    for a in changed:
        a[40:] += rng.normal(0, 0.3, a[40:].shape).astype(np.float32)
    out2 = tnet.predict(*changed)
    assert np.array_equal(out[:40], out2[:40])
    assert not np.allclose(out[40:], out2[40:])


def test_untrained_network_is_the_fixed_blend(tmp_path):
    _, tnet, *_ = _export(tmp_path, zero_out=True)
    shapes, regressed, rotation, features = _inputs(2)
    expect = np.clip(refine.blend(shapes, regressed), 0, 1)
    assert np.allclose(tnet.predict(shapes, regressed, rotation, features), expect, atol=1e-6)


def test_video_like_variants():
    from faceforge.ml.arkit import MIRROR
    from lab.video.render_training import degrade
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 24, 32, 3), dtype=np.uint8)
    assert np.array_equal(degrade(frames, "clean", rng), frames)
    assert np.array_equal(degrade(frames, "mirror", rng), frames[:, :, ::-1])
    for variant in ("jpeg", "noisy", "mirror_noisy"):
        out = degrade(frames, variant, rng)
        assert out.shape == frames.shape and out.dtype == np.uint8 and not np.array_equal(out, frames)
    assert MIRROR[arkit.INDEX["eyeBlinkLeft"]] == arkit.INDEX["eyeBlinkRight"]


def test_actor_calibration_scales_to_the_actors_own_range():
    from faceforge.ml.video.temporal import actor_scaled, temporal_inputs
    rng = np.random.default_rng(3)
    big, small = rng.uniform(0, 0.9, 500), rng.uniform(0, 0.3, 500)
    still = np.full(500, 0.02)
    out = actor_scaled(np.stack([big, small, still], 1))
    assert np.allclose(np.quantile(out[:, :2], refine.RANGE_QUANTILE, axis=0), 1.0)
    assert np.allclose(out[:, 2], 0.02 / refine.MIN_SPAN)  # a shape the actor never moves is not blown up
    shapes, regressed, rotation, features = _inputs()
    x = temporal_inputs(shapes, regressed, rotation, features[:, :PCS], calibrated=True)
    assert x.shape == (T, 52 + 52 + 3 + PCS + 104)


def test_bake_path_through_a_temporal_network(shared_data, tmp_path):
    """pipeline.temporal_solve on a real clip's Face Landmarker track: the network runs at
    30 fps and its output comes back at the clip's 25 fps, in range, tongueOut 0."""
    import cv2
    from faceforge.ml.video.decode import open_video
    from faceforge.ml.video.landmarker import track_face
    from faceforge.ml.video.pipeline import temporal_solve
    from faceforge.ml.video.regressor import load_regressor
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (_, rgb) in enumerate(open_video(shared_data / "video" / "grid" / "bbaf2n.mpg")):
        if i == 20:
            break
        cv2.imwrite(str(frames / f"f{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    face = track_face(open_video(frames, fps=25.0))
    _, tnet, *_ = _export(tmp_path, per_shape=True)
    grid, weights, rotation, neutral = temporal_solve(face, 25.0, "auto", load_regressor(), tnet)
    assert weights.shape == (20, arkit.NUM_SHAPES) and rotation.shape == (20, 3) and len(grid) == 20
    assert np.isfinite(weights).all() and (weights >= 0).all() and (weights <= 1).all()
    assert (weights[:, arkit.INDEX["tongueOut"]] == 0).all() and neutral.shape == (52,)
