"""English speech from Debian's flite voices with exact phone times: slt, rms and awb are
unit-selection voices cut from real recordings (three speakers the neural engine never heard),
kal a diphone voice (8 kHz). A held-out set for every engine, the neural one included.

    python -m lab.lipsync.flite_set [--voices slt rms awb kal] [--clips 8]
    python -m lab.lipsync.evaluate --fps 30 --data checkpoints/lipsync_flite/slt

Training shards for the neural engine instead (other paragraphs: seed 5000 + k, augmented
as `neural.synth` does; one shard per voice, so a voice can be kept out):

    python -m lab.lipsync.flite_set --shards checkpoints/flite_ft/flite --voices slt rms kal

flite is not on PyPI: fetch the packages once (no root needed) with

    mkdir -p checkpoints/flite && cd checkpoints/flite && apt-get download flite libflite1 \\
        && for f in *.deb; do dpkg-deb -x $f root; done

(or install `flite`). `flite -psdur` prints each segment with its end time; the paragraphs
are `evaluate.synthetic_clips`'s (texts.paragraph, seed 777: never training text).
Writes `<clip>.wav/.txt/.phone.json` (the test set's format) to
`checkpoints/lipsync_flite/<voice>/`; existing clips are kept.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from faceforge.ml.lipsync.audio import load_audio
from faceforge.ml.lipsync.phones import SIL, Phone, clean_label, merge_silence
from ..paths import CHECKPOINTS
from .evaluate import SYNTHETIC_SEED
from .language_set import reference

RATE = 16000
OUT = CHECKPOINTS / "lipsync_flite"
LOCAL = CHECKPOINTS / "flite" / "root"
VOICES = ("slt", "rms", "awb", "kal")
FLITE_PHONES = {"ax": "AH", "pau": SIL}     # flite's CMU phones that ARPAbet spells otherwise


def flite_command() -> tuple[list[str], dict]:
    """(flite executable, environment): the unpacked Debian packages under LOCAL, else PATH."""
    local = LOCAL / "usr" / "bin" / "flite"
    if local.exists():
        env = dict(os.environ, LD_LIBRARY_PATH=str(LOCAL / "usr" / "lib" / "x86_64-linux-gnu"))
        return [str(local)], env
    if shutil.which("flite"):
        return ["flite"], dict(os.environ)
    raise FileNotFoundError("flite not found; fetch it as this module's docstring says")


def parse_segments(text: str) -> list[Phone]:
    """`flite -psdur` output -> phones: a line per utterance ("pau:0.193 b:0.224 ...": phone
    and end time from the utterance's start), the utterances' audio one after another."""
    phones, offset = [], 0.0
    for line in text.splitlines():
        start = 0.0
        for item in line.split():
            name, _, end = item.rpartition(":")
            label = FLITE_PHONES.get(name) or clean_label(name)
            phones.append(Phone(label, offset + start, offset + float(end)))
            start = float(end)
        offset += start
    return phones


def speak(text: str, voice: str) -> tuple[np.ndarray, list[Phone]]:
    """(16 kHz samples, phones) of `text` spoken by the flite voice."""
    cmd, env = flite_command()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "in.txt").write_text(text)
        out = subprocess.run(cmd + ["-voice", voice, "-psdur", "-f", str(Path(tmp) / "in.txt"),
                                    "-o", str(Path(tmp) / "out.wav")], env=env, check=True,
                             capture_output=True, text=True, timeout=120).stdout
        samples, _ = load_audio(Path(tmp) / "out.wav", RATE)
    return samples, parse_segments(out)


def make(voice: str, clips: int, out: Path) -> None:
    from .neural import texts
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SYNTHETIC_SEED)
    for i in range(clips):
        text = texts.paragraph(rng)
        rng.uniform(0.85, 1.15)                   # as synthetic_clips draws (same texts)
        stem = out / f"{voice}-{i:02d}"
        if stem.with_suffix(".wav").exists():
            continue
        samples, phones = speak(text, voice)
        duration = len(samples) / RATE
        end = phones[-1].end if phones else duration
        if abs(end - duration) > 0.05:            # kal's segment times overrun its audio
            phones = [p._replace(start=p.start * duration / end, end=p.end * duration / end)
                      for p in phones]
        sf.write(stem.with_suffix(".wav"), samples, RATE, subtype="PCM_16")
        stem.with_suffix(".txt").write_text(text + "\n")
        Path(f"{stem}.phone.json").write_text(json.dumps(reference(merge_silence(phones,
                                                                                  duration))))
        print(f"{stem.name}: {duration:.1f} s (segments end at {end:.2f} s)", flush=True)


def training_shard(voice: str, count: int, path: Path) -> None:
    """`count` augmented utterances of the voice as one `neural.synth` shard at `path`."""
    from .neural import synth, texts
    rng = np.random.default_rng([5000, VOICES.index(voice)])
    items = []
    for _ in range(count):
        samples, phones = speak(texts.paragraph(rng), voice)
        items.append(synth.augmented(samples, RATE, phones, rng) + (f"flite-{voice}",))
    synth.write_shard(path, items)
    print(f"{path.name}: {sum(len(i[1]) for i in items) / synth.FPS / 60:.1f} min", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--voices", nargs="+", choices=VOICES, default=list(VOICES))
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--shards", type=Path, help="write training shards to this folder instead")
    p.add_argument("--count", type=int, default=60, help="utterances per training shard")
    args = p.parse_args(argv)
    for voice in args.voices:
        if args.shards:
            args.shards.mkdir(parents=True, exist_ok=True)
            if not (args.shards / f"shard_flite_{voice}.npz").exists():
                training_shard(voice, args.count, args.shards / f"shard_flite_{voice}.npz")
        else:
            make(voice, args.clips, OUT / voice)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
