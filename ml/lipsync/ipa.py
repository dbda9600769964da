"""espeak-ng / piper IPA phoneme names -> the ARPAbet phones the viseme module uses: the one
table from any language's phonemes to the engine's visemes (`visemes.PHONE_VISEME` takes
it from ARPAbet on).

Both synthesisers name phonemes in espeak's IPA spelling ("ˈoʊ", "ɑːɹ", "ɾ"). Stress and
syllable marks are dropped; a name may stand for a sequence (r-coloured vowels, syllabic
consonants, palatals), whose duration is then split evenly. Sounds English lacks take the
English phone whose mouth shape is closest: Spanish β (b between vowels) is drawn as B,
as animators draw it; German front rounded vowels take the rounded vowel of their height.
"""
from __future__ import annotations

from .phones import SIL, Phone

IPA_ARPABET: dict[str, tuple[str, ...]] = {
    # vowels and diphthongs
    "ɑ": ("AA",), "ɑː": ("AA",), "a": ("AA",), "aː": ("AA",), "ɒ": ("AA",), "ɐ": ("AH",),
    "æ": ("AE",), "ʌ": ("AH",), "ə": ("AH",), "ɚ": ("ER",), "ɜ": ("ER",), "ɜː": ("ER",),
    "ɛ": ("EH",), "e": ("EH",), "eː": ("EY",), "eɪ": ("EY",), "ɪ": ("IH",), "ᵻ": ("IH",),
    "i": ("IY",), "iː": ("IY",), "ɔ": ("AO",), "ɔː": ("AO",), "o": ("OW",), "oː": ("OW",),
    "oʊ": ("OW",), "əʊ": ("OW",), "ɔɪ": ("OY",), "ʊ": ("UH",), "u": ("UW",), "uː": ("UW",),
    "aɪ": ("AY",), "aʊ": ("AW",), "ɑɪ": ("AY",), "ʌɪ": ("AY",), "əɪ": ("AY",),
    "ei": ("EY",), "əu": ("OW",), "ʌʊ": ("OW",), "ʌʉ": ("OW",), "oɪ": ("OY",), "æʊ": ("AW",),
    "ʉ": ("UW",), "ʉː": ("UW",),
    # front rounded vowels (German): the rounded vowel of the same height
    "y": ("UW",), "yː": ("UW",), "ʏ": ("UH",), "ø": ("OW",), "øː": ("OW",), "œ": ("AO",),
    # r-coloured vowels and syllabic consonants
    "ɑːɹ": ("AA", "R"), "ɑɹ": ("AA", "R"), "ɔːɹ": ("AO", "R"), "ɔɹ": ("AO", "R"),
    "oːɹ": ("AO", "R"), "oɹ": ("AO", "R"), "ɛɹ": ("EH", "R"), "eɹ": ("EH", "R"),
    "ɛə": ("EH", "AH"), "ɪɹ": ("IH", "R"), "iɹ": ("IY", "R"), "ɪə": ("IH", "AH"),
    "ʊɹ": ("UH", "R"), "ʊə": ("UH", "AH"), "aɪɚ": ("AY", "ER"), "aɪə": ("AY", "AH"),
    "aʊɚ": ("AW", "ER"), "aʊə": ("AW", "AH"), "əl": ("AH", "L"), "l̩": ("AH", "L"),
    "n̩": ("AH", "N"), "m̩": ("AH", "M"),
    # consonants
    "b": ("B",), "d": ("D",), "ð": ("DH",), "f": ("F",), "ɡ": ("G",), "g": ("G",),
    "h": ("HH",), "x": ("HH",), "ç": ("HH",), "dʒ": ("JH",), "k": ("K",), "l": ("L",),
    "ɫ": ("L",), "ɬ": ("L",), "m": ("M",), "n": ("N",), "ŋ": ("NG",), "p": ("P",),
    "ɹ": ("R",), "r": ("R",), "ɾ": ("D",), "s": ("S",), "ʃ": ("SH",), "t": ("T",),
    "ʔ": ("T",), "θ": ("TH",), "tʃ": ("CH",), "v": ("V",), "w": ("W",), "ʍ": ("W",),
    "j": ("Y",), "z": ("Z",), "ʒ": ("ZH",),
    # consonants English lacks (Spanish, German)
    "β": ("B",), "ɣ": ("G",), "ʝ": ("Y",), "ɟʝ": ("JH",), "ʎ": ("L", "Y"), "ɲ": ("N", "Y"),
    "ʁ": ("G",), "χ": ("HH",),
}
MARKS = "ˈˌ-_'|#"          # stress, syllable and boundary marks: no sound of their own
LONGEST = max(map(len, IPA_ARPABET))


def ipa_to_arpabet(name: str) -> tuple[str, ...]:
    """One synthesiser phoneme name -> ARPAbet phones; () for pauses and empty names.
    Unknown spellings are split greedily into the longest known pieces; unknown
    characters are dropped."""
    name = "".join(c for c in name if c not in MARKS).strip()
    out: list[str] = []
    i = 0
    while i < len(name):
        for n in range(min(LONGEST, len(name) - i), 0, -1):
            if name[i:i + n] in IPA_ARPABET:
                out += IPA_ARPABET[name[i:i + n]]
                i += n
                break
        else:
            i += 1
    return tuple(out)


def events_to_phones(names: list[str], starts: list[float], end: float) -> list[Phone]:
    """Timed phoneme events (name, start s; each ends where the next starts, the last at
    `end`) -> ARPAbet phones; pauses and unmappable names become SIL."""
    phones: list[Phone] = []
    bounds = list(starts) + [end]
    for name, b, e in zip(names, bounds[:-1], bounds[1:]):
        if e <= b:
            continue
        parts = ipa_to_arpabet(name) or (SIL,)
        step = (e - b) / len(parts)
        phones += [Phone(p, b + k * step, b + (k + 1) * step) for k, p in enumerate(parts)]
    return phones
