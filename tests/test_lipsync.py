"""Lip-sync: audio loading (formats, bad files), phones, coarticulation rules, the engine on
real speech, the evaluation's geometry, and the Blender bake, operator and command line."""
import argparse
import os

import numpy as np
import pytest
import soundfile as sf

from faceforge.ml.arkit import INDEX, region_mask
from faceforge.ml.lipsync import audio, engine, phonemes, phones as phoneset, visemes
from faceforge.ml.frames import frame_count
from faceforge.ml.lipsync.neural.runtime import listen
from faceforge.ml.lipsync.phones import Phone
from lab.lipsync import evaluate

LOWER, UPPER = region_mask("lower"), region_mask("upper")


def tone(rate, seconds=0.3, channels=1, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    x = amp * np.sin(2 * np.pi * 440 * t)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


@pytest.fixture(scope="module")
def speech(shared_data):
    """goforward.wav at 16 kHz ("go forward ten meters")."""
    return audio.load_audio(shared_data / "speech" / "goforward.wav")


# ---------------------------------------------------------------- audio
@pytest.mark.parametrize("fmt,subtype,rate,channels", [
    ("WAV", "PCM_U8", 8000, 1), ("WAV", "PCM_16", 22050, 2), ("WAV", "PCM_24", 44100, 6),
    ("WAV", "PCM_32", 96000, 1), ("WAV", "FLOAT", 48000, 2), ("FLAC", "PCM_16", 16000, 1),
    ("FLAC", "PCM_24", 32000, 2), ("OGG", "VORBIS", 44100, 2)])
def test_load_audio_formats(tmp_path, fmt, subtype, rate, channels):
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, tone(rate, channels=channels), rate, format=fmt, subtype=subtype)
    x, r = audio.load_audio(path)
    assert r == 16000 and x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 0.3 * 16000) <= 2
    assert abs(np.sqrt(np.mean(x[500:-500] ** 2)) - 0.5 / np.sqrt(2)) < 0.03
    assert abs(x.mean()) < 1e-4


def test_load_audio_removes_dc(tmp_path):
    sf.write(tmp_path / "dc.wav", tone(16000) * 0.5 + 0.3, 16000)
    x, _ = audio.load_audio(tmp_path / "dc.wav")
    assert abs(x.mean()) < 1e-4


def test_load_audio_bad_files(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "zero.wav", np.zeros(0), 16000)
    (tmp_path / "text.wav").write_text("this is not audio at all\n" * 20)
    good = tmp_path / "good.wav"
    sf.write(good, tone(16000), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"\0" * 16 + good.read_bytes()[16:])
    sf.write(tmp_path / "slow.wav", tone(4000), 4000)
    cases = {"missing.wav": "no such", "empty.wav": "empty", "zero.wav": "zero length",
             "text.wav": "not a readable audio", "corrupt.wav": "not a readable audio",
             "slow.wav": "outside"}
    for name, words in cases.items():
        with pytest.raises(audio.AudioError, match=words):
            audio.load_audio(tmp_path / name)
    with pytest.raises(ValueError):  # AudioError is a ValueError: operators catch it as one
        audio.load_audio(tmp_path / "missing.wav")


def test_level_helpers():
    x = tone(16000)
    assert audio.peak_dbfs(x) == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert audio.peak_dbfs(np.zeros(10)) == -np.inf
    assert audio.clipped_fraction(np.clip(x * 4, -1, 1)) > 0.3 > audio.clipped_fraction(x)
    assert np.abs(audio.normalise(x * 1e-3)).max() == pytest.approx(0.5, rel=1e-3)
    assert not audio.normalise(np.zeros(100)).any()
    level = audio.frame_level_db(np.concatenate([np.zeros(8000), x]), 16000, 30)
    assert len(level) == 25 and level[3] < -100 and level[-5] == pytest.approx(-9.0, abs=0.5)


# ---------------------------------------------------------------- phones
def test_phone_helpers():
    assert phoneset.clean_label("AH1") == "AH"
    assert phoneset.clean_label("+NSN+") == phoneset.clean_label("<sil>") == "SIL"
    merged = phoneset.merge_silence(
        [Phone("AA", 0.1, 0.2), Phone("SIL", 0.2, 0.3), Phone("M", 0.35, 0.5)], 0.6)
    assert [p.label for p in merged] == ["SIL", "AA", "SIL", "M", "SIL"]
    assert merged[2] == Phone("SIL", 0.2, 0.35) and merged[-1].end == 0.6


