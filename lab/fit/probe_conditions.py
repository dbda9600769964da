"""Which viewing condition of the evaluation hides the parameters from MediaPipe: the
same random identities rendered frontal under the default light, then with only the
studio light turned, only the head turned (yaw/pitch), only expression keys, and all
three; a ridge regression from MediaPipe's landmarks to the parameters trained on the
frontal renders of lab.fit.probe_observable (checkpoints/fit/detected_samples_<rig>.npz), and the
Gauss-Newton fit, on each; parameter RMSE over all and the observable parameters.

    python -m lab.fit.probe_conditions [--identities 20]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from lab.fit.engine import View, builtin_rig, random_view, render_landmarks
from lab.fit.probe_observable import FRONTAL_RENDERS, OBSERVABLE, _ridge
from lab.fit.tune_detector import render_samples
from faceforge.ml.fit import solve


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=20)
    args = ap.parse_args(argv)
    rig, imit = builtin_rig()
    data = render_samples(rig, FRONTAL_RENDERS)
    unit, det = data["unit"], data["detected"]
    mean = det.mean(0)
    feats = lambda t: solve.similarity_batch(t, np.broadcast_to(mean, t.shape)).reshape(len(t), -1)  # noqa: E731
    x = feats(det)
    mx, sd, my = x.mean(0), x.std(0) + 1e-9, unit.mean(0)
    w = _ridge((x - mx) / sd, unit - my, 0.1)
    obs = json.loads(OBSERVABLE.read_text())
    mask = np.isin(obs["names"], obs["observable"])
    rng = np.random.default_rng(31)
    truth = rng.uniform(-1, 1, (args.identities, len(rig.space)))
    views = [random_view(rng) for _ in truth]
    conditions = {"frontal, default light": lambda v: View(),
                  "light only": lambda v: View(light=v.light),
                  "head turn only": lambda v: View(v.yaw, v.pitch),
                  "expression only": lambda v: View(expression=v.expression),
                  "all (as the evaluation)": lambda v: v}
    rm = lambda e: np.sqrt((e ** 2).mean()) * 100  # noqa: E731
    print(f"\n{args.identities} identities; ridge trained on {len(unit)} frontal renders")
    print("| condition | ridge RMSE all (%) | ridge observable (%) | fit RMSE all (%) | fit observable (%) |")
    print("|---|---|---|---|---|")
    for name, make in conditions.items():
        t_ok, targets = [], []
        for t, v in zip(truth, views):
            _, pts = render_landmarks(rig, t, make(v))
            if pts is not None:
                t_ok.append(t)
                targets.append(solve.normalise_target(pts))
        t_ok, targets = np.array(t_ok), np.array(targets)
        ridge = np.clip(((feats(targets) - mx) / sd) @ w + my, -1, 1)
        fit = np.array([solve.fit_iterative(imit, t).unit for t in targets])
        print(f"| {name} | {rm((ridge - t_ok) / 2):.1f} | {rm((ridge - t_ok)[:, mask] / 2):.1f} | "
              f"{rm((fit - t_ok) / 2):.1f} | {rm((fit - t_ok)[:, mask] / 2):.1f} |", flush=True)


if __name__ == "__main__":
    main()
