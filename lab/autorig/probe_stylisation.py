"""How the auto-rig network copes as heads get more stylised: validation identities of
both families (never trained on), warped by 0-4 training presets one after another
(each warp alone is one preset's strength; composed, they go well past anything in
training), with and without eyeballs (without: the frame comes from the head's shape, as
for Suzanne). Prints, per head and warp count, the mean motion over the face region of
the truth and of the network, their ratio (does the network damp the motion?) and the
mean error (mm at 63 mm eye distance).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_stylisation [--heads 2]
"""
from __future__ import annotations

import argparse

import numpy as np

from faceforge.ml.autorig import infer
from lab.autorig import data

WARP_PRESETS = tuple(p for p in data.TRAIN_PRESETS if p != "none")


def stylised(sample: data.Sample, n_warps: int, rng: np.random.Generator) -> data.Sample:
    """The sample warped by n_warps random training presets in turn."""
    for _ in range(n_warps):
        sample = data.warp(sample, data.warp_bumps(sample, str(rng.choice(WARP_PRESETS)), rng))
    return sample


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--heads", type=int, default=2, help="validation identities per family")
    p.add_argument("--max-warps", type=int, default=4)
    args = p.parse_args(argv)
    print(f"{'head':22s} {'eyes':5s} warps  truth mm  network mm  ratio  error mm")
    for family in data.FAMILIES:
        for identity, _ in data.split_plan(family, "val", args.heads):
            for eyes in (True, False):
                base = data.FAMILIES[family](identity)
                if not eyes:
                    base = data.shape_framed(data.drop_parts(base, ("eye_left", "eye_right")))
                for n in range(args.max_warps + 1):
                    s = stylised(base, n, np.random.default_rng([identity, n]))
                    pred = infer.rig(s.verts, s.tris, s.part_labels).deltas[:, s.face_mask]
                    truth = s.deltas[:, s.face_mask]
                    moved, ours = np.linalg.norm(truth, axis=2).mean(), np.linalg.norm(pred, axis=2).mean()
                    err = np.linalg.norm(pred - truth, axis=2).mean()
                    print(f"{family}-{identity:<17d} {'yes' if eyes else 'no':5s} {n:5d} {moved:9.3f} "
                          f"{ours:11.3f} {ours / moved:6.2f} {err:9.3f}", flush=True)


if __name__ == "__main__":
    main()