def test_recognition_and_alignment(speech):
    x, rate = speech
    phones, warnings = phonemes.phones_from_audio(x, rate)
    labels = [p.label for p in phones]
    assert labels[0] == labels[-1] == "SIL" and len(labels) > 8 and not warnings
    assert all(a.end == b.start for a, b in zip(phones, phones[1:]))
    aligned, warnings = phonemes.phones_from_audio(x, rate, "Go forward, ten meters!")
    assert [p.label for p in aligned if p.label != "SIL"][:4] == ["G", "OW", "F", "AO"]
    _, warnings = phonemes.phones_from_audio(x, rate, "go forward ten zzqxmeters")
    assert any("zzqxmeters" in w for w in warnings)
    fallback, warnings = phonemes.phones_from_audio(x, rate, "qqzx")
    assert any("recognising" in w for w in warnings) and len(fallback) > 8



def test_word_recognition_then_alignment(speech):
    x, rate = speech
    heard = phonemes.recognise_words(x, 3)
    assert "forward" in heard[0].split() and 1 < len(heard) <= 4 and len(set(heard)) == len(heard)
    with pytest.raises(ValueError, match="press"):      # closures need the lip model's track
        phonemes.phones_from_audio(x, rate, words=True)
    press = listen(x).press(phonemes.FRAME_RATE)
    phones, warnings = phonemes.phones_from_audio(x, rate, words=True, press=press)
    assert [p.label for p in phones if p.label != "SIL"][:4] == ["G", "OW", "F", "AO"]
    res = engine.lipsync(x, rate, 30, engine="phonetic-words", secondary=False)
    assert res.weights[:, INDEX["jawOpen"]].max() > 0.2 and res.phones == phones

def test_second_recogniser_adds_missing_lip_closures_the_lip_model_confirms():
    words = [Phone("SIL", 0.0, 0.2), Phone("D", 0.2, 0.3), Phone("IH", 0.3, 0.5),
             Phone("M", 0.5, 0.6), Phone("SIL", 0.6, 0.8)]
    heard = [Phone("B", 0.22, 0.28), Phone("M", 0.52, 0.62), Phone("P", 0.65, 0.7)]
    press = np.full(80, 0.3)                       # the lip model presses throughout
    out = phonemes.add_bilabials(words, heard, press)
    assert [p.label for p in out] == ["SIL", "D", "B", "D", "IH", "M", "SIL", "P", "SIL"]
    assert all(a.end == b.start for a, b in zip(out, out[1:]))   # still back to back
    assert phonemes.add_bilabials(words, [], press) == words
    press[:45] = 0.0                               # no press near the B: it stays out
    out = phonemes.add_bilabials(words, heard, press)
    assert [p.label for p in out] == ["SIL", "D", "IH", "M", "SIL", "P", "SIL"]
    press[:45] = 0.13                              # a light press: enough for an n-best one
    assert "B" not in [p.label for p in phonemes.add_bilabials(words, heard, press)]
    out = phonemes.add_bilabials(words, heard, press, phonemes.NBEST_PRESS)
    assert [p.label for p in out][:3] == ["SIL", "D", "B"]


def test_word_alternatives_of_noise():
    """The n-best list of noise can hold empty paths: no crash, no empty sentence."""
    rng = np.random.default_rng(0)
    noise = (0.01 * rng.standard_normal(16000)).astype(np.float32)
    heard = phonemes.recognise_words(noise, 10)
    assert isinstance(heard[0], str) and all(heard[1:])
    phonemes.recognise_via_words(noise, np.zeros(101, np.float32))


def test_phone_loop_runs_only_where_the_lips_press_without_a_bilabial():
    """The phone loop's bilabials count only where the lip model presses and the words have
    none: only those stretches (padded, merged, inside the chunk) are decoded."""
    words = [Phone("SIL", 0.0, 0.5), Phone("M", 0.5, 0.6), Phone("AA", 0.6, 3.0)]
    press = np.zeros(300)
    press[52:58] = 0.3                            # on the words' M: explained
    press[150:155] = 0.3                          # unexplained
    press[165:170] = 0.3                          # unexplained, near the last: merged
    rate, pad = phonemes.RATE, phonemes.LOOP_PAD_S
    assert phonemes.press_windows(words, press, 0, 3 * rate) == [
        (int((1.5 - pad) * rate), int((1.7 + pad) * rate))]
    assert phonemes.press_windows(words, press, 0, int(1.6 * rate)) == [
        (int((1.5 - pad) * rate), int(1.6 * rate))]                  # clipped to the chunk
    assert phonemes.press_windows(words, np.zeros(300), 0, 3 * rate) == []
    silent = np.zeros(3 * rate, np.float32)
    assert phonemes.unexplained_bilabials(silent, words, np.zeros(300)) == []


