"""Training items from real speech: each `<clip>.wav` with its `<clip>.txt` transcript,
force-aligned by pocketsphinx, then augmented like the synthetic speech (one shard per clip,
so a clip can be left out of a training run).

    python -m lab.lipsync.neural.real_speech --data ../shared/data/speech \
        --out checkpoints/lipsync_neural/real --copies 60

Synthetic voices close their lips for /p b m/ differently from people; a little real
speech in training is the remedy the synthetic data cannot give. Clips without a
transcript, or whose transcript does not align, are skipped with a message.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceforge.ml.lipsync.audio import load_audio, normalise
from faceforge.ml.lipsync.phonemes import RATE, align
from faceforge.ml.lipsync.phones import Phone
from .synth import augmented, write_shard

PREFIX = "real_"


def transcribed_clips(folder: Path) -> list[tuple[str, np.ndarray, list[Phone]]]:
    """(stem, 16 kHz samples, aligned phones) of every `<stem>.wav` beside a `<stem>.txt`."""
    clips = []
    for wav in sorted(Path(folder).glob("*.wav")):
        text = wav.with_suffix(".txt")
        if not text.exists():
            print(f"{wav.name}: skipped (no transcript {text.name})")
            continue
        samples = normalise(load_audio(wav, RATE)[0])
        try:
            phones, _ = align(samples, text.read_text())
        except ValueError as exc:
            print(f"{wav.name}: skipped ({exc})")
            continue
        clips.append((wav.stem, samples, phones))
    return clips


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder of <clip>.wav + <clip>.txt")
    p.add_argument("--out", type=Path, default=Path("checkpoints/lipsync_neural/real"))
    p.add_argument("--copies", type=int, default=60, help="augmented copies per clip")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for k, (stem, samples, phones) in enumerate(transcribed_clips(args.data)):
        rng = np.random.default_rng([args.seed, k])
        items = [augmented(samples, RATE, phones, rng) + ("real",) for _ in range(args.copies)]
        write_shard(args.out / f"{PREFIX}{stem}.npz", items)
        print(f"{stem}: {len(phones)} phones, {args.copies} copies", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
