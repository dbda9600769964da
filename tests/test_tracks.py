"""Emotion tracks (keys -> [T, 52] curves without pops) and region compositing."""
import numpy as np
import pytest

from faceforge.ml.arkit import INDEX, region_mask
from faceforge.ml.emotion import EmotionModel
from faceforge.ml.tracks import EmotionKey, Layer, composite, emotion_track, parse_track_spec


class Lookup:
    """Stand-in model: fixed weights per name, scaled by intensity (exact expectations)."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.table = {n: rng.uniform(0, 1, 52).astype(np.float32) for n in ("a", "b", "c")}
        self.table["neutral"] = np.zeros(52, np.float32)

    def weights_for(self, emotion, intensity=1.0):
        return self.table[emotion] * intensity


@pytest.fixture(scope="module")
def model():
    return EmotionModel.load()


def test_parse_spec():
    keys = parse_track_spec("0:neutral, 2:happiness*0.8,5.5:sadness,8:happiness+surprise,9:happiness*0.7+surprise*0.3")
    assert keys == [EmotionKey(0.0, "neutral"), EmotionKey(2.0, "happiness", 0.8), EmotionKey(5.5, "sadness"),
                    EmotionKey(8.0, "happiness+surprise"), EmotionKey(9.0, "happiness*0.7+surprise*0.3")]


@pytest.mark.parametrize("spec, message", [
    ("", "not time:emotion"), ("2happiness", "not time:emotion"), ("2:", "not time:emotion"),
    (":happiness", "not time:emotion"), ("0:neutral,,2:sadness", "not time:emotion"),
    ("x:happiness", "bad time"), ("2:happiness*lots", "bad intensity"),
    ("2:happiness*-1", "intensity must be"), ("inf:happiness", "time must be finite")])
def test_parse_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_track_spec(spec)


def test_keys_are_reached_and_held():
    m, fps = Lookup(), 30
    track = emotion_track([EmotionKey(0, "a"), EmotionKey(2, "b", 0.5), EmotionKey(5, "c")], m, fps, duration=6)
    assert track.shape == (181, 52) and track.dtype == np.float32
    np.testing.assert_allclose(track[0], m.table["a"], atol=1e-6)
    np.testing.assert_allclose(track[round(1.6 * fps) - 1], m.table["a"], atol=1e-6)  # held until 2 - 0.4 s
    np.testing.assert_allclose(track[2 * fps], 0.5 * m.table["b"], atol=1e-6)
    np.testing.assert_allclose(track[5 * fps:], np.broadcast_to(m.table["c"], (31, 52)), atol=1e-6)


def test_default_duration_and_unsorted_keys():
    m = Lookup()
    track = emotion_track([EmotionKey(1.5, "b"), EmotionKey(0.5, "a")], m, fps=24)
    assert len(track) == round(1.5 * 24) + 1
    np.testing.assert_allclose(track[:13], np.broadcast_to(m.table["a"], (13, 52)), atol=1e-6)
    np.testing.assert_allclose(track[-1], m.table["b"], atol=1e-6)


@pytest.mark.parametrize("ease, slope", [("smooth", 1.5), ("linear", 1.0)])
def test_no_pops(model, ease, slope):
    fps, transition = 60, 0.4
    keys = parse_track_spec("0:neutral,1:happiness*0.8,2.5:sadness,4:anger,6:happiness+surprise")
    track = emotion_track(keys, model, fps, duration=7, ease=ease, transition=transition)
    key_w = np.stack([model.weights_for(k.emotion, k.intensity) for k in keys])
    bound = slope * np.abs(np.diff(key_w, axis=0)).max() / (transition * fps)
    assert np.abs(np.diff(track, axis=0)).max() <= bound + 1e-6


def test_smooth_ease_is_c1_at_transition_ends():
    m, fps = Lookup(), 100
    track = emotion_track([EmotionKey(0, "a"), EmotionKey(1, "b")], m, fps, ease="smooth", transition=0.5)
    step = np.abs(np.diff(track, axis=0)).max(axis=1)
    window = step[50:100]  # the transition covers t = 0.5 .. 1.0
    assert window[0] < 0.05 * window.max() and window[-1] < 0.05 * window.max()


def test_constant_ease_switches_at_key_time():
    m = Lookup()
    track = emotion_track([EmotionKey(0, "a"), EmotionKey(1, "b")], m, fps=10, ease="constant")
    np.testing.assert_allclose(track[:10], np.broadcast_to(m.table["a"], (10, 52)))
    np.testing.assert_allclose(track[10], m.table["b"])


def test_close_keys_shorten_the_transition():
    m = Lookup()
    track = emotion_track([EmotionKey(0, "a"), EmotionKey(0.1, "b")], m, fps=100, transition=0.4)
    np.testing.assert_allclose(track[0], m.table["a"], atol=1e-6)
    np.testing.assert_allclose(track[10], m.table["b"], atol=1e-6)


def test_track_from_spec_with_real_model(model):
    track = emotion_track("0:neutral,1:happiness", model, fps=24, duration=2)
    np.testing.assert_allclose(track[24:], np.broadcast_to(model.weights_for("happiness"), (25, 52)), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(ease="bouncy"), "unknown ease"), (dict(fps=0), "fps > 0"),
    (dict(transition=-1), "transition >= 0"), (dict(duration=-1), "duration")])
def test_track_argument_errors(kwargs, message):
    args = dict(keys=[EmotionKey(0, "a")], model=Lookup(), fps=30) | kwargs
    with pytest.raises(ValueError, match=message):
        emotion_track(**args)


@pytest.mark.parametrize("spec, message", [
    ("-1:happiness", "negative.*start of the take"), ("0:neutral,-0.5:sadness", "negative"),
    ("1e12:happiness", "more than 24 hours"), ("0:neutral,86401:happiness", "more than 24 hours")])
def test_key_times_out_of_range_are_refused(spec, message):
    # A negative key used to be dropped silently while the rest baked; 1e12 s tried to
    # allocate a [3e13, 52] track (MemoryError: 175 TiB) before anything said why.
    with pytest.raises(ValueError, match=message):
        parse_track_spec(spec)


def test_track_duration_beyond_a_day_is_refused():
    with pytest.raises(ValueError, match="more than 24 hours"):
        emotion_track([EmotionKey(0, "a")], Lookup(), 30, duration=1e12)
    with pytest.raises(ValueError, match="finite"):
        emotion_track([EmotionKey(0, "a")], Lookup(), 30, duration=np.inf)
    assert len(emotion_track("0:a,86400:b", Lookup(), fps=1)) == 86401  # the bound itself is fine


def test_track_key_errors():
    with pytest.raises(ValueError, match="at least one key"):
        emotion_track([], Lookup(), 30)
    with pytest.raises(ValueError, match="share a time"):
        emotion_track([EmotionKey(1, "a"), EmotionKey(1, "b")], Lookup(), 30)


# ---------------------------------------------------------------- compositing

def test_regions_split_the_face():
    rng = np.random.default_rng(0)
    emotion, lips = rng.uniform(0, 1, (20, 52)), rng.uniform(0, 1, (20, 52))
    out = composite([Layer(emotion), Layer(lips, regions=("mouth", "jaw", "tongue"))])
    lower = region_mask("lower")
    np.testing.assert_allclose(out[:, lower], lips[:, lower], atol=1e-6)
    np.testing.assert_allclose(out[:, ~lower], emotion[:, ~lower], atol=1e-6)
    only_upper = composite([Layer(emotion, regions="upper")])
    assert np.all(only_upper[:, lower] == 0)


def test_modes_and_strength():
    base, top = np.full((4, 52), 0.6), np.full((4, 52), 0.3)
    assert np.allclose(composite([Layer(base), Layer(top, strength=0.5)]), 0.45)
    assert np.allclose(composite([Layer(base), Layer(top, mode="add")]), 0.9)
    assert np.allclose(composite([Layer(base), Layer(base, mode="add")]), 1.0)  # clipped
    assert np.allclose(composite([Layer(base), Layer(top, mode="add", strength=-3)]), 0.0)
    assert np.allclose(composite([Layer(base), Layer(top, mode="max")]), 0.6)
    assert np.allclose(composite([Layer(top), Layer(base, mode="max", strength=0.25)]), 0.3)
    brow = INDEX["browInnerUp"]
    out = composite([Layer(base), Layer(top, regions=("brow",), mode="add")])
    assert np.isclose(out[0, brow], 0.9) and np.isclose(out[0, INDEX["jawOpen"]], 0.6)


def test_length_mismatch_holds_or_errors():
    short, long = np.linspace(0, 1, 3)[:, None] * np.ones(52), np.zeros((5, 52))
    out = composite([Layer(long), Layer(short, regions="upper")])
    assert out.shape == (5, 52)
    np.testing.assert_allclose(out[3:, region_mask("upper")], 1.0)  # last frame held
    with pytest.raises(ValueError, match=r"layer lengths differ: \[5, 3\]"):
        composite([Layer(long), Layer(short)], pad="error")


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=np.zeros((5, 51))), r"\[T>0, 52\]"), (dict(weights=np.zeros((0, 52))), r"\[T>0, 52\]"),
    (dict(regions=("forehead",)), "unknown face region"), (dict(mode="multiply"), "unknown layer mode"),
    (dict(strength=np.nan), "strength")])
def test_layer_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Layer(**(dict(weights=np.zeros((5, 52))) | kwargs))


def test_composite_errors():
    with pytest.raises(ValueError, match="at least one layer"):
        composite([])
    with pytest.raises(ValueError, match="unknown pad"):
        composite([Layer(np.zeros((2, 52)))], pad="zero")
