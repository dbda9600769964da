"""Neural lip-sync engine: phoneme-event mapping of the speech synthesisers, log-mel and
network streaming (chunked == one-shot), causality, numpy runtime == torch model, and
engine="neural" through lipsync()."""
import numpy as np
import pytest
import torch

from faceforge.ml.arkit import INDEX, region_mask
from faceforge.ml.lipsync import audio, engine
from faceforge.ml.lipsync.neural import features, runtime
from faceforge.ml.lipsync import espeak, ipa as phoneset
from lab.lipsync.neural import piper, real_speech, synth
from lab.lipsync.neural.model import LipNet
from faceforge.ml.lipsync.controls import CONTROL_NAMES
from faceforge.ml.frames import frame_count
from faceforge.ml.lipsync.phones import ARPABET, SIL, Phone
from faceforge.ml.lipsync.visemes import VISEME_NAMES

LOWER = region_mask("lower")


@pytest.fixture(scope="module")
def speech(shared_data):
    return audio.load_audio(shared_data / "speech" / "goforward.wav")


@pytest.fixture(scope="module")
def random_net():
    """A LipNet with random (not trained) weights, in eval mode, and its numpy export."""
    torch.manual_seed(0)
    net = LipNet(len(CONTROL_NAMES), len(VISEME_NAMES), channels=32).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
        net.mel_mean.fill_(-5.0)
        net.mel_std.fill_(4.0)
    return net, runtime.LipNetRuntime(net.export())


def noise_speech(seconds=2.3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(16000 * seconds)) * np.repeat(rng.random(int(seconds * 20)), 800)[
        :int(16000 * seconds)]
    return (0.2 * x).astype(np.float32)


# ---------------------------------------------------------------- phoneme events
def test_ipa_mapping():
    f = phoneset.ipa_to_arpabet
    assert f("ˈoʊ") == ("OW",) and f("dʒ") == ("JH",) and f("tʃ") == ("CH",)
    assert f("ɑːɹ") == ("AA", "R") and f("ˌaɪɚ") == ("AY", "ER") and f("ɾ") == ("D",)
    assert f("") == () and f("ˈ") == ()
    assert all(p in ARPABET for v in phoneset.IPA_ARPABET.values() for p in v)
    phones = phoneset.events_to_phones(["h", "ˈɑːɹ", "", "m"], [0.0, 0.1, 0.3, 0.4], 0.5)
    assert [p.label for p in phones] == ["HH", "AA", "R", SIL, "M"]
    assert phones[1].end == pytest.approx(0.2) and phones[-1].end == 0.5


def test_espeak_phoneme_events():
    x, rate, phones = espeak.speak("Bob made a map.", "en-us", rate=160)
    assert rate == 22050 and len(x) > 0.5 * rate and np.abs(x).max() > 0.05
    labels = [p.label for p in phones if p.label != SIL]
    assert labels[:3] == ["B", "AA", "B"] and "M" in labels and labels[-1] == "P"
    starts = np.array([p.start for p in phones])
    assert np.all(np.diff(starts) >= 0) and phones[-1].end == pytest.approx(len(x) / rate)
    # every bilabial is silent-ish or quiet at its start: the closure precedes the burst
    level = audio.frame_level_db(x, rate, 100)
    b = next(p for p in phones if p.label == "B")
    vowel = next(p for p in phones if p.label == "AA")
    assert level[int(vowel.start * 100) + 3] > level[int(b.start * 100) + 1]
    with pytest.raises(ValueError, match="voice"):
        espeak.speak("hi", "xx-nonexistent")


def test_piper_character_grouping():
    chars = ["^", "h", "ə", "l", "ˈ", "o", "ʊ", " ", "w", "ˈ", "ɜ", "ː", "l", "d", ".", "$"]
    starts = list(np.arange(len(chars)) * 0.05)
    names, times = piper.group_characters(chars, starts)
    assert names == ["", "h", "ə", "l", "oʊ", "w", "ɜː", "l", "d", "", ""]
    assert times[4] == pytest.approx(0.2) and times[5] == pytest.approx(0.35)
    keep, t = piper.id_times([1, 0, 5, 0, 7], np.array([100, 50, 200, 100, 100]), 0, 1000)
    assert list(keep) == [0, 2, 4] and np.allclose(t, [0.0, 0.125, 0.4])