def test_chunks_shared_with_a_worker_process_give_the_same_phones(speech, monkeypatch):
    """A clip of several chunks is decoded by this process and a spawned worker together,
    with the same phones as in one process; "0" in WORKERS_ENV keeps it in one. Handed to
    the worker in the background (`words_in_background`, while Whisper runs here), the
    chunks it has not started come back here: the same phones again."""
    x, rate = speech
    x = phonemes.normalise(np.tile(x, 2))
    press = listen(x).press(phonemes.FRAME_RATE)
    monkeypatch.setattr(phonemes, "MAX_CHUNK_S", 2.0)
    assert len(phonemes._chunk_bounds(x)) >= 4
    if phonemes._ChunkWorker.pool is not None:       # started by an earlier test's folder
        phonemes._ChunkWorker.pool.shutdown()
        phonemes._ChunkWorker.pool = None
    monkeypatch.setenv(phonemes.WORKERS_ENV, "0")
    alone = phonemes.recognise_via_words(x, press)
    here = lambda: alone                                                  # noqa: E731
    assert phonemes.words_in_background(x, press, here) is here
    assert phonemes._ChunkWorker.pool is None
    monkeypatch.delenv(phonemes.WORKERS_ENV)
    try:
        shared = phonemes.recognise_via_words(x, press)
        pool = phonemes._ChunkWorker.pool
        assert pool is not None and pool.submit(os.getpid).result() != os.getpid()
        assert phonemes.words_in_background(x, press, lambda: 1 / 0)() == alone
    finally:
        if phonemes._ChunkWorker.pool is not None:
            phonemes._ChunkWorker.pool.shutdown()
        phonemes._ChunkWorker.pool = None
    assert shared == alone and any(p.label == "M" for p in shared)


def test_next_best_sentences_give_bilabial_candidates(speech):
    """Each alternative sentence with a bilabial word the best one lacks is aligned for its
    P/B/M; other sentences give none."""
    x, rate = speech                               # "go forward ten meters"
    found = phonemes.alternative_bilabials(x, ["go forward ten meters", "go forward ten",
                                               "zzqx"])
    assert [p.label for p in found] == ["M"] and 0.8 < found[0].start < found[0].end < 1.6
    assert phonemes.alternative_bilabials(x, ["go forward ten meters"],
                                          best="go for ten meters") == []


def test_alternatives_are_aligned_only_where_they_differ(speech):
    """With the best sentence's word times, an alternative is aligned only over the stretch
    where it differs (between its neighbouring words), not over the whole clip."""
    x, rate = speech                               # "go forward ten meters"
    said = phonemes.hear(x, 3)
    assert [w for w, _, _ in said.words] == ["go", "forward", "ten", "meters"]
    assert [p.label for p in said.phones if p.label != "SIL"][:4] == ["G", "OW", "F", "AO"]
    words = said.words[:3] + [("letters",) + said.words[3][1:]]   # best lacks the M
    duration = len(x) / rate
    spans = phonemes.differing_spans(words, "go forward ten meters", duration)
    assert spans == [(words[2][1], duration, "ten meters")]
    assert phonemes.differing_spans(words, "go forward then letters", duration) == []
    found = phonemes.alternative_bilabials(x, ["go forward ten meters"], "go forward ten letters",
                                           words)
    assert [p.label for p in found] == ["M"] and words[3][1] - 0.05 < found[0].start < words[3][2]


def test_lip_press_closes_for_bilabials_in_synthetic_speech():
    from faceforge.ml.lipsync import espeak
    x, rate, phones = espeak.speak("a map, a boat, a map", "en-us", rate=150)
    press = listen(audio.resample(x, rate, 16000)).press(phonemes.FRAME_RATE)
    t = np.arange(len(press)) / phonemes.FRAME_RATE

    def at(labels):
        return np.concatenate([press[(t >= p.start - 0.04) & (t <= p.end + 0.04)]
                               for p in phones if p.label in labels])

    assert at("PBM").max() > phonemes.CONFIRM_PRESS      # closures are pressed ...
    assert np.percentile(at(("AH", "AE", "OW")), 50) < phonemes.CONFIRM_PRESS   # ... open vowels not


def test_quiet_runs_become_pauses():
    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal(16000).astype(np.float32)
    x[4000:9000] *= 1e-3                           # 0.31 s, 60 dB down: a pause
    x[12000:13600] *= 1e-3                         # 0.1 s: too short to be a pause
    phones = [Phone("AA", 0.0, 0.6), Phone("M", 0.6, 0.8), Phone("AA", 0.8, 1.0)]
    out = phonemes.gate_pauses(phones, phonemes.level_track(x))
    sil = [p for p in out if p.label == "SIL"]
    assert len(sil) == 1 and sil[0].start == pytest.approx(0.25 + 0.08, abs=0.02)
    assert sil[0].end == pytest.approx(0.56 - 0.08, abs=0.02) and out[-1] == phones[-1]
    assert phonemes.gate_pauses(phones, phonemes.level_track(0.3 * rng.standard_normal(16000))) == phones


def test_silence_gives_silence():
    for x in (np.zeros(16000, np.float32), np.full(16000, 1e-5, np.float32)):
        phones, warnings = phonemes.phones_from_audio(x)
        assert phones == [Phone("SIL", 0.0, 1.0)] and "no speech" in warnings[0]


