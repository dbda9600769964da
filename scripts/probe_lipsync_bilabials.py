"""How well the neural lip model confirms the phone loop's bilabials on a development set.

    python scripts/probe_lipsync_bilabials.py --dev synthetic [--lipnet FILE] [--checkpoint PT]

`phonetic-words` writes a P/B/M that phone recognition hears, where the aligned words have
none, over the words when the lip model presses there (phonemes.CONFIRM_PRESS). This lists
those candidates per clip, whether they are real (a reference bilabial within the timing
slack) and the model's peak press, and sums up how a threshold separates real from false.
With `--checkpoint` (a training checkpoint of the same network, whose viseme head the
export drops) it also scores each candidate by the network's bilabial-viseme probability,
the other signal the network could confirm closures with.
"""
from __future__ import annotations

import argparse

import numpy as np

from faceforge.ml.lipsync import evaluate, phonemes
from faceforge.ml.lipsync.audio import normalise, remove_dc
from faceforge.ml.lipsync.neural.runtime import OUT_FPS, load


def bilabial_probability(speech: np.ndarray, checkpoint) -> np.ndarray:
    """[frames at phonemes.FRAME_RATE] the bilabial viseme's probability from the viseme
    head of a torch checkpoint of the network."""
    import torch
    from faceforge.ml.lipsync.neural.features import log_mel
    from faceforge.ml.lipsync.neural.model import LipNet
    from faceforge.ml.lipsync.neural.synth import CONTROL_COLUMNS
    from faceforge.ml.lipsync.visemes import VISEME_NAMES
    model = LipNet(len(CONTROL_COLUMNS), len(VISEME_NAMES))
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    mel = torch.from_numpy(log_mel(speech).astype(np.float32))[None]
    tail = mel.min().expand(1, 2 * model.delay, mel.shape[2])          # flushes the delay
    with torch.no_grad():
        logits = model.eval()(torch.cat([mel, tail], 1))[1][0, model.delay:]
    prob = torch.softmax(logits, -1)[:, VISEME_NAMES.index("PBM")].numpy()
    return np.repeat(prob, phonemes.FRAME_RATE // OUT_FPS)


def candidates(clip, net, checkpoint=None) -> list[tuple[float, float, bool]]:
    """(peak press, peak bilabial probability or nan, real?) of each phone-loop bilabial
    the aligned words lack (one chunk: development clips are shorter than
    phonemes.MAX_CHUNK_S)."""
    speech = normalise(remove_dc(clip.samples))
    try:
        words = phonemes.align(speech, phonemes.recognise_words(speech))[0]
    except ValueError:
        return []                                  # the engine recognises phones instead
    press = phonemes.lip_press(speech, net)
    prob = bilabial_probability(speech, checkpoint) if checkpoint else None
    slack = phonemes.BILABIAL_SLACK_S
    refs = [p for p in clip.phones if p.label in phonemes.BILABIALS]
    return [(phonemes.peak_press(h, press),
             phonemes.peak_press(h, prob) if prob is not None else np.nan,
             any(r.start - slack < h.end and h.start < r.end + slack for r in refs))
            for h in phonemes.bilabial_candidates(words, phonemes.recognise(speech))]


def auc(real: np.ndarray, false: np.ndarray) -> float:
    """Share of (real, false) pairs that the score orders correctly."""
    return float(np.mean(real[:, None] > false[None, :]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dev", choices=("grid", "synthetic"), default="synthetic")
    p.add_argument("--lipnet", help="neural weights (default: the committed ones)")
    p.add_argument("--checkpoint", help="a torch checkpoint of the same network: also score "
                   "by its bilabial-viseme probability")
    args = p.parse_args(argv)
    net = load(args.lipnet) if args.lipnet else load()
    clips = evaluate.dev_clips() if args.dev == "grid" else evaluate.synthetic_clips()
    found = [(c.name, *x) for c in clips for x in candidates(c, net, args.checkpoint)]
    real = np.array([x[1:3] for x in found if x[3]]).reshape(-1, 2)
    false = np.array([x[1:3] for x in found if not x[3]]).reshape(-1, 2)
    for name, press, prob, is_real in found:
        if is_real or press > phonemes.CONFIRM_PRESS:
            print(f"{name}: {'real ' if is_real else 'false'} press {press:.3f} "
                  f"bilabial probability {prob:.3f}")
    print(f"{len(found)} candidates, {len(real)} real")
    if len(real):
        print(f"real: press {real[:, 0].min():.3f}-{real[:, 0].max():.3f}, "
              f"{np.sum(real[:, 0] > phonemes.CONFIRM_PRESS)} above {phonemes.CONFIRM_PRESS}")
    if len(false):
        print(f"false: {np.sum(false[:, 0] > phonemes.CONFIRM_PRESS)} of {len(false)} above "
              f"{phonemes.CONFIRM_PRESS} (median press {np.median(false[:, 0]):.3f})")
    if len(real) and len(false):
        scores = ["press"] + (["bilabial probability"] if args.checkpoint else [])
        for k, score in enumerate(scores):
            lowest = real[:, k].min()
            print(f"{score}: AUC {auc(real[:, k], false[:, k]):.3f}; "
                  f"{np.sum(false[:, k] >= lowest)} false at or above the lowest real "
                  f"({lowest:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
