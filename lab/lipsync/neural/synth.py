"""Generate the neural engine's training data: synthetic English speech (espeak-ng voices
and piper joe-us) with exact phone times, augmented, as log-mel features plus targets from
the phonetic engine's coarticulation (mouth controls and viseme classes at 50 fps).

    python -m lab.lipsync.neural.synth --out checkpoints/lipsync_neural/data \
        --count 3000 --seed 0

Writes shards of `--shard` utterances (`shard_<seed>_<k>.npz`) as it goes, so training
can start on the first ones; an existing shard is skipped (resumable). Without the
optional piper packages (see requirements.txt) every utterance is espeak-ng.

    python -m lab.lipsync.neural.synth --retarget SRC DST

copies the shards of SRC to DST with their control targets blended again from the stored
viseme classes (after a change of the coarticulation timing; the audio is kept).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceforge.ml.lipsync.audio import normalise
from faceforge.ml.lipsync.controls import CONTROL_COLUMNS
from faceforge.ml.lipsync.phones import Phone, merge_silence
from faceforge.ml.lipsync.visemes import blend, coarticulate, segments
from faceforge.ml.lipsync import espeak
from . import augment, piper, texts
from faceforge.ml.lipsync.neural.features import log_mel

FPS = 50                                      # model output rate (every 2nd mel frame)
ESPEAK_VOICES = ("en-us", "en", "en-gb-x-rp", "en-029", "en-gb-scotland", "en-us-nyc",
                 "en-gb-x-gbclan", "en-gb-x-gbcwmd")
ESPEAK_VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3",
                   "+f4", "+f5", "+klatt", "+klatt2", "+klatt3", "+klatt4", "+klatt6",
                   "+Andy", "+Mr serious", "+boris", "+edward", "+iven3", "+john", "+max")
PIPER_SHARE = 0.5


def targets(phones: list[Phone], duration: float) -> tuple[np.ndarray, np.ndarray]:
    """(mouth controls [K, C], viseme class [K]) at t = k / FPS from exact phones; gaps
    (the added lead and tail silence) are silence."""
    phones = merge_silence(phones, duration)
    controls = coarticulate(phones, FPS, duration)[:, CONTROL_COLUMNS]
    vis, start, _ = segments(phones)
    t = np.arange(len(controls)) / FPS
    cls = vis[np.clip(np.searchsorted(start, t, side="right") - 1, 0, len(vis) - 1)]
    return controls.astype(np.float16), cls.astype(np.int8)


def runs(vis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Viseme segments (index, start, end) from a class per frame at FPS: one per run of
    equal frames, its bounds halfway between frames (so to 10 ms; runs of the same class
    from adjacent phones become one segment), the first from 0, the last to the last frame."""
    first = np.flatnonzero(np.r_[True, vis[1:] != vis[:-1]])
    last = np.r_[first[1:], len(vis)] - 1
    start = np.maximum(first - 0.5, 0.0) / FPS
    end = np.minimum(last + 0.5, len(vis) - 1) / FPS
    return vis[first].astype(np.int64), start, end


def retarget(vis: np.ndarray) -> np.ndarray:
    """Mouth controls [K, C] blended again from a class per frame [K] (see `runs`)."""
    controls = blend(*runs(vis), FPS, (len(vis) - 1) / FPS)[:, CONTROL_COLUMNS]
    return controls.astype(np.float16)


def retarget_shards(src: Path, dst: Path) -> None:
    """Copy every shard of `src` to `dst` with `retarget`ed controls (existing ones skipped)."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("shard_*.npz")):
        if (dst / path.name).exists():
            continue
        with np.load(path) as d:
            d = dict(d)
        bounds = np.cumsum(np.r_[0, d["ctl_len"]])
        d["controls"] = np.concatenate([retarget(d["visemes"][a:b])
                                        for a, b in zip(bounds[:-1], bounds[1:])])
        np.savez(dst / path.name, **d)
        print(f"{path.name}: {len(d['ctl_len'])} utterances", flush=True)


def utterance(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """One random utterance: (log-mel [M, 40], controls [K, C], visemes [K], source)."""
    text = texts.paragraph(rng)
    if rng.random() < PIPER_SHARE and piper.available():
        x, rate, phones = piper.speak(text, length_scale=rng.uniform(0.75, 1.35),
                                      noise_scale=rng.uniform(0.3, 0.9),
                                      noise_w=rng.uniform(0.3, 1.1),
                                      pause_s=rng.uniform(0.05, 0.6))
        source = "piper"
    else:
        voice = rng.choice(ESPEAK_VOICES) + rng.choice(ESPEAK_VARIANTS)
        x, rate, phones = espeak.speak(text, voice, rate=int(rng.integers(110, 280)),
                                       pitch=int(rng.integers(15, 85)),
                                       pitch_range=int(rng.integers(10, 90)),
                                       word_gap=int(rng.integers(0, 3)))
        source = "espeak"
    return augmented(x, rate, phones, rng) + (source,)


def augmented(x: np.ndarray, rate: int, phones: list[Phone],
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A training item from speech with exact phones: (log-mel [M, 40], controls [K, C],
    visemes [K]) after a random speed, 0-0.8 s of silence either side and `random_chain`."""
    x, factor = augment.speed(x, rate, rng.uniform(0.88, 1.12))
    lead, tail = rng.uniform(0.0, 0.8, size=2)
    x = np.concatenate([np.zeros(int(lead * augment.RATE), np.float32), x,
                        np.zeros(int(tail * augment.RATE), np.float32)])
    phones = [Phone(p.label, lead + p.start / factor, lead + p.end / factor) for p in phones]
    x = normalise(augment.random_chain(x, rng))
    controls, vis = targets(phones, len(x) / augment.RATE)
    return log_mel(x).astype(np.float16), controls, vis


def write_shard(path: Path, items: list) -> None:
    """Concatenated arrays plus per-utterance offsets, in one npz."""
    mel, ctl, vis, src = zip(*items)
    np.savez(path, mel=np.concatenate(mel), controls=np.concatenate(ctl),
             visemes=np.concatenate(vis), mel_len=[len(m) for m in mel],
             ctl_len=[len(c) for c in ctl], source=np.array(src))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("checkpoints/lipsync_neural/data"))
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--shard", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retarget", type=Path, nargs=2, metavar=("SRC", "DST"),
                   help="copy SRC's shards to DST with targets blended again (no synthesis)")
    args = p.parse_args(argv)
    if args.retarget:
        retarget_shards(*args.retarget)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for k in range(0, args.count, args.shard):
        path = args.out / f"shard_{args.seed}_{k // args.shard:04d}.npz"
        if path.exists():
            continue
        rng = np.random.default_rng([args.seed, k])
        items = [utterance(rng) for _ in range(min(args.shard, args.count - k))]
        write_shard(path, items)
        print(f"{path.name}: {sum(len(i[1]) for i in items) / FPS / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
