"""Train the built-in head's Fit to Photo models and ship them: generate the head's face
rig, sample Blender's deformation, train the imitator and the one-shot translator (the
same ops.fit functions a user's first fit runs), copy both into ml/fit/models/.

    python -m lab.fit.train [--samples 2000]
"""
from __future__ import annotations

import argparse
import shutil
import time

from lab.fit.engine import builtin_rig, fit_ops


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=fit_ops.DEFAULT_SAMPLES)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rig, imit = builtin_rig(args.samples)
    fit_ops.ensure_translator(imit, log=print)
    print(f"rig: {len(rig.arm.data.bones)} bones, {len(rig.space)} parameters; imitator "
          f"{imit.key}: {imit.report or 'loaded from cache'}; total {time.perf_counter() - t0:.0f} s")
    fit_ops.SHIPPED.mkdir(parents=True, exist_ok=True)
    for name in (f"{imit.key}.npz", f"{imit.key}_translator.npz"):
        shutil.copy(fit_ops.cache_dir() / name, fit_ops.SHIPPED / name)
        print(f"shipped ml/fit/models/{name}")


if __name__ == "__main__":
    main()
