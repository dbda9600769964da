"""The Face Landmarker path of Bake Video on a few frames of a real GRID clip: landmarks,
ARKit-ordered blendshapes and head rotation per frame; the bundled model's identity; the
refinements on top (fill-in shapes, per-actor ranges, the One Euro filter and the bake's
still-face filter built on it)."""
import hashlib

import cv2
import numpy as np
import pytest

from faceforge.ml import arkit
from faceforge.ml.video import landmarker, pipeline, refine
from faceforge.ml.video.decode import open_video
from faceforge.ml.video.landmarker import MP_TO_BLENDER, matrix_rotation, track_face
from faceforge.ml.video.rotation import euler_matrix, matrix_euler
from faceforge.ml.video.tracking import NUM_LANDMARKS, track

FRAMES = 12


@pytest.fixture(scope="module")
def clip_dir(shared_data, tmp_path_factory):
    """The first FRAMES frames of a GRID clip (a speaker facing the camera) as PNGs."""
    out = tmp_path_factory.mktemp("grid_frames")
    for i, (_, rgb) in enumerate(open_video(shared_data / "video" / "grid" / "bbaf2n.mpg")):
        if i == FRAMES:
            break
        cv2.imwrite(str(out / f"f{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return out


@pytest.fixture(scope="module")
def face(clip_dir):
    return track_face(clip_dir, two_trackers=True)


@pytest.fixture(scope="module")
def one(clip_dir):
    return track_face(clip_dir)


def test_bundled_model_is_googles_face_landmarker():
    digest = hashlib.sha256(landmarker.MODEL.read_bytes()).hexdigest()
    assert digest == landmarker.MODEL_SHA256
    assert landmarker.model_bytes() is landmarker.model_bytes()  # read once per process


def test_real_clip_gives_landmarks_blendshapes_and_head_pose(face, clip_dir):
    assert face.found.all() and face.landmarks.shape == (FRAMES, NUM_LANDMARKS, 3)
    bs = face.blendshapes
    assert bs.shape == (FRAMES, arkit.NUM_SHAPES) and np.isfinite(bs).all()
    assert (bs >= 0).all() and (bs <= 1).all()
    assert (bs[:, arkit.INDEX["tongueOut"]] == 0).all()  # the model has no tongueOut
    # The speaker looks at the camera: eyes open, no brow raise, head near frontal.
    assert bs[:, arkit.INDEX["eyeBlinkLeft"]].mean() < 0.5
    euler = np.degrees(matrix_euler(face.rotation.astype(np.float64)))
    assert np.abs(euler).max() < 15
    r = face.rotation[0].astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-4)
    # Same face, same mesh topology as Face Mesh's landmarks, which ride along (the
    # regressor reads them) and equal what Face Mesh alone reports.
    mesh = track(clip_dir)
    assert np.abs(mesh.landmarks[..., :2] - face.landmarks[..., :2]).mean() < 0.01
    np.testing.assert_allclose(face.mesh_landmarks, mesh.landmarks, atol=1e-6)


def test_numpy_blendshape_model_equals_the_face_landmarkers(face, one, clip_dir):
    """The blendshape model exported to numpy gives the Face Landmarker's own scores on its
    own landmarks; the one-tracker path reads it on Face Mesh's landmarks, frame by frame
    as tracked and in one batch alike."""
    from faceforge.ml.video.blendshape_mixer import load_mixer
    from faceforge.ml.video.landmarker import with_blendshapes
    mixer = load_mixer()
    assert mixer is load_mixer()  # loaded once per process
    np.testing.assert_allclose(mixer.scores(face.landmarks, face.size), face.blendshapes, atol=1e-4)
    assert one.rotation is None and one.mesh_landmarks is None
    np.testing.assert_allclose(one.landmarks, face.mesh_landmarks, atol=1e-6)
    np.testing.assert_allclose(one.blendshapes, with_blendshapes(track(clip_dir)).blendshapes, atol=1e-5)
    from faceforge.ml.video.landmarker import MeshTracker
    each = track_face(clip_dir, tracker=MeshTracker(each_frame=True))  # as live previews read it
    np.testing.assert_allclose(each.blendshapes, one.blendshapes, atol=1e-5)
    assert np.abs(one.blendshapes - face.blendshapes).mean() < 0.05
    assert (one.blendshapes[:, arkit.INDEX["tongueOut"]] == 0).all()


def test_one_tracker_reads_blendshapes_on_a_worker_thread_as_after_tracking(clip_dir, tmp_path, monkeypatch):
    """Found frames go to the blendshape model in batches on a worker thread while
    tracking goes on, a gap-filled frame is read on its filled landmarks afterwards: the
    same scores as reading the finished track in one batch."""
    from faceforge.ml.video.landmarker import with_blendshapes
    monkeypatch.setattr(landmarker, "CHUNK", 4)  # several batches on a short clip
    for i, p in enumerate(sorted(clip_dir.glob("*.png"))):
        img = cv2.imread(str(p))
        cv2.imwrite(str(tmp_path / p.name), img * 0 if i == 5 else img)  # one lost frame
    threaded = track_face(tmp_path)
    after = with_blendshapes(track(tmp_path))
    assert not threaded.found[5] and threaded.filled[5]
    np.testing.assert_allclose(threaded.blendshapes, after.blendshapes, atol=1e-5)
    assert np.isfinite(threaded.blendshapes).all()


def test_committed_blendshape_weights_are_the_export_of_the_bundled_task(shared_data):
    """ml/video/data/blendshape_mixer.npz is what lab/video/export_blendshapes.py reads out
    of the shipped face_landmarker.task, array for array."""
    pytest.importorskip("tflite")
    import zipfile
    from faceforge.ml.video.blendshape_mixer import MODEL
    from lab.video.export_blendshapes import extract, landmark_subset
    with zipfile.ZipFile(landmarker.MODEL) as z:
        arrays = extract(z.read("face_blendshapes.tflite"))
    arrays["landmarks"] = landmark_subset()
    committed = np.load(MODEL)
    assert sorted(committed.files) == sorted(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(committed[k], v)


def test_mirrored_frames_mirror_the_head_pose(face, clip_dir, tmp_path):
    """Flipping the image keeps the pitch (about X) and negates roll (Y) and yaw (Z)."""
    for p in sorted(clip_dir.glob("*.png")):
        cv2.imwrite(str(tmp_path / p.name), cv2.imread(str(p))[:, ::-1])
    flipped = track_face(tmp_path, two_trackers=True)
    euler = matrix_euler(face.rotation.astype(np.float64))
    mirrored = matrix_euler(flipped.rotation.astype(np.float64)) * [1, -1, -1]
    np.testing.assert_allclose(mirrored, euler, atol=np.radians(2.5))
    assert np.abs(euler[:, 1:]).max() > np.radians(1)  # not trivially frontal


def test_matrix_axes_to_blender():
    """MediaPipe turns about its y (up) axis -> Blender's Z; about x -> X; about z -> -Y."""
    t = 0.3
    c, s = np.cos(t), np.sin(t)
    ry = np.array([[c, 0, s, 0], [0, 1, 0, 0], [-s, 0, c, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(matrix_rotation(ry), euler_matrix(np.array([0, 0, t])), atol=1e-9)
    rx = np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(matrix_rotation(2.0 * rx), euler_matrix(np.array([t, 0, 0])), atol=1e-9)
    assert np.allclose(MP_TO_BLENDER @ [0, 0, 1], [0, -1, 0])  # the nose points at -Y


def test_bake_with_the_landmarker(clip_dir):
    res = pipeline.analyse_video(clip_dir, 30.0, pipeline.VideoOptions(method="landmarker"))
    assert res.weights.shape == (FRAMES, arkit.NUM_SHAPES) and res.head_rotation.shape == (FRAMES, 3)
    assert res.tracked == 1.0 and np.isfinite(res.weights).all()
    assert np.abs(np.degrees(res.head_rotation)).max() < 10  # relative to the neutral
    with pytest.raises(ValueError, match="method"):
        pipeline.VideoOptions(method="magic").check()


def test_one_euro_is_causal_steadies_still_input_and_follows_steps():
    rng = np.random.default_rng(0)
    x = np.full((120, 3), 0.2, np.float32) + rng.normal(0, 0.01, (120, 3)).astype(np.float32)
    x[60:] += 0.6
    y = refine.one_euro(x, 30.0)
    z = x.copy()
    z[80:] = 0.0
    np.testing.assert_array_equal(refine.one_euro(z, 30.0)[:80], y[:80])  # causal
    still = slice(10, 60)
    assert np.diff(y[still], axis=0).std() < 0.5 * np.diff(x[still], axis=0).std()
    assert (y[63] > 0.2 + 0.5 * 0.6).all()  # half the step within 3 frames (100 ms)


def _still_face(frames: int, rng) -> np.ndarray:
    """[frames, 478, 3] MediaPipe-normalised landmarks of a still face with detector noise,
    from the regressor's template (x right, y down in the image)."""
    from faceforge.ml.video.regressor import load_regressor
    t = load_regressor().template
    base = np.stack([0.5 + t[:, 0] * 2.0, 0.5 - t[:, 2] * 2.0, t[:, 1] * 2.0], axis=1)
    return base[None] + rng.normal(0, 2e-4, (frames, 478, 3))


def _motion(landmarks: np.ndarray) -> np.ndarray:
    from faceforge.ml.video.regressor import load_regressor
    reg = load_regressor()
    return refine.shape_motion(landmarks, 1.0, reg.template, reg.stable)


def test_shape_motion_follows_each_shapes_own_landmarks_not_the_head():
    rng = np.random.default_rng(1)
    lm = _still_face(60, rng)
    turned = lm.copy()
    turned[30:, :, 0] += 0.05                       # the whole head moves sideways
    lids = np.array(refine.SHAPE_LANDMARKS[arkit.INDEX["eyeBlinkLeft"]])
    lm[30:40, lids, 1] += np.linspace(0, 0.04, 10)[:, None]   # the left lids close
    still, moved = _motion(turned), _motion(lm)
    blink_l, blink_r, jaw = (arkit.INDEX[n] for n in ("eyeBlinkLeft", "eyeBlinkRight", "jawOpen"))
    assert still[31:].max() < 3 * still[1:30].mean()          # head motion removed
    assert moved[31:40, blink_l].mean() > 5 * moved[1:30, blink_l].mean()
    assert moved[31:40, blink_r].mean() < 2 * moved[1:30, blink_r].mean()
    assert moved[31:40, jaw].mean() < 2 * moved[1:30, jaw].mean()


def test_shape_motion_in_chunks_equals_one_pass(monkeypatch):
    lm = _still_face(50, np.random.default_rng(2))
    whole = _motion(lm)
    monkeypatch.setattr(refine, "CHUNK", 7)
    np.testing.assert_allclose(_motion(lm), whole, rtol=1e-5, atol=1e-9)


def test_still_face_filter_has_no_lag_holds_still_faces_and_opens_on_motion():
    rng = np.random.default_rng(3)
    t = np.arange(150)
    jaw, blink = arkit.INDEX["jawOpen"], arkit.INDEX["eyeBlinkLeft"]
    truth = np.zeros((150, arkit.NUM_SHAPES), np.float32)
    truth[:, jaw] = np.exp(-0.5 * ((t - 100) / 4.0) ** 2)      # a mouth opening at frame 100
    truth[:, blink] = np.exp(-0.5 * ((t - 60) / 1.5) ** 2)    # a blink at frame 60
    noisy = truth + rng.normal(0, 0.02, truth.shape).astype(np.float32)
    motion = np.full(truth.shape, 1.0, np.float32) + rng.uniform(0, 0.2, truth.shape).astype(np.float32)
    motion += 100 * np.abs(np.gradient(truth, axis=0))        # landmarks move with the shapes
    out = refine.steady(noisy, 30.0, motion)
    causal = refine.one_euro(noisy, 30.0)
    forward = refine.one_euro(noisy, 30.0, np.where(refine.EYES, refine.EYE_CUTOFF, refine.STILL_CUTOFF),
                              np.where(refine.EYES, refine.EYE_BETA, 0.0), boost=refine.gate(motion))
    def centre(x):                                            # of the mouth opening, frames
        w = np.clip(x[80:121, jaw], 0, None)
        return float((w * np.arange(80, 121)).sum() / w.sum())
    assert abs(centre(out) - 100) < 0.5                       # no lag
    assert centre(forward) > 101                              # its forward pass alone lags
    assert out[:, jaw].max() > 0.85 and out[:, blink].max() > 0.75   # motion passes
    still = slice(5, 40)
    assert np.diff(out[still], axis=0).std() < 0.5 * np.diff(causal[still], axis=0).std()
    ungated = refine.steady(noisy, 30.0, np.ones_like(motion))    # landmarks still: damped
    assert ungated[:, jaw].max() < 0.6 * out[:, jaw].max()


def test_range_gains_stretch_used_shapes_only():
    w = np.zeros((100, arkit.NUM_SHAPES), np.float32)
    w[:, 0] = np.linspace(0, 0.4, 100)   # used, small range: stretched
    w[:, 1] = np.linspace(0, 0.05, 100)  # barely moved: left alone (noise)
    w[:, 2] = np.linspace(0, 1.0, 100)   # full range already
    g = refine.range_gains(w)
    assert g[0] == pytest.approx(refine.FULL / np.quantile(w[:, 0], refine.RANGE_QUANTILE))
    assert g[1] == 1.0 and g[2] == 1.0 and (g >= 1).all() and (g <= refine.MAX_GAIN).all()


def test_blend_mixes_where_both_see_and_fills_the_rest():
    bs = np.full((5, arkit.NUM_SHAPES), 0.1, np.float32)
    reg = np.full((5, arkit.NUM_SHAPES), 0.5, np.float32)
    out = refine.blend(bs, reg)
    jaw = arkit.INDEX["jawOpen"]
    assert out[0, jaw] == pytest.approx(refine.BLEND * 0.1 + (1 - refine.BLEND) * 0.5)
    assert (out[:, refine.FILL] == 0.5).all() and (out[:, arkit.INDEX["tongueOut"]] == 0).all()


def test_fill_takes_only_the_fill_shapes():
    bs = np.full((5, arkit.NUM_SHAPES), 0.1, np.float32)
    reg = np.full((5, arkit.NUM_SHAPES), 0.7, np.float32)
    out = refine.fill_from_landmarks(bs, reg)
    assert (out[:, refine.FILL] == 0.7).all()
    assert (np.delete(out, refine.FILL, axis=1) == 0.1).all()
    assert arkit.INDEX["jawOpen"] not in refine.FILL


def test_landmarker_calibration_takes_each_shapes_own_rest():
    """A shape the blendshape model holds at 0.4 at rest reads 0 there and keeps its rise
    above it; a named neutral stretch overrides the automatic rest."""
    from faceforge.ml.video.landmarker import FaceTrack
    t = np.arange(90) / 30.0
    shapes = np.zeros((90, arkit.NUM_SHAPES), np.float32)
    jaw, squint = arkit.INDEX["jawOpen"], arkit.INDEX["eyeSquintLeft"]
    shapes[:, squint] = 0.4
    shapes[30:60, squint] += 0.4 * np.hanning(30)
    shapes[30:60, jaw] = np.hanning(30)
    rot = np.repeat(np.eye(3, dtype=np.float32)[None], 90, axis=0)
    lm = np.zeros((90, 478, 3), np.float32)
    found = np.ones(90, bool)
    track = FaceTrack(t, lm, found, ~found, (640, 480), blendshapes=shapes, rotation=rot,
                      mesh_landmarks=lm)

    class NoRegressor:
        def predict(self, landmarks, aspect=1.0):
            return np.zeros((len(landmarks), arkit.NUM_SHAPES), np.float32), None

    _, b, _, _, neutral = pipeline.landmarker_inputs(track, 30.0, "auto", NoRegressor())
    assert neutral[squint] == pytest.approx(0.4) and neutral[jaw] == pytest.approx(0.0)
    assert np.abs(b[:30, squint]).max() < 1e-6 and b[45, squint] == pytest.approx(0.4, abs=0.01)
    _, b, _, _, neutral = pipeline.landmarker_inputs(track, 30.0, (1.3, 1.7), NoRegressor())
    assert neutral[jaw] > 0.5 and b[0, jaw] < -0.5  # the user's stretch is the neutral


def test_live_preview_sees_each_tracked_frame_as_the_landmarker_reads_it(one, clip_dir):
    """analyse_steps' preview hook gets every tracked frame's raw blendshapes, in order,
    while tracking runs (before the first frame is tracked, nothing)."""
    seen = []   # the frames' times as track_face gave them (the sequence's default rate)
    steps = pipeline.analyse_steps(clip_dir, 25.0, pipeline.VideoOptions(), preview=seen.append)
    assert not seen
    first = next(steps)
    assert len(seen) == 1 and first == pytest.approx(1 / FRAMES)
    from faceforge.ml.steps import run_steps
    res = run_steps(steps)
    assert len(res.weights) > 0 and len(seen) == int(one.found.sum()) == FRAMES
    np.testing.assert_allclose(np.stack(seen), one.blendshapes, atol=1e-5)
