"""Timed phones, whatever made them (recognition, alignment, a synthesiser): the ARPAbet
label set without stress digits, SIL for silence and every filler, and the list operations
all phone sources share."""
from __future__ import annotations

from typing import NamedTuple

SIL = "SIL"
BILABIALS = frozenset("P B M".split())
ARPABET = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH".split())


class Phone(NamedTuple):
    """One phone: ARPAbet label without stress (or SIL), start and end in seconds."""
    label: str
    start: float
    end: float


def clean_label(label: str) -> str:
    """'AH1' -> 'AH'; fillers ('+NSN+', '<sil>', 'sil') and unknown labels -> 'SIL'."""
    base = label.strip().upper().rstrip("012")
    return base if base in ARPABET else SIL


def overwrite(phones: list[Phone], segments: list[Phone]) -> list[Phone]:
    """Sorted phones with each segment written over them (phones are cut around it)."""
    out = list(phones)
    for h in segments:
        out = ([p._replace(end=min(p.end, h.start)) for p in out if p.start < h.start]
               + [h] + [p._replace(start=max(p.start, h.end)) for p in out if p.end > h.end])
    return out


def merge_silence(phones: list[Phone], duration: float) -> list[Phone]:
    """Phones covering [0, duration] without gaps or overlaps: gaps and the ends become
    SIL, runs of SIL merge, times are clipped to the duration."""
    out: list[Phone] = []

    def add(label: str, start: float, end: float) -> None:
        if out and out[-1].label == SIL == label:
            out[-1] = out[-1]._replace(end=end)
        else:
            out.append(Phone(label, start, end))

    t = 0.0
    for label, start, end in sorted(phones, key=lambda p: p.start):
        start, end = max(start, t), min(end, duration)
        if end <= start:
            continue
        if start > t:
            add(SIL, t, start)
        add(label, start, end)
        t = end
    if t < duration:
        add(SIL, t, duration)
    return out
