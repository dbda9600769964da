"""Live Link Face CSV: exact round trips, a hand-written take, and clear errors."""
import warnings

import numpy as np
import pytest

from faceforge.ml.arkit import INDEX, LIVELINK_COLUMNS, LIVELINK_SHAPE_COLUMNS
from faceforge.ml.livelink_csv import (LiveLinkCsvError, LiveLinkCsvWarning, LiveLinkTake, read_livelink_csv,
                                       write_livelink_csv)

HEADER = ",".join(LIVELINK_COLUMNS)


def _row(timecode, shapes=None, rotations=None):
    """One CSV row: 52 shapes in Live Link order (zeros unless given by column name), 9 rotations."""
    shapes = shapes or {}
    values = [str(shapes.get(c, 0)) for c in LIVELINK_SHAPE_COLUMNS]
    values += [str(r) for r in (rotations or [0] * 9)]
    return f"{timecode},61," + ",".join(values)


def _write(tmp_path, text, name="take.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _random_take(t=120, seed=0):
    rng = np.random.default_rng(seed)
    return LiveLinkTake(times=np.arange(t) / 60.0,
                        weights=rng.random((t, 52)).astype(np.float32),
                        rotations=rng.normal(scale=0.3, size=(t, 9)).astype(np.float32))


def test_hand_written_sample(tmp_path):
    text = "\n".join([
        HEADER,
        _row("17:14:32:58.345", {"JawOpen": 0.5, "EyeBlinkLeft": 0.25}, [0.1, -0.2, 0.3] + [0] * 6),
        _row("17:14:32:59.345", {"JawOpen": 0.75, "TongueOut": 1}),
        _row("17:14:33:00.345", {"MouthSmileRight": 0.125}, [0] * 8 + [0.5]),
    ]) + "\n"
    take = read_livelink_csv(_write(tmp_path, text))
    assert take.timecodes == ["17:14:32:58.345", "17:14:32:59.345", "17:14:33:00.345"]
    np.testing.assert_allclose(take.times, [0, 1 / 60, 2 / 60])  # crossed a second: 60 fps
    assert take.weights.dtype == np.float32 and take.weights.shape == (3, 52)
    assert take.rotations.dtype == np.float32 and take.rotations.shape == (3, 9)
    assert take.weights[0, INDEX["jawOpen"]] == 0.5 and take.weights[1, INDEX["jawOpen"]] == 0.75
    assert take.weights[0, INDEX["eyeBlinkLeft"]] == 0.25
    assert take.weights[1, INDEX["tongueOut"]] == 1
    assert take.weights[2, INDEX["mouthSmileRight"]] == 0.125
    assert take.weights.sum() == pytest.approx(0.5 + 0.25 + 0.75 + 1 + 0.125)
    np.testing.assert_array_equal(take.rotations[0, :3], np.float32([0.1, -0.2, 0.3]))
    assert take.rotations[2, 8] == 0.5  # RightEyeRoll


def test_round_trip_is_exact(tmp_path):
    first = tmp_path / "first.csv"
    write_livelink_csv(first, _random_take(), start_timecode="17:14:32:23.345")
    a = read_livelink_csv(first)
    second = tmp_path / "second.csv"
    write_livelink_csv(second, a)
    b = read_livelink_csv(second)
    assert first.read_text() == second.read_text()
    assert a.timecodes == b.timecodes
    for field in ("times", "weights", "rotations"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert first.read_text().splitlines()[0] == HEADER


def test_written_values_are_float32_exact(tmp_path):
    take = _random_take(t=30, seed=1)
    path = tmp_path / "t.csv"
    write_livelink_csv(path, take)
    back = read_livelink_csv(path)
    np.testing.assert_array_equal(back.weights, take.weights)
    np.testing.assert_array_equal(back.rotations, take.rotations)
    np.testing.assert_allclose(back.times, take.times, atol=1e-9)
    assert back.timecodes[:2] == ["00:00:00:00.000", "00:00:00:01.000"]
    assert back.timecodes[-1] == "00:00:00:29.000"


@pytest.mark.parametrize("fps,frames", [(30, 29), (24, 23), (25, 24), (60, 59)])
def test_timecode_rate_inferred_and_generated(tmp_path, fps, frames):
    t = 2 * fps
    take = LiveLinkTake(times=np.arange(t) / fps, weights=np.zeros((t, 52), np.float32),
                        rotations=np.zeros((t, 9), np.float32))
    path = tmp_path / "t.csv"
    write_livelink_csv(path, take, fps=fps)
    back = read_livelink_csv(path)
    assert back.timecodes[frames] == f"00:00:00:{frames:02d}.000"
    np.testing.assert_allclose(back.times, take.times, atol=1e-9)


def test_explicit_fps_and_short_take_defaults_to_60(tmp_path):
    rows = [_row(f"00:00:01:{f:02d}.000") for f in range(0, 20, 2)]
    path = _write(tmp_path, "\n".join([HEADER] + rows))
    np.testing.assert_allclose(read_livelink_csv(path).times, np.arange(10) * 2 / 60)
    np.testing.assert_allclose(read_livelink_csv(path, fps=30).times, np.arange(10) * 2 / 30)


def test_any_column_order_any_case_without_rotations(tmp_path):
    shapes = list(reversed(LIVELINK_SHAPE_COLUMNS))
    header = ["timecode"] + [c.lower() for c in shapes]
    values = [str(i / 100) for i in range(52)]
    path = _write(tmp_path, ",".join(header) + ",,\n" + "00:00:00:00.000," + ",".join(values) + ",,\n")
    take = read_livelink_csv(path)
    for i, c in enumerate(shapes):
        assert take.weights[0, INDEX[c[0].lower() + c[1:]]] == np.float32(i / 100)
    assert not take.rotations.any()


@pytest.mark.parametrize("text,needle", [
    ("", "is empty"),
    ("\n\n", "is empty"),
    ("00:00:00:00.000,61," + ",".join(["0"] * 61) + "\n", "no Timecode column"),
    (HEADER.replace(",JawOpen", "").replace(",TongueOut", "") + "\n",
     "missing blendshape columns JawOpen, TongueOut"),
    (HEADER + ",Extra,Other\n", "unknown columns Extra, Other"),
    (HEADER + ",JawOpen\n", "duplicate columns JawOpen"),
    (HEADER + "\n", "no data rows"),
    (HEADER + "\n" + _row("00:00:00:00.000") + ",1\n", "line 2: 64 values, header has 63"),
    (HEADER + "\n" + _row("00:00:00:00.000", {"JawOpen": "abc"}),
     "line 2, column JawOpen: not a number: 'abc'"),
    (HEADER + "\n" + _row("00:00:00:00.000") + "\n" + _row("00:00:00:01.000", {"MouthClose": ""}),
     "line 3, column MouthClose: not a number: ''"),
    (HEADER + "\n" + _row("00:00:00:00.000", {"EyeWideLeft": "nan"}),
     "line 2, column EyeWideLeft: 'nan' is not finite"),
    (HEADER + "\n" + _row("00:00:00:00.000", rotations=[0, "inf"] + [0] * 7),
     "column HeadPitch: 'inf' is not finite"),
    (HEADER + "\n" + _row("12:00"), "line 2: cannot read timecode '12:00'"),
    (HEADER + "\n" + _row("00:61:00:00.000"), "cannot read timecode '00:61:00:00.000'"),
    (HEADER + "\n" + _row("00:00:01:00.000") + "\n" + _row("00:00:00:59.000"),
     "line 3: timecode 00:00:00:59.000 goes back in time"),
    (HEADER + "\n" + _row("00:00:00:75.000"), "frame number 75"),
])
def test_errors_name_the_problem(tmp_path, text, needle):
    with pytest.raises(LiveLinkCsvError) as err:
        read_livelink_csv(_write(tmp_path, text))
    assert needle in str(err.value)


def test_missing_file_and_bad_fps(tmp_path):
    with pytest.raises(LiveLinkCsvError, match="not found"):
        read_livelink_csv(tmp_path / "nope.csv")
    path = _write(tmp_path, HEADER + "\n" + _row("00:00:00:40.000"))
    with pytest.raises(LiveLinkCsvError, match="past the 30 fps frame range"):
        read_livelink_csv(path, fps=30)
    with pytest.raises(LiveLinkCsvError, match="positive whole number"):
        read_livelink_csv(path, fps=29.97)


@pytest.mark.parametrize("change,needle", [
    (lambda t: setattr(t, "weights", t.weights[:, :51]), "shapes do not match"),
    (lambda t: setattr(t, "rotations", t.rotations[:-1]), "shapes do not match"),
    (lambda t: t.weights.__setitem__((3, 4), np.nan), "NaN or infinite"),
    (lambda t: setattr(t, "timecodes", ["00:00:00:00.000"]), "1 timecodes for 10 rows"),
    (lambda t: setattr(t, "times", t.times[::-1].copy()), "must not go back in time"),
])
def test_nothing_written_on_error(tmp_path, change, needle):
    take = _random_take(t=10)
    change(take)
    path = tmp_path / "out.csv"
    with pytest.raises(LiveLinkCsvError, match=needle):
        write_livelink_csv(path, take)
    assert not path.exists()


# ------------------------------------------------ out-of-range values (read and write)

def test_far_out_of_range_values_are_refused_on_read(tmp_path):
    # 1e30 used to be baked (and re-exported) as it was.
    path = _write(tmp_path, HEADER + "\n" + _row("00:00:00:00.000", {"JawOpen": "1e30"}))
    with pytest.raises(LiveLinkCsvError, match=r"line 2, column JawOpen: 1e\+30 is not a blendshape weight"):
        read_livelink_csv(path)
    path = _write(tmp_path, HEADER + "\n" + _row("00:00:00:00.000", rotations=[0, 0, -40] + [0] * 6))
    with pytest.raises(LiveLinkCsvError, match="column HeadRoll: -40 is not a rotation"):
        read_livelink_csv(path)


def test_overshooting_weights_are_clamped_with_one_warning(tmp_path):
    path = _write(tmp_path, "\n".join([
        HEADER, _row("00:00:00:00.000", {"JawOpen": "1.25", "EyeBlinkLeft": "-0.01"}),
        _row("00:00:00:01.000", {"JawOpen": "1.0000001"})]) + "\n")
    with pytest.warns(LiveLinkCsvWarning, match="3 blendshape weight"):
        take = read_livelink_csv(path)
    assert take.weights.min() == 0 and take.weights.max() == 1
    assert take.weights[0, INDEX["jawOpen"]] == 1 and take.weights[0, INDEX["eyeBlinkLeft"]] == 0
    assert len(take.warnings) == 1 and "1.25 at" in take.warnings[0] and "line 2" in take.warnings[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an in-range take warns about nothing
        assert read_livelink_csv(_write(tmp_path, HEADER + "\n" + _row("00:00:00:00.000"), "ok.csv")).warnings == []


def test_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "take.csv"
    path.write_text(HEADER + "\n" + '"' + "x" * 200_000 + '"\n')
    with pytest.raises(LiveLinkCsvError, match="not CSV text"):  # was csv.Error: field larger than field limit
        read_livelink_csv(path)


def test_write_refuses_or_clamps_like_read(tmp_path):
    take = _random_take(t=10)
    take.weights[2, INDEX["jawOpen"]] = 1e30
    with pytest.raises(LiveLinkCsvError, match=r"row 3 \(0.033 s\), jawOpen: 1e\+30 is not a blendshape"):
        write_livelink_csv(tmp_path / "bad.csv", take)
    assert not (tmp_path / "bad.csv").exists()
    take.weights[2, INDEX["jawOpen"]] = 1.5
    with pytest.warns(LiveLinkCsvWarning, match="1 blendshape weight"):
        notes = write_livelink_csv(tmp_path / "clamped.csv", take)
    assert len(notes) == 1 and "jawOpen" in notes[0]
    back = read_livelink_csv(tmp_path / "clamped.csv")
    assert back.weights[2, INDEX["jawOpen"]] == 1 and back.warnings == []
    assert take.weights[2, INDEX["jawOpen"]] == 1.5  # the caller's take is not changed