def test_training_targets():
    phones = [Phone("M", 0.2, 0.3), Phone("AA", 0.3, 0.5)]      # lead and tail gaps: silence
    ctl, vis = synth.targets(phones, 0.8)
    assert ctl.shape == (41, len(CONTROL_NAMES)) and vis.shape == (41,)
    jaw = CONTROL_NAMES.index("jawOpen")
    assert ctl[20, jaw] > 0.3 and ctl[0].max() == 0 and ctl[-1].max() == 0
    assert VISEME_NAMES[vis[12]] == "PBM" and VISEME_NAMES[vis[20]] == "AA"


def test_retarget_from_viseme_runs():
    """Targets blended again from the stored class per frame equal the targets from the
    phones when phone bounds lie halfway between frames (otherwise within 10 ms)."""
    bounds = [0.21, 0.33, 0.47, 0.55, 0.63, 0.81, 0.89, 1.07]
    labels = ["M", "AA", "T", "S", "IY", "P", "UW"]
    phones = [Phone(lab, b, e) for lab, b, e in zip(labels, bounds[:-1], bounds[1:])]
    ctl, vis = synth.targets(phones, 1.4)
    cls, start, end = synth.runs(vis)
    assert [VISEME_NAMES[c] for c in cls] == ["rest", "PBM", "AA", "TDN", "SZ", "IY", "PBM",
                                              "UW", "rest"]
    assert np.allclose(start[1:], bounds) and start[0] == 0 and end[-1] == 1.4
    assert np.abs(synth.retarget(vis).astype(np.float32) - ctl.astype(np.float32)).max() < 2e-3


def test_real_speech_shards(shared_data, tmp_path):
    """A transcribed clip becomes a shard of augmented copies with targets from its aligned
    phones (its bilabials among the viseme classes); a clip without a transcript is skipped;
    training reads real shards without holding any out, and leaves out the named clip."""
    from lab.lipsync.train_neural import Shards, draw
    src = shared_data / "speech" / "sense_and_sensibility_01_austen_64kb-0890"
    (tmp_path / "in").mkdir()
    for suffix in (".wav", ".txt"):
        (tmp_path / "in" / f"clip{suffix}").write_bytes(src.with_suffix(suffix).read_bytes())
    (tmp_path / "in" / "bare.wav").write_bytes(src.with_suffix(".wav").read_bytes())
    real_speech.main(["--data", str(tmp_path / "in"), "--out", str(tmp_path), "--copies", "2"])
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["real_clip.npz"]
    with np.load(tmp_path / "real_clip.npz") as d:
        assert np.abs(d["mel_len"] / 2 - d["ctl_len"]).max() <= 1      # 100 fps mel, 50 fps
        assert "PBM" in {VISEME_NAMES[v] for v in d["visemes"]}
        assert d["controls"].max() > 0.3 and list(d["source"]) == ["real", "real"]
    shards = Shards(tmp_path, "real_*.npz", holdout=False)
    assert shards.refresh() == 2 and not shards.val
    assert Shards(tmp_path, "real_*.npz", holdout=False, skip={"real_clip.npz"}).refresh() == 0
    rng = np.random.default_rng(0)
    synthetic, real = [("s",)] * 3, [("r",)] * 3
    assert {p[0] for p in draw(synthetic, rng, 50, real, 0.0)} == {"s"}
    assert {p[0] for p in draw(synthetic, rng, 50, real, 1.0)} == {"r"}
    assert 10 < sum(p[0] == "r" for p in draw(synthetic, rng, 200, real, 0.25)) < 90


# ---------------------------------------------------------------- features and network
def test_log_mel_streaming_equals_one_shot():
    x = noise_speech()
    whole = features.log_mel(x)
    stream = features.LogMelStream()
    parts = [stream.push(x[i:i + 999]) for i in range(0, len(x), 999)]
    parts.append(stream.finish(len(x)))
    assert whole.shape == (len(x) // 160 + 1, features.N_MELS)
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-4)