# ---------------------------------------------------------------- coarticulation
def gap(weights):
    """Lip opening in weight units: jaw drop not cancelled by mouthClose, plus funnel."""
    return (weights[:, INDEX["jawOpen"]] - weights[:, INDEX["mouthClose"]]
            + 0.4 * weights[:, INDEX["mouthFunnel"]])


def utterance(*phones, pause=0.3):
    """SIL, then the phones (label, duration) back to back, then SIL."""
    out, t = [Phone("SIL", 0.0, pause)], pause
    for label, d in phones:
        out.append(Phone(label, t, t + d))
        t += d
    return out + [Phone("SIL", t, t + pause)]


@pytest.mark.parametrize("fps", [24, 30, 60])
@pytest.mark.parametrize("consonant", ["M", "B", "P"])
def test_bilabials_always_close(fps, consonant):
    for vowel in ("AA", "OW", "UW"):
        phones = utterance((vowel, 0.15), (consonant, 0.03), (vowel, 0.15))
        w = visemes.coarticulate(phones, fps)
        t = np.arange(len(w)) / fps
        near = np.abs(t - (phones[2].start + phones[2].end) / 2) < 0.035
        assert gap(w)[near].min() < 0.03, (vowel, consonant)
        assert gap(w).max() > 0.15  # the vowels still open


def test_rounding_is_anticipated():
    fps = 60
    rounded = visemes.coarticulate(utterance(("S", 0.1), ("T", 0.06), ("UW", 0.2)), fps)
    spread = visemes.coarticulate(utterance(("S", 0.1), ("T", 0.06), ("IY", 0.2)), fps)
    during_s = slice(int(0.35 * fps), int(0.4 * fps))  # the S, 60-110 ms before the vowel
    pucker = INDEX["mouthPucker"]
    assert rounded[during_s, pucker].min() > spread[during_s, pucker].max() + 0.1


def test_no_flapping_and_silence_rests():
    w = visemes.coarticulate(utterance(("AA", 0.12), ("T", 0.05), ("AA", 0.12), pause=0.5), 30)
    jaw = w[:, INDEX["jawOpen"]]
    t = np.arange(len(w)) / 30
    assert jaw[np.abs(t - 0.645) < 0.02].min() > 0.5 * jaw.max()  # the T does not shut the jaw
    assert not w[t < 0.3].any() and not w[t > 1.1].any()
    assert not visemes.coarticulate([Phone("SIL", 0, 1)], 30).any()
    assert visemes.coarticulate([], 30, duration=1.0).shape == (31, 52)
    assert not w[:, ~LOWER].any()


@pytest.mark.parametrize("fps", [24, 30, 60])
def test_lips_rest_in_every_pause_and_do_not_flap_on_shorter_gaps(fps):
    for vowel in ("AA", "EH", "IY", "UW"):
        for silence in (0.1, 0.13, 0.2, 0.4):          # a pause: some frame is the rest pose
            phones = utterance((vowel, 0.15), ("SIL", silence), (vowel, 0.15))
            w = visemes.coarticulate(phones, fps)
            t = np.arange(len(w)) / fps
            inside = (t > phones[2].start) & (t < phones[2].end)
            assert (np.abs(w[inside]).max(axis=1) < 0.02).any(), (vowel, silence)
        for silence in (0.03, 0.06, 0.09):             # a gap: the jaw stays open
            phones = utterance((vowel, 0.15), ("SIL", silence), (vowel, 0.15))
            w = visemes.coarticulate(phones, fps)
            jaw = w[:, INDEX["jawOpen"]]
            t = np.arange(len(w)) / fps
            inside = (t >= phones[2].start - 0.01) & (t <= phones[2].end + 0.01)
            assert jaw[inside].min() > 0.6 * jaw.max(), (vowel, silence)


def test_viseme_tables_are_consistent():
    assert set(visemes.PHONE_VISEME) | set(visemes.DIPHTHONGS) == phoneset.ARPABET
    assert visemes.TARGETS.min() >= 0 and visemes.TARGETS.max() <= 1
    pbm = visemes.viseme_weights("PBM")
    assert pbm[INDEX["jawOpen"]] == pbm[INDEX["mouthClose"]] and pbm[INDEX["mouthPressLeft"]] > 0


# ---------------------------------------------------------------- engine
def test_engine_on_speech(speech):
    x, rate = speech
    x = np.concatenate([np.zeros(rate, np.float32), x])  # a second of silence first
    res = engine.lipsync(x, rate, 30)
    jaw = res.weights[:, INDEX["jawOpen"]]
    assert res.weights.shape == (frame_count(len(x) / rate, 30), 52)
    assert jaw.std() > 0.05 and jaw.max() > 0.2      # "go forward ten meters": mid vowels
    assert [p.label for p in res.phones if p.label != "SIL"][:4] == ["G", "OW", "F", "AO"]
    lead = next(p for p in res.phones if p.label != "SIL").start
    assert lead > 1.0 and not res.weights[: int((lead - 0.4) * 30), LOWER].any()
    assert res.head_rotation.shape == (len(jaw), 3) and np.abs(res.head_rotation).max() < 0.1
    assert res.weights.min() >= 0 and res.weights.max() <= 1


