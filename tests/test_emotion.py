"""The VAD -> ARKit emotion model: exact symmetry, sensible prototypes, names and mixes,
the training data generator, and numpy-only inference (Blender has no torch)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from faceforge.ml.arkit import INDEX, MIRROR, PAIRS
from faceforge.ml.emotion import EmotionModel
from lab.emotion import dataset
from faceforge.ml.emotion.model import DEFAULT_PATH


@pytest.fixture(scope="module")
def model():
    return EmotionModel.load()


@pytest.fixture(scope="module")
def table(shared_data):
    return dataset.load_table(shared_data)


def idx(*names):
    return [INDEX[n] for n in names]


def test_symmetric_exactly_and_in_range(model):
    w = model(np.random.default_rng(0).uniform(-1, 1, (20_000, 3)))
    assert w.shape == (20_000, 52)
    assert np.abs(w - w[:, MIRROR]).max() < 1e-6
    left, right = np.array(PAIRS).T
    assert np.abs(w[:, left] - w[:, right]).max() < 1e-6
    assert w.min() >= 0.0 and w.max() <= 1.0


def test_neutral_is_near_zero(model):
    assert model.emotions["neutral"] == (0.0, 0.0, 0.0)
    assert model.weights_for("neutral").max() < 0.05
    np.testing.assert_array_equal(model.weights_for("happiness", intensity=0.0), model(np.zeros(3)))


@pytest.mark.parametrize("emotion, raised", [
    ("happiness", ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft")),
    ("sadness", ("browInnerUp", "mouthFrownLeft", "mouthFrownRight")),
    ("surprise", ("jawOpen", "eyeWideLeft", "eyeWideRight", "browOuterUpLeft")),
    ("anger", ("browDownLeft", "browDownRight", "mouthPressLeft")),
    ("fear", ("browInnerUp", "eyeWideLeft", "mouthStretchLeft")),
    ("disgust", ("noseSneerLeft", "noseSneerRight", "mouthFrownLeft")),
])
def test_basic_emotions_raise_their_shapes(model, emotion, raised):
    gain = model.weights_for(emotion) - model.weights_for("neutral")
    assert gain[idx(*raised)].min() > 0.25, dict(zip(raised, gain[idx(*raised)]))


def test_happiness_smiles_more_than_it_squints(model):
    w = model.weights_for("happiness")
    assert w[INDEX["mouthSmileLeft"]] > 0.6 > w[INDEX["cheekSquintLeft"]] > 0.2
    assert w[idx("mouthFrownLeft", "browDownLeft", "jawOpen")].max() < 0.1


def test_mixes(model):
    h, s = np.array(model.emotions["happiness"]), np.array(model.emotions["surprise"])
    np.testing.assert_allclose(model.vad_of("happiness+surprise"), (h + s) / 2, atol=1e-6)
    np.testing.assert_allclose(model.vad_of("happiness*0.7 + Surprise*0.3"), 0.7 * h + 0.3 * s, atol=1e-6)
    np.testing.assert_allclose(model.vad_of("happiness*0.5"), 0.5 * h, atol=1e-6)
    w = model.weights_for("happiness+surprise")
    assert w[INDEX["mouthSmileLeft"]] > 0.2 and w[INDEX["browOuterUpLeft"]] > 0.2


@pytest.mark.parametrize("emotion, shape", [
    ("happiness", "mouthSmileLeft"), ("sadness", "mouthFrownRight"),
    ("surprise", "eyeWideLeft"), ("anger", "browDownLeft")])
def test_intensity_is_monotone(model, emotion, shape):
    w = np.array([model.weights_for(emotion, s)[INDEX[shape]] for s in np.linspace(0, 1, 21)])
    assert np.all(np.diff(w) > 0)
    np.testing.assert_allclose(model.weights_for(tuple(model.emotions[emotion])), model.weights_for(emotion))


@pytest.mark.parametrize("spec, message", [
    ("happyness", "known: .*happiness"), ("happiness+", "unknown emotion ''"),
    ("happiness*lots", "bad weight"), ("happiness*-1", ">= 0")])
def test_bad_names_raise(model, spec, message):
    with pytest.raises(ValueError, match=message):
        model.weights_for(spec)


def test_bad_inputs_raise(model):
    with pytest.raises(ValueError, match="intensity"):
        model.weights_for("happiness", intensity=-0.5)
    with pytest.raises(ValueError, match="VAD"):
        model.weights_for(np.zeros(4))


def test_named_emotions_come_from_the_tables(model, table):
    for name in ("relief", "pride", "gloating"):
        np.testing.assert_allclose(model.emotions[name], table["PAD_Gebhard2005_ALMA"][name], atol=1e-6)
    ekman = table["PAD_Ekman6_commonly_used"]
    np.testing.assert_allclose(model.emotions["happiness"], ekman["joy"], atol=1e-6)
    for name in ("sadness", "surprise", "fear", "anger", "disgust"):
        np.testing.assert_allclose(model.emotions[name], ekman[name], atol=1e-6)
    np.testing.assert_allclose(model.emotions["contempt"], table["PAD_Gebhard2005_ALMA"]["reproach"], atol=1e-6)


def test_committed_file_is_small_and_round_trips(model, tmp_path):
    assert DEFAULT_PATH.stat().st_size < 1_000_000
    model.save(tmp_path / "copy.npz")
    again = EmotionModel.load(tmp_path / "copy.npz")
    vad = np.random.default_rng(1).uniform(-1, 1, (50, 3))
    np.testing.assert_array_equal(again(vad), model(vad))
    assert again.emotions == model.emotions and again.info == model.info


def test_inference_needs_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from faceforge.ml.emotion import EmotionModel\n"
            "m = EmotionModel.load(); print(m.weights_for('happiness').shape)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(52,)"


# ---------------------------------------------------------------- training data

def test_prototypes_follow_the_au_map(table):
    protos = dataset.prototypes(table)
    assert set(protos) == set(table["emfacs_prototypes_AU"])
    happy = protos["happiness"]
    assert happy[INDEX["mouthSmileLeft"]] > happy[INDEX["cheekSquintLeft"]] > 0
    au_map = table["AU_to_ARKit_approx"]
    jaw = [dataset.au_weights(au, au_map)[INDEX["jawOpen"]] for au in (25, 26, 27)]
    assert 0 < jaw[0] < jaw[1] < jaw[2] <= 1  # small < plain < large
    contempt = protos["contempt"]  # R12A + R14A: right side only, trace intensity
    assert contempt[idx("mouthSmileRight", "mouthDimpleRight")].min() > 0
    assert contempt[idx("mouthSmileLeft", "mouthDimpleLeft")].max() == 0


@pytest.mark.parametrize("code", ["X12", "12Z", "99"])
def test_bad_au_codes_raise(table, code):
    with pytest.raises(ValueError):
        dataset.au_weights(code, table["AU_to_ARKit_approx"])


def test_splits_are_deterministic_mirrored_and_hold_out_pairs(table):
    kw = dict(n_per_emotion=20, n_per_pair=10, n_neutral=10)
    a, b = dataset.make_splits(table, seed=3, **kw), dataset.make_splits(table, seed=3, **kw)
    np.testing.assert_array_equal(a.train.weights, b.train.weights)
    assert len(a.heldout_pairs) == 2 and a.heldout_pairs == b.heldout_pairs
    assert len(a.val_mix.vad) == 2 * 2 * 10
    for split in (a.train, a.val, a.val_mix):
        half = len(split.vad) // 2
        np.testing.assert_array_equal(split.weights[half:], split.weights[:half, MIRROR])
        assert split.weights.min() >= 0 and split.weights.max() <= 1
    names = list(dataset.prototypes(table))
    vads = np.array([dataset.emotion_vads(table)[n] for n in names])
    mixable = {f"{names[i]}+{names[j]}" for i, j in dataset.mixable_pairs(vads)}
    assert set(a.heldout_pairs) <= mixable and "happiness+sadness" not in mixable


def test_table_json_is_read_from_shared_data(shared_data):
    raw = json.loads((shared_data / dataset.TABLE_FILE).read_text())
    assert dataset.load_table(shared_data) == raw
