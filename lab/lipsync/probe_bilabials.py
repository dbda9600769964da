"""How well the neural lip model confirms the bilabials that the recognised words lack, on a
development set.

    python -m lab.lipsync.probe_bilabials --dev synthetic [--lipnet FILE] [--nbest N]
        [--checkpoint PT]

`phonetic-words` writes a P/B/M that the word recogniser's next-best sentences
(phonemes.NBEST) or phone recognition hear, where the aligned words have none, over the
words when the lip model presses there (phonemes.NBEST_PRESS, CONFIRM_PRESS). This lists
those candidates per clip and source, whether they are real (a reference bilabial within
the timing slack) and the model's peak press, and sums up how the thresholds separate real
from false.
With `--checkpoint` (a training checkpoint of the same network, whose viseme head the
export drops) it also scores each candidate by the network's bilabial-viseme probability,
the other signal the network could confirm closures with.
"""
from __future__ import annotations

import argparse

import numpy as np

from faceforge.ml.lipsync import phonemes
from lab.lipsync import evaluate
from faceforge.ml.lipsync.audio import normalise, remove_dc
from faceforge.ml.lipsync.neural.runtime import OUT_FPS, listen, load
from faceforge.ml.lipsync.phones import BILABIALS, Phone
from faceforge.ml.lipsync.visemes import VISEME_NAMES


def load_viseme_model(checkpoint):
    """The torch network of a training checkpoint, with the viseme head the export drops."""
    import torch
    from lab.lipsync.neural.model import LipNet
    from lab.lipsync.neural.synth import CONTROL_COLUMNS
    model = LipNet(len(CONTROL_COLUMNS), len(VISEME_NAMES))
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    return model.eval()


def bilabial_probability(speech: np.ndarray, model) -> np.ndarray:
    """[frames at phonemes.FRAME_RATE] the bilabial viseme's probability from the viseme
    head of `model` (`load_viseme_model`)."""
    import torch
    from faceforge.ml.lipsync.neural.features import log_mel
    mel = torch.from_numpy(log_mel(speech).astype(np.float32))[None]
    tail = mel.min().expand(1, 2 * model.delay, mel.shape[2])          # flushes the delay
    with torch.no_grad():
        logits = model(torch.cat([mel, tail], 1))[1][0, model.delay:]
    prob = torch.softmax(logits, -1)[:, VISEME_NAMES.index("PBM")].numpy()
    return np.repeat(prob, phonemes.FRAME_RATE // OUT_FPS)


def distinct(found: list[Phone]) -> list[Phone]:
    """Candidates by start, each overlapping none kept before it (several of the n-best
    sentences often share one bilabial)."""
    kept: list[Phone] = []
    for h in sorted(found, key=lambda p: p.start):
        if not kept or h.start >= kept[-1].end:
            kept.append(h)
    return kept


def candidates(clip, net, nbest: int, viseme_model=None) -> list[tuple]:
    """(source, peak press, peak bilabial probability or nan, real?) of each bilabial that
    the best sentence's aligned words lack, as `phonemes.recognise_via_words` meets them:
    first those of the `nbest` next-best sentences, then the phone loop's, past the n-best
    ones that the lip model confirmed (one chunk: development clips are shorter than
    phonemes.MAX_CHUNK_S)."""
    speech = normalise(remove_dc(clip.samples))
    best, *others = phonemes.recognise_words(speech, nbest)
    try:
        words = phonemes.align(speech, best)[0]
    except ValueError:
        return []                                  # the engine recognises phones instead
    press = listen(speech, net).press(phonemes.FRAME_RATE)
    prob = bilabial_probability(speech, viseme_model) if viseme_model else None
    slack = phonemes.BILABIAL_SLACK_S
    refs = [p for p in clip.phones if p.label in BILABIALS]

    def scored(source: str, found: list[Phone]) -> list[tuple]:
        return [(source, phonemes.peak_press(h, press),
                 phonemes.peak_press(h, prob) if prob is not None else np.nan,
                 any(r.start - slack < h.end and h.start < r.end + slack for r in refs))
                for h in found]

    alternatives = phonemes.alternative_bilabials(speech, others, best)
    found = scored("n-best", distinct(phonemes.bilabial_candidates(words, alternatives)))
    words = phonemes.add_bilabials(words, alternatives, press, phonemes.NBEST_PRESS)
    return found + scored("phone loop", phonemes.bilabial_candidates(
        words, phonemes.recognise(speech)))


def auc(real: np.ndarray, false: np.ndarray) -> float:
    """Share of (real, false) pairs that the score orders correctly."""
    return float(np.mean(real[:, None] > false[None, :]))


def summary(found: list[tuple], threshold: float, checkpoint: bool) -> None:
    """How the lip model's press (and the viseme probability) separate real from false."""
    real = np.array([x[2:4] for x in found if x[4]]).reshape(-1, 2)
    false = np.array([x[2:4] for x in found if not x[4]]).reshape(-1, 2)
    print(f"{len(found)} candidates, {len(real)} real")
    if len(real):
        print(f"real: press {', '.join(f'{v:.3f}' for v in np.sort(real[:, 0]))}; "
              f"{np.sum(real[:, 0] > threshold)} above {threshold}")
    if len(false):
        near = np.sort(false[false[:, 0] > 0.1, 0])
        print(f"false: {np.sum(false[:, 0] > threshold)} of {len(false)} above {threshold} "
              f"(median press {np.median(false[:, 0]):.3f}; {len(near)} above 0.1"
              + (f": {', '.join(f'{v:.3f}' for v in near)})" if len(near) <= 12 else ")"))
    if len(real) and len(false):
        for k, score in enumerate(["press"] + (["bilabial probability"] if checkpoint else [])):
            lowest = real[:, k].min()
            print(f"{score}: AUC {auc(real[:, k], false[:, k]):.3f}; "
                  f"{np.sum(false[:, k] >= lowest)} false at or above the lowest real "
                  f"({lowest:.3f})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dev", choices=("grid", "synthetic"), default="synthetic")
    p.add_argument("--lipnet", help="neural weights (default: the committed ones)")
    p.add_argument("--nbest", type=int, default=phonemes.NBEST,
                   help="next-best sentences whose bilabials are candidates (0: none)")
    p.add_argument("--checkpoint", help="a torch checkpoint of the same network: also score "
                   "by its bilabial-viseme probability")
    args = p.parse_args(argv)
    net = load(args.lipnet) if args.lipnet else load()
    clips = evaluate.dev_clips() if args.dev == "grid" else evaluate.synthetic_clips()
    viseme_model = load_viseme_model(args.checkpoint) if args.checkpoint else None
    found = [(c.name, *x) for c in clips for x in candidates(c, net, args.nbest, viseme_model)]
    for name, source, press, prob, is_real in found:
        if is_real or press > phonemes.NBEST_PRESS:
            print(f"{name}: {source} {'real ' if is_real else 'false'} press {press:.3f} "
                  f"bilabial probability {prob:.3f}")
    for source, threshold in (("n-best", phonemes.NBEST_PRESS),
                              ("phone loop", phonemes.CONFIRM_PRESS)):
        print(f"\n{source} (kept above press {threshold}):")
        summary([x for x in found if x[1] == source], threshold, bool(args.checkpoint))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
