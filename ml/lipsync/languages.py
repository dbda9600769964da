"""The languages lip-sync knows words in, and their pronunciations.

English words come from pocketsphinx's CMU dictionary. Another language's words (a
transcript, or what the multilingual Whisper model hears) are pronounced by espeak-ng in
that language and mapped to the engine's phones by the one table `ipa.IPA_ARPABET`; the
English acoustic model then aligns them. A language is listed only once a synthetic set
with exact phone times has measured it (docs/model_card_lipsync.md). Any other language
runs the acoustic engines only: no words, no transcript.
"""
from __future__ import annotations

import re

from . import espeak
from .ipa import ipa_to_arpabet

DEFAULT = "en"
# ISO 639-1 code: (name, espeak-ng voice); English needs no voice (CMU dictionary).
LANGUAGES = {"en": ("English", None), "es": ("Spanish", "es"), "de": ("German", "de")}
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")    # letters and digits, inner apostrophes


def supported(language: str) -> bool:
    return language in LANGUAGES


def unsupported_note(language: str) -> str:
    """The user's message for a language without words: what runs instead."""
    names = ", ".join(f"{code} ({name})" for code, (name, _) in LANGUAGES.items())
    return (f"lip-sync knows no words in language {language!r} (supported: {names}); "
            f"the acoustic engines ran instead, without a transcript")


def check(language: str) -> str:
    """The language code normalised ('ES' -> 'es'); ValueError for what is not a code."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    if not re.fullmatch(r"[a-z]{2,3}", code):
        raise ValueError(f"{language!r} is not a language code (ISO 639-1, such as en, es, de)")
    return code


def words(text: str) -> list[str]:
    """A transcript's words in reading order, lower case, punctuation out (numbers stay
    digits: espeak-ng reads them in the language)."""
    return WORD.findall(text.lower())


def pronounce(word: str, language: str) -> tuple[str, ...]:
    """ARPAbet phones of one word in a supported non-English language (espeak-ng's
    phonemes through `ipa.IPA_ARPABET`); () where espeak-ng gives none."""
    voice = LANGUAGES[language][1]
    if voice is None:
        raise ValueError(f"{language!r} words come from the pronouncing dictionary")
    if not espeak.available():
        raise ValueError(espeak.MISSING)
    return tuple(p for name in espeak.phonemes(word, voice) for p in ipa_to_arpabet(name))
