"""Transcript text -> the words a pronouncing dictionary holds: numbers, ordinals, years,
decimals and common abbreviations spelt out ("15th" -> "fifteenth", "1455" -> "fourteen
fifty five", "42-line" -> "forty two line", "Mr." -> "mister"), lower case, punctuation out."""
from __future__ import annotations

import re

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))
ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
           "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
# written with a full stop ("St.", "No. 5"); the first four also without one
ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "vs": "versus",
                 "ms": "miss", "st": "saint", "jr": "junior", "sr": "senior",
                 "etc": "et cetera", "prof": "professor", "capt": "captain", "gen": "general"}
UNDOTTED = ("mr", "mrs", "dr", "vs")
NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?|\.\d+"
SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at ", "=": " equals "}
YEARS = (1100, 2099)        # four-digit numbers read as years ("nineteen ninety"), not 2000-2009


def cardinal(n: int) -> str:
    """0 <= n < 10**12 in words ("one hundred twenty three")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + (" " + cardinal(rest) if rest else "")
    for scale, name in SCALES:
        if n >= scale:
            rest = n % scale
            return cardinal(n // scale) + " " + name + (" " + cardinal(rest) if rest else "")
    raise ValueError(n)


def ordinal(n: int) -> str:
    """1 -> "first", 15 -> "fifteenth", 21 -> "twenty first"."""
    words = cardinal(n).split()
    last = words[-1]
    if last in ORDINAL:
        words[-1] = ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year(n: int) -> str:
    """A year as it is read: 1455 -> "fourteen fifty five", 1900 -> "nineteen hundred",
    1905 -> "nineteen oh five"."""
    hi, lo = divmod(n, 100)
    if lo == 0:
        return cardinal(hi) + " hundred"
    return cardinal(hi) + (" oh " + ONES[lo] if lo < 10 else " " + cardinal(lo))


def _number(token: str) -> str:
    digits = token.replace(",", "")
    if "." in digits:
        whole, frac = digits.split(".", 1)
        return (cardinal(int(whole)) if whole else "zero") + " point " + " ".join(
            ONES[int(d)] for d in frac)
    n = int(digits)
    if len(token) == 4 and YEARS[0] <= n <= YEARS[1] \
            and not 2000 <= n <= 2009:
        return year(n)
    if n >= 10 ** 12:
        return " ".join(ONES[int(d)] for d in digits)
    return cardinal(n)


def normalise_text(text: str) -> str:
    """Lower-case words separated by single spaces, every number spelt out."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    for symbol, words in SYMBOLS.items():
        text = text.replace(symbol, words)
    text = re.sub(rf"\$({NUMBER})", r"\1 dollars", text)
    text = re.sub(r"\bno\.\s*(?=\d)", " number ", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(" + "|".join(ABBREVIATIONS) + r")\.", lambda m: " " + ABBREVIATIONS[
        m.group(1).lower()] + " ", text, flags=re.IGNORECASE)
    text = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: " " + ordinal(int(m.group(1))) + " ",
                  text, flags=re.IGNORECASE)
    text = re.sub(NUMBER, lambda m: " " + _number(m.group(0)) + " ", text)
    words = [ABBREVIATIONS[w] if w in UNDOTTED else w for w in re.findall(r"[a-z']+", text.lower())]
    return " ".join(w.strip("'") for w in " ".join(words).split() if w.strip("'"))
