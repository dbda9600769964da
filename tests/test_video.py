"""Video decoding and face tracking on GRID clips and clips made from them: formats,
rotation metadata, mirroring, bad files, lost faces and a second face."""
import struct

import cv2
import numpy as np
import pytest

from faceforge.ml.video.decode import VideoError, open_video
from faceforge.ml.video.tracking import (NUM_LANDMARKS, FaceTracker, NoFaceError, face_mesh, fill_gaps,
                                         landmarks_array, track)


@pytest.fixture(scope="module")
def grid_clip(shared_data):
    return shared_data / "video" / "grid" / "bbaf2n.mpg"


@pytest.fixture(scope="module")
def frames(grid_clip):
    """The clip's 75 RGB frames (360x288)."""
    return [rgb for _, rgb in open_video(grid_clip)]


def _write(path, frames, fourcc="mp4v", fps=25):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _set_rotation_90(path):
    """Write a 90 degree display matrix into an mp4's track header (what phones do)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd") + 4
    matrix = at + (40 if data[at] == 0 else 52)  # the header's fields before it: v0 / v1 sizes
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_decode_grid_clip(grid_clip, frames):
    src = open_video(grid_clip)
    times = np.array([t for t, _ in src])
    assert (src.fps, src.frame_count, src.size, src.rotation) == (25.0, 75, (360, 288), 0)
    assert len(times) == 75 and np.all(np.diff(times) > 0)
    np.testing.assert_allclose(times, np.arange(75) / 25.0, atol=1e-6)
    assert frames[0].shape == (288, 360, 3) and frames[0].dtype == np.uint8
    small = next(iter(open_video(grid_clip, max_side=180)))[1]
    assert small.shape == (144, 180, 3) and open_video(grid_clip, max_side=180).size == (180, 144)


def test_image_sequence_folder_and_pattern(tmp_path, frames):
    for i, rgb in enumerate(frames[:6]):
        cv2.imwrite(str(tmp_path / f"img_{i + 1:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("not an image")
    for src in (open_video(tmp_path, fps=12), open_video(tmp_path / "img_%03d.png", fps=12)):
        got = list(src)
        assert src.frame_count == 6 and src.size == (360, 288)
        np.testing.assert_allclose([t for t, _ in got], np.arange(6) / 12)
        np.testing.assert_array_equal(got[3][1], frames[3])  # PNG is lossless, RGB order kept
    with pytest.raises(VideoError, match="no images"):
        open_video(tmp_path / "other_%04d.jpg")


def test_rotation_metadata_and_mirrored_face_tracked(tmp_path, frames):
    # Stored sideways and mirrored, with metadata saying "rotate 90 degrees to display".
    stored = [np.ascontiguousarray(cv2.rotate(f[:, ::-1], cv2.ROTATE_90_COUNTERCLOCKWISE))
              for f in frames[:25]]
    path = _write(tmp_path / "phone.mp4", stored)
    _set_rotation_90(path)
    src = open_video(path)
    assert src.rotation == 90 and src.size == (360, 288)
    upright = next(iter(src))[1]
    assert np.abs(upright.astype(int) - frames[0][:, ::-1]).mean() < 8  # codec noise only
    result = track(src)
    assert result.found.all() and result.landmarks.shape == (25, NUM_LANDMARKS, 3)


def test_missing_empty_and_non_video_files(tmp_path):
    with pytest.raises(VideoError, match="no such video file"):
        open_video(tmp_path / "nowhere.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        open_video(tmp_path / "empty.mp4")
    (tmp_path / "notes.mp4").write_text("meeting notes, not a video\n" * 50)
    with pytest.raises(VideoError, match="not a video"):
        open_video(tmp_path / "notes.mp4")


def test_truncated_files(tmp_path, grid_clip, frames):
    data = grid_clip.read_bytes()
    (tmp_path / "cut.mpg").write_bytes(data[:len(data) // 2])
    assert 20 < len(list(open_video(tmp_path / "cut.mpg"))) < 75  # what is there is decoded
    avi = _write(tmp_path / "clip.avi", frames[:20], fourcc="MJPG").read_bytes()
    (tmp_path / "cut.avi").write_bytes(avi[:len(avi) // 2])
    src = open_video(tmp_path / "cut.avi")
    with pytest.warns(UserWarning, match="truncated"):
        assert 0 < len(list(src)) < 20
    assert src.warnings
    mp4 = _write(tmp_path / "clip.mp4", frames[:20]).read_bytes()  # index at the end: lost
    (tmp_path / "cut.mp4").write_bytes(mp4[:len(mp4) // 2])
    with pytest.raises(VideoError, match="truncated"):
        open_video(tmp_path / "cut.mp4")


def test_clip_without_a_face(tmp_path, frames):
    path = _write(tmp_path / "grey.mp4", [np.full_like(frames[0], 128)] * 15)
    with pytest.raises(NoFaceError, match="no face found in 15 frame"):
        track(path)


def test_motion_blur_tracks_and_a_tiny_face_says_what_to_do(tmp_path, frames):
    blurred = _write(tmp_path / "blur.mp4", [cv2.blur(f, (21, 1)) for f in frames[:12]])
    assert track(blurred).found.all()  # heavy horizontal motion blur
    canvas = np.full((12, 480, 640, 3), 90, np.uint8)  # the face ~40 px tall in a corner
    canvas[:, 20:148, 30:190] = [cv2.resize(f, (160, 128), interpolation=cv2.INTER_AREA)
                                 for f in frames[:12]]
    with pytest.raises(NoFaceError, match="too small.*crop closer"):
        track(_write(tmp_path / "tiny.mp4", list(canvas)))


def test_short_loss_held_and_long_loss_reported(tmp_path, frames):
    covered = [np.zeros_like(f) if 10 <= i < 14 or 40 <= i < 60 else f
               for i, f in enumerate(frames)]
    result = track(_write(tmp_path / "covered.mp4", covered))
    lost = np.zeros(75, bool)
    lost[10:14] = lost[40:60] = True
    np.testing.assert_array_equal(result.found, ~lost)
    np.testing.assert_array_equal(np.flatnonzero(result.filled), np.arange(10, 14))
    assert np.isfinite(result.landmarks[:40]).all() and np.isnan(result.landmarks[40:60]).all()
    assert len(result.warnings) == 2 and "held and blended" in result.warnings[0]
    assert "NaN" in result.warnings[1]


def test_two_faces_follows_the_larger_and_keeps_it(tmp_path, frames):
    h, w = frames[0].shape[:2]
    clip = []
    for i, f in enumerate(frames[:40]):
        canvas = np.zeros((h, w * 2, 3), np.uint8)
        canvas[:h * 3 // 5, :w * 3 // 5] = cv2.resize(f, (w * 3 // 5, h * 3 // 5))
        if not 20 <= i < 23:  # the large face vanishes briefly; the small one must not take over
            canvas[:, w:] = f
        clip.append(canvas)
    result = track(_write(tmp_path / "two.mp4", clip))
    assert result.found.sum() == 37 and not result.found[20:23].any()
    assert result.filled[20:23].all()
    assert (result.landmarks[..., 0] > 0.5).all()  # every frame on the large (right) face


def test_detector_runs_only_when_the_face_is_lost(frames):
    calls = []
    with FaceTracker() as tracker:
        detect = tracker._detector.process
        tracker._detector.process = lambda rgb: calls.append(1) or detect(rgb)
        found = [tracker(f) is not None for f in frames[:30]]
        found += [tracker(np.zeros_like(f)) is not None for f in frames[:2]]  # face gone
        found += [tracker(f) is not None for f in frames[:10]]
    assert found == [True] * 30 + [False] * 2 + [True] * 10
    # the first frame, the second frame without a face (Face Mesh itself reports the first
    # loss) and the frame that finds the face again; none while the face is followed
    assert len(calls) == 3


def test_one_face_tracked_exactly_as_face_mesh_reports_it(frames):
    """Following one face with the detector off changes no landmark: the same as Face Mesh
    run with the detector on every frame (max_faces=2) on a one-person clip."""
    with face_mesh(2) as mesh:
        bare = [landmarks_array(mesh.process(f).multi_face_landmarks[0]) for f in frames]
    with FaceTracker() as tracker:
        ours = [tracker(f) for f in frames]
    np.testing.assert_array_equal(np.stack(ours), np.stack(bare))


def test_fill_gaps_holds_then_blends():
    times = np.arange(12) / 10.0
    pts = np.repeat(np.arange(12, dtype=np.float32)[:, None, None], 2, axis=1)
    found = np.ones(12, bool)
    found[[0, 3, 4, 5]] = False  # a lead-in frame and a 0.4 s hole (frames 2 -> 6)
    found[7:] = False  # a 0.5 s tail: too long, left empty
    pts[~found] = np.nan
    filled = fill_gaps(times, pts, found, max_gap=0.4)
    np.testing.assert_array_equal(np.flatnonzero(filled), [0, 3, 4, 5])
    assert pts[0, 0, 0] == 1 and pts[3, 0, 0] == pts[4, 0, 0] == 2  # held, then blended
    assert pts[5, 0, 0] == 4 and np.isnan(pts[7:]).all()