def test_hybrid_engine_rests_in_pauses_and_keeps_the_closures(speech):
    """The default engine: speech mouth from the phones evened out by the network, the
    lips still shut on "meters"' M, and the rest pose wherever the phones are silent."""
    x, rate = speech                               # "go forward ten meters"
    pad = np.zeros(rate // 2, np.float32)
    x = np.concatenate([pad, x, pad, x, pad])      # a 0.5 s pause between two sentences
    res = engine.lipsync(x, rate, 30, secondary=False)
    words = engine.lipsync(x, rate, 30, engine="phonetic-words", secondary=False)
    assert res.phones == words.phones              # the phones come from the words engine
    t = np.arange(len(res.weights)) / 30
    silent = np.zeros(len(t), bool)
    for p in res.phones:
        if p.label == "SIL" and p.end - p.start > 0.3:
            silent |= (t > p.start + 0.1) & (t < p.end - 0.1)
    rig = evaluate.reference_rig()                 # lip gap in mm on the built-in head
    lips, rest = evaluate.measure(res.weights, rig)[0], evaluate.measure(np.zeros((1, 52)), rig)[0]
    # scored as the evaluation scores them: within 15 % of the open size of rest / shut
    shut = evaluate.CLOSED * np.percentile(lips, 95)
    assert silent.sum() > 20 and np.abs(lips[silent] - rest).max() < shut
    assert not res.weights[~words.weights.any(axis=1)].any()   # where the phones rest, it rests
    closures = [m for m in res.phones if m.label == "M"]
    assert len(closures) == 2 and all(
        lips[(t >= m.start - 0.04) & (t <= m.end + 0.04)].min() < shut for m in closures)
    assert lips.max() > 8                          # mm: the vowels open
    # it differs from the phones alone: smoother (less jerk), not the same track
    jerk = lambda w: np.mean(np.diff(evaluate.measure(w, rig)[0], n=3) ** 2)
    assert np.abs(res.weights - words.weights).max() > 0.02
    assert jerk(res.weights) < jerk(words.weights)


def test_network_runs_once_per_clip(speech, monkeypatch):
    """The network engines run the lip network once per clip, whatever they need from it."""
    from faceforge.ml.lipsync.neural import runtime
    x, rate = speech
    calls = []
    real = runtime.LipNetRuntime.controls
    monkeypatch.setattr(runtime.LipNetRuntime, "controls",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    for name in engine.NETWORK_ENGINES:
        calls.clear()
        engine.lipsync(x, rate, 24, engine=name, secondary=False)
        assert len(calls) == 1, name
    calls.clear()
    engine.lipsync(x, rate, 24, engine="phonetic", secondary=False)
    assert not calls


def test_mouth_track_samples_one_run_at_any_rate(speech):
    x, rate = speech
    track = listen(x)
    for fps in (24, 30, 100):
        w = track.weights(fps)
        assert w.shape == (frame_count(len(x) / rate, fps), 52)
        np.testing.assert_array_equal(track.press(fps), w[:, INDEX["mouthPressLeft"]])
    assert not listen(np.zeros(rate, np.float32)).weights(30).any()


def test_secondary_motion_is_upper_face_only(speech):
    x, rate = speech
    upper, head = engine.secondary_motion(np.tile(x, 4), rate, 30, seed=3)
    assert not upper[:, ~UPPER].any()
    assert upper[:, INDEX["eyeBlinkLeft"]].max() == 1.0  # blinks in 11 s of speech
    assert upper[:, INDEX["browInnerUp"]].max() > 0.05
    again, _ = engine.secondary_motion(np.tile(x, 4), rate, 30, seed=3)
    np.testing.assert_array_equal(upper, again)


def test_energy_baseline(speech):
    x, rate = speech
    w = engine.energy_envelope(x, rate, 30)
    assert w[:, INDEX["jawOpen"]].std() > 0.03
    assert not np.delete(w, INDEX["jawOpen"], axis=1).any()
    res = engine.lipsync(x, rate, 30, engine="energy", secondary=False)
    np.testing.assert_allclose(res.weights, w, atol=1e-6)
    with pytest.raises(ValueError, match="engine"):
        engine.lipsync(x, rate, 30, engine="bogus")


def test_engine_on_bad_audio(speech):
    x, rate = speech
    normal = engine.lipsync(x, rate, 30, secondary=False).weights[:, INDEX["jawOpen"]]
    silent = engine.lipsync(np.zeros(rate, np.float32), rate, 30)
    assert not silent.weights[:, LOWER].any() and any("no speech" in w for w in silent.warnings)
    quiet = engine.lipsync(x * 10 ** (-50 / 20), rate, 30, secondary=False)
    assert any("quiet" in w for w in quiet.warnings)
    assert np.corrcoef(quiet.weights[:, INDEX["jawOpen"]], normal)[0, 1] > 0.8
    clipped = engine.lipsync(np.clip(x * 20, -1, 1), rate, 30, secondary=False)
    assert any("clips" in w for w in clipped.warnings)
    assert clipped.weights[:, INDEX["jawOpen"]].std() > 0.05
    offset = engine.lipsync(x + 0.4, rate, 30, secondary=False)
    assert np.corrcoef(offset.weights[:, INDEX["jawOpen"]], normal)[0, 1] > 0.95
    rng = np.random.default_rng(0)
    music = 0.05 * np.sin(2 * np.pi * 220 * np.arange(len(x)) / rate)
    noisy = x + music + 0.01 * rng.standard_normal(len(x))
    assert engine.lipsync(noisy.astype(np.float32), rate, 30).weights.shape[0] == len(normal)


# ---------------------------------------------------------------- evaluation geometry
def test_reference_rig_geometry():
    rig = evaluate.reference_rig()
    gap0, width0 = evaluate.measure(np.zeros((1, 52)), rig)
    assert gap0[0] < 1.5 and 35 < width0[0] < 60
    w = np.zeros((3, 52))
    w[1, INDEX["jawOpen"]] = 0.4
    w[2, [INDEX["jawOpen"], INDEX["mouthClose"]]] = 0.4
    g, _ = evaluate.measure(w, rig)
    assert g[1] > 10 and g[2] < 1.5
    assert evaluate.measure(visemes.viseme_weights("PBM")[None], rig)[0][0] < 0.5


def test_metrics_on_reference_phones(shared_data):
    ref = sorted((shared_data / "speech").glob("*.phone.json"))[0]
    phones = evaluate.reference_phones(ref)
    assert phones[0].label == "SIL" and {"M", "AE"} <= {p.label for p in phones}
    fps = 50
    track = evaluate.reference_track(phones, fps, int(phones[-1].end * fps) + 1)
    corr, lag = evaluate.best_lag(np.roll(track, 3), track, fps)
    assert corr > 0.95 and lag == pytest.approx(60, abs=5)
    m = evaluate.clip_metrics(track * 10, np.full(len(track), 45.0), phones, fps, 0.0)
    assert m["open_vowel"] == 1.0 and m["silence"] == 1.0 and m["corr"] > 0.99
    t = np.arange(len(track)) / fps
    shut = np.zeros(len(t), bool)
    for p in phones:
        shut |= (p.label in evaluate.BILABIALS) & (t >= p.start) & (t <= p.end)
    m = evaluate.clip_metrics(np.where(shut, 0.0, 10.0), np.full(len(t), 45.0), phones, fps, 0.0)
    assert m["closure"] == 1.0 and m["silence"] == 0.0


def test_dev_clips_are_aligned_grid_audio(shared_data):
    clips = evaluate.dev_clips(shared_data / "video" / "grid")
    assert len(clips) >= 4 and not set(c.name for c in clips) & {
        c.name for c in evaluate.test_clips(shared_data / "speech")}
    for c in clips:
        spoken = [p.label for p in c.phones if p.label != "SIL"]
        assert len(c.samples) > 2 * 16000 and len(spoken) >= 10
        assert c.phones[0].start == 0 and c.phones[-1].end == len(c.samples) / 16000
        assert c.phones[0].label == "SIL" and c.phones[-1].label == "SIL"


def test_pocketsphinx_testdata_clips_are_read_as_debian_lays_them_out(shared_data, tmp_path,
                                                                    monkeypatch):
    """cards/cards.transcription ("<s> words </s> (stem)") and cards/<stem>.wav, as in
    Debian's pocketsphinx-testdata; a missing package names the command that fetches it."""
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    (tmp_path / "cards").mkdir()
    for stem in ("001", "002"):
        sf.write(tmp_path / "cards" / f"{stem}.wav", x, rate, subtype="PCM_16")
    (tmp_path / "cards" / "cards.transcription").write_text(
        "<s> go forward ten meters  </s> (001)\n<s> go forward ten meters </s> (002)\n")
    clips = evaluate.testdata_clips(tmp_path)
    assert [c.name for c in clips] == ["cards-001", "cards-002"]
    assert clips[0].text == "go forward ten meters"
    assert [p.label for p in clips[0].phones if p.label != "SIL"][:3] == ["G", "OW", "F"]
    monkeypatch.setattr(evaluate, "TESTDATA_DIRS", (tmp_path / "nowhere",))
    with pytest.raises(FileNotFoundError, match="apt-get download pocketsphinx-testdata"):
        evaluate.testdata_clips()


def test_synthetic_dev_clips_carry_their_synthesiser_phones():
    clips = evaluate.synthetic_clips(n=2, seed=3)
    again = evaluate.synthetic_clips(n=2, seed=3)
    for c, d in zip(clips, again):
        # fixed by the seed (espeak-ng, the fallback without piper, varies by a few ms a run)
        assert c.text == d.text and [p.label for p in c.phones] == [p.label for p in d.phones]
        assert abs(len(c.samples) - len(d.samples)) < 0.01 * len(c.samples)
        assert c.phones[0].label == "SIL" and c.phones[0].end >= evaluate.SYNTHETIC_PAD_S
        assert c.phones[-1].end == pytest.approx(len(c.samples) / 16000)
        spoken = [p for p in c.phones if p.label != "SIL"]
        assert len(spoken) >= 5 and all(p.label in phoneset.ARPABET for p in spoken)
        # the reference phones fall on the voiced audio, not on the added silence
        start = int(spoken[0].start * 16000)
        assert np.abs(c.samples[:int(evaluate.SYNTHETIC_PAD_S * 16000)]).max() == 0
        assert np.abs(c.samples[start:start + 8000]).max() > 0.01


# ---------------------------------------------------------------- Blender
@pytest.fixture
def short_wav(tmp_path, speech):
    x, rate = speech
    path = tmp_path / "voice.wav"
    sf.write(path, x[: int(1.6 * rate)], rate, subtype="PCM_16")
    return path


@pytest.fixture
def lipsync_ops(bpy_empty):
    from faceforge.ops import lipsync as ops_lipsync
    assert hasattr(bpy_empty.types, "FACEFORGE_OT_bake_lipsync"), "operator not registered"
    return ops_lipsync


def scene_state(bpy):
    scene = bpy.context.scene
    return (len(bpy.data.actions), scene.frame_end, scene.sequence_editor is not None,
            [tuple(o.rotation_euler) for o in scene.objects])


def test_bake_lipsync(lipsync_ops, short_wav):
    import bpy
    from helpers import has_audio, tiny_rigged_mesh, vse_strips
    from faceforge.addon import keyframes
    obj = tiny_rigged_mesh()
    bake = lipsync_ops.bake_lipsync([obj], short_wav, transcript="go forward", start_frame=5,
                                    emotion_spec="0:happiness")
    rep = bake.results[0][1]
    assert "jawOpen" in rep.baked and "mouthClose" in rep.missing
    assert keyframes.list_takes(obj) == ["Lip-Sync"]
    fps = bpy.context.scene.render.fps
    frames = np.arange(5, 5 + bake.frames)
    jaw = keyframes.read_weights(obj, ["jawOpen"], frames)[:, 0]
    assert jaw.std() > 0.03 and jaw[0] == 0
    assert bake.frames == frame_count(1.6, fps)
    if has_audio():
        strip = vse_strips()[bake.sound_strip]
        assert strip.type == "SOUND" and strip.frame_start == 5
    else:  # a build without Audaspace (PyPI bpy 4.2) bakes and says why there is no strip
        assert bake.sound_strip is None and "sound strip could not be added" in lipsync_ops.summary(bake)
    assert bpy.context.scene.frame_end >= 5 + bake.frames - 1
    assert "skipped 47 missing" in lipsync_ops.summary(bake)
    lipsync_ops.bake_lipsync([obj], short_wav, start_frame=5)  # re-bake replaces take + strip
    assert keyframes.list_takes(obj) == ["Lip-Sync"]
    assert len(vse_strips()) == has_audio()


def test_bake_lipsync_failures_leave_scene(lipsync_ops, short_wav, tmp_path):
    import bpy
    from helpers import tiny_rigged_mesh
    obj = tiny_rigged_mesh()
    (tmp_path / "bad.wav").write_text("not audio")
    before = scene_state(bpy)
    for kwargs in ({"audio_path": tmp_path / "missing.wav"}, {"audio_path": tmp_path / "bad.wav"},
                   {"audio_path": short_wav, "emotion_spec": "0:nonsense_emotion"},
                   {"audio_path": short_wav, "take": ""}):
        with pytest.raises(ValueError):
            lipsync_ops.bake_lipsync([obj], **kwargs)
        assert scene_state(bpy) == before
    plain = bpy.data.objects.new("Empty", None)
    with pytest.raises(ValueError, match="ARKit"):
        lipsync_ops.bake_lipsync([plain], short_wav)


def test_operator(lipsync_ops, short_wav, tmp_path):
    import bpy
    from helpers import tiny_rigged_mesh
    from faceforge.addon import keyframes
    obj = tiny_rigged_mesh()
    assert bpy.ops.faceforge.bake_lipsync(filepath=str(short_wav), take="Talk",
                                          transcript="go forward") == {"FINISHED"}
    assert bpy.ops.faceforge.bake_lipsync(filepath=str(short_wav), take="Net",
                                          engine="neural") == {"FINISHED"}
    assert keyframes.list_takes(obj) == ["Talk", "Net"]
    before = scene_state(bpy)
    with pytest.raises(RuntimeError, match="no such audio"):  # reported as an error
        bpy.ops.faceforge.bake_lipsync(filepath=str(tmp_path / "none.wav"))
    assert scene_state(bpy) == before


def test_cli(lipsync_ops, short_wav, tmp_path):
    import bpy
    from helpers import has_audio, tiny_rigged_mesh, vse_strips
    from faceforge.addon import keyframes, scene_files
    tiny_rigged_mesh()
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    (tmp_path / "voice.txt").write_text("go forward")
    (tmp_path / "broken.wav").write_bytes(b"RIFF1234WAVEjunk")
    parser = argparse.ArgumentParser(prog="faceforge")
    lipsync_ops.add_cli(parser.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = parser.parse_args(["lipsync", str(head), str(short_wav), str(tmp_path / "broken.wav"),
                              "-o", str(out), "--transcript", str(tmp_path), "--take", "Speech",
                              "--start-frame", "3"])
    assert args.func(args) == 1  # the broken file fails, the good one is still written
    assert (out / "voice.blend").exists() and not (out / "broken.blend").exists()
    scene_files.load_scene(out / "voice.blend")
    obj = bpy.data.objects["Tiny"]
    assert keyframes.list_takes(obj) == ["Speech"]
    assert [s.frame_start for s in vse_strips()] == ([3] if has_audio() else [])
    args = parser.parse_args(["lipsync", str(head), str(short_wav), "-o", str(out)])
    assert args.func(args) == 1  # exists, no --overwrite
    args = parser.parse_args(["lipsync", str(head), str(short_wav), "-o", str(out),
                              "--overwrite", "--engine", "neural", "--take", "Net"])
    assert args.func(args) == 0
    scene_files.load_scene(out / "voice.blend")
    assert keyframes.list_takes(bpy.data.objects["Tiny"]) == ["Net"]


def test_cli_folder_shares_lines_with_the_worker_and_bakes_what_one_process_bakes(
        lipsync_ops, speech, tmp_path, monkeypatch):
    """A folder of voice lines (the default engine, Whisper where installed): every other
    line is analysed in the chunk worker (`analysis.LinesAhead`) while this process does
    the rest, and the keys are the ones a single process writes."""
    import bpy
    from helpers import tiny_rigged_mesh
    from faceforge.addon import keyframes, scene_files
    from faceforge.ml.arkit import ARKIT_NAMES
    from faceforge.ml.lipsync import analysis, phonemes
    if phonemes._ChunkWorker.get() is None:
        pytest.skip("no chunk worker here (one core)")
    tiny_rigged_mesh()
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head))
    x, rate = speech
    lines = tmp_path / "lines"
    lines.mkdir()
    for i, (a, b) in enumerate([(0.0, 1.4), (0.9, 2.4), (0.3, 1.5)]):
        sf.write(lines / f"line_{i}.wav", x[int(a * rate):int(b * rate)], rate,
                 subtype="PCM_16")
    taken = []
    take = analysis.LinesAhead.take

    def spy(self, path, fps):
        found = take(self, path, fps)
        taken.append(found is not None)
        return found
    monkeypatch.setattr(analysis.LinesAhead, "take", spy)
    here = []                                 # lines this process analysed itself
    analyse = lipsync_ops.analyse_speech
    monkeypatch.setattr(lipsync_ops, "analyse_speech",
                        lambda path, *a, **k: here.append(path.name) or analyse(path, *a, **k))
    parser = argparse.ArgumentParser(prog="faceforge")
    lipsync_ops.add_cli(parser.add_subparsers(dest="command"))
    weights = {}
    for run in ("shared", "alone"):
        if run == "alone":
            monkeypatch.setenv(phonemes.WORKERS_ENV, "0")
        out = tmp_path / run
        args = parser.parse_args(["lipsync", str(head), str(lines), "-o", str(out)])
        assert args.func(args) == 0
        for i in range(3):
            scene_files.load_scene(out / f"line_{i}.blend")
            obj = bpy.data.objects["Tiny"]
            weights[run, i] = keyframes.read_weights(obj, ARKIT_NAMES, np.arange(1, 40))
    assert taken == [False, True, False] + [False] * 3    # alone: all three here
    assert here == ["line_0.wav", "line_2.wav"] + [f"line_{i}.wav" for i in range(3)]
    for i in range(3):
        assert weights["shared", i].std() > 0.01
        np.testing.assert_allclose(weights["shared", i], weights["alone", i], atol=1e-6)