def test_numpy_runtime_matches_torch(random_net):
    net, rt = random_net
    x = noise_speech()
    mel = features.log_mel(x)
    with torch.no_grad():
        expected = net(torch.from_numpy(mel)[None])[0][0].numpy()
    stream = rt.stream()
    got = np.concatenate([stream.push(x), stream.finish(len(x))])
    assert got.shape == expected.shape == ((len(mel) + 1) // 2, len(CONTROL_NAMES))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_chunked_equals_one_shot(random_net):
    _, rt = random_net
    x = noise_speech(3.1)
    whole = rt.controls(x, chunk_s=100.0)
    assert len(whole) == (len(x) // 160 + 2) // 2
    for chunk in (0.013, 0.37, 1.0):
        np.testing.assert_allclose(rt.controls(x, chunk_s=chunk), whole, atol=1e-4)


def test_causality(random_net):
    net, rt = random_net
    x = noise_speech()
    y = x.copy()
    cut = 16000
    y[cut:] = np.random.default_rng(1).standard_normal(len(x) - cut) * 0.3
    a, b = rt.stream(), rt.stream()
    out_a = np.concatenate([a.push(x), a.finish(len(x))])
    out_b = np.concatenate([b.push(y), b.finish(len(y))])
    # output frame k reads mel frames <= 2k, whose windows end at 2k * 160 + 200 samples
    last_causal = (cut - 200) // 320
    np.testing.assert_array_equal(out_a[:last_causal], out_b[:last_causal])
    assert np.abs(out_a[last_causal + 2:] - out_b[last_causal + 2:]).max() > 1e-3
    mel = torch.from_numpy(features.log_mel(x))[None]
    changed = mel.clone()
    changed[:, 60:] += 3.0
    with torch.no_grad():
        ta, tb = net(mel)[0], net(changed)[0]
    torch.testing.assert_close(ta[:, :30], tb[:, :30])


def test_committed_weights_are_small_and_load():
    rt = runtime.load()
    n = sum(v.size for k, v in rt.params.items() if k not in ("dilations", "delay"))
    assert 1e4 < n <= 5e6 and runtime.WEIGHTS.stat().st_size < 3e6


def test_test_clips_are_scored_by_networks_that_never_heard_them(shared_data):
    """The committed network learnt from the test clips; the evaluation picks, for each
    test clip, a leave-one-out network (a different one per clip), and none for other clips."""
    from lab.lipsync import evaluate
    refs = (shared_data / "speech").glob("*.phone.json")
    stems = sorted(p.name[:-len(".phone.json")] for p in refs)
    clips = [evaluate.Clip(stem, None, "", []) for stem in stems]
    pattern = evaluate.held_out_lipnet(clips)
    assert pattern == evaluate.LEAVE_ONE_OUT and len(stems) == 5
    nets = [runtime.load(pattern.format(clip=stem)) for stem in stems]
    committed = runtime.load().params["controls.weight"]
    heads = [n.params["controls.weight"] for n in nets] + [committed]
    assert all(not np.allclose(a, b) for i, a in enumerate(heads) for b in heads[i + 1:])
    assert evaluate.held_out_lipnet(clips + [evaluate.Clip("other", None, "", [])]) is None


# ---------------------------------------------------------------- engine
def test_engine_neural(speech):
    x, rate = speech
    res = engine.lipsync(x, rate, 30, engine="neural", secondary=False)
    assert res.weights.shape == (frame_count(len(x) / rate, 30), 52)
    assert not res.weights[:, ~LOWER].any() and res.phones == []
    jaw = res.weights[:, INDEX["jawOpen"]]
    assert jaw.max() > 0.15 and jaw[:3].max() < 0.05          # opens in speech, rest at start
    silent = engine.lipsync(np.zeros(rate, np.float32), rate, 30, engine="neural")
    assert not silent.weights[:, LOWER].any() and any("no speech" in w for w in silent.warnings)
    at_48k = engine.lipsync(audio.resample(x, rate, 48000), 48000, 30, engine="neural",
                            secondary=False)
    assert np.corrcoef(at_48k.weights[:, INDEX["jawOpen"]], jaw)[0, 1] > 0.9
