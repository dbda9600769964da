"""Evaluate Auto-Rig Face side by side with the deformation-transfer baseline.

    python -m lab.autorig.evaluate                      # shipped model
    python -m lab.autorig.evaluate --cross checkpoints/autorig/anny.npz checkpoints/autorig/ict.npz

Test heads are held-out identities of both families (anny, ICT-FaceKit), always remeshed
to a topology and resolution the network never saw, both plain and with test-only
stylised warps, and plain without their eyeballs (so the rig takes its frame from the
head's shape alone). Errors are per-vertex displacement errors over the face region in mm
(heads scaled to 63 mm between the eye centres), averaged over the shapes each head has.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace

import numpy as np

from faceforge.ml.arkit import ARKIT_NAMES
from . import data, metrics
from faceforge.ml.autorig import infer
from .baseline import DeformationTransfer, ict_template
from faceforge.ml.autorig.eyes import eyes_from_parts
from faceforge.ml.autorig.runtime import AutoRigRuntime

VARIANTS = ("plain", "stylised", "eyeless")
METHOD_ORDER = ("network", "baseline", "still", "other-fam")


@dataclass
class HeadResult:
    name: str
    family: str
    variant: str
    method: str
    per_shape: np.ndarray      # [52] mm, NaN where the head lacks the shape
    mean: float
    p95: float
    checks: dict               # name -> (value, passed)
    seconds: float
    eye_visible: float = float("nan")  # eyeball front still seen through the blinks (share)


def test_heads(family: str, variant: str, n: int, seed: int = 0) -> list[data.Sample]:
    """n held-out heads: test identities, remeshed to 60-90 % of their vertices, for
    'stylised' warped with a test-only preset, for 'eyeless' without the eyeballs."""
    heads = []
    for identity, preset in data.split_plan(family, "test", n, seed):
        rng = np.random.default_rng([identity, seed, 7])
        sample = data.FAMILIES[family](identity)
        sample = data.augment(sample, rng, preset if variant == "stylised" else None,
                              p_drop=0.0, p_remesh=1.0, remesh_range=(0.6, 0.9), do_jitter=False,
                              p_mask=0.0)
        if variant == "eyeless":
            sample = data.drop_parts(sample, ("eye_left", "eye_right"))
        heads.append(replace(sample, name=f"{family}-{identity}-{variant}"))
    return heads


def _score(sample: data.Sample, pred: np.ndarray, method: str, variant: str, seconds: float) -> HeadResult:
    per_shape, mean, p95 = metrics.displacement_error_mm(pred, sample.deltas, sample.face_mask,
                                                         sample.has_shape)
    skin = data.kind_mask(sample, "skin")
    has_eyes = data.kind_mask(sample, "eye_left").any()
    eye = eyes_from_parts(sample.verts, sample.part_labels, sample.part_kind) if has_eyes else None
    checks = metrics.functional_checks(sample.verts, pred, skin, eye, has_shape=sample.has_shape,
                                       face_mask=sample.face_mask)
    visible = [metrics.eyeball_visible(sample.verts, pred, sample.tris, eye, blink)
               for blink in ("eyeBlinkLeft", "eyeBlinkRight")
               if eye is not None and sample.has_shape[ARKIT_NAMES.index(blink)]]
    return HeadResult(sample.name, sample.family, variant, method, per_shape, float(mean), float(p95),
                      checks, seconds, float(np.nanmean(visible)) if visible else float("nan"))


def run_methods(heads, variant: str, methods: dict) -> list[HeadResult]:
    """Each method is a callable sample -> [52,V,3] deltas in the sample's (canonical) frame."""
    out = []
    for sample in heads:
        for name, predict in methods.items():
            t = time.perf_counter()
            pred = predict(sample)
            out.append(_score(sample, pred, name, variant, time.perf_counter() - t))
    return out


def network(runtime: AutoRigRuntime):
    """The full Auto-Rig pipeline (frame from its own eye detection, proxy, transfer, eyes, jaw)."""
    return lambda s: infer.rig(s.verts, s.tris, s.part_labels, runtime=runtime).deltas


def baseline(model: DeformationTransfer):
    return lambda s: model.predict(s.verts, s.tris, s.part_labels, s.part_kind)[0]


def still(sample: data.Sample) -> np.ndarray:
    return np.zeros_like(sample.deltas)


def summary_table(results: list[HeadResult]) -> str:
    rows = ["family  variant   method      heads  mean mm  p95 mm  lid-in %  eye-vis %  checks passed  s/head"]
    keys = sorted({(r.family, r.variant, r.method) for r in results},
                  key=lambda k: (k[0], VARIANTS.index(k[1]), METHOD_ORDER.index(k[2])))
    for fam, var, meth in keys:
        rs = [r for r in results if (r.family, r.variant, r.method) == (fam, var, meth)]
        passed = sum(ok for r in rs for _, ok in r.checks.values())
        total = sum(len(r.checks) for r in rs)
        inside = [100 * v for r in rs for k, (v, _) in r.checks.items() if k.startswith("interpenetration")]
        visible = [100 * r.eye_visible for r in rs if not np.isnan(r.eye_visible)]
        rows.append(f"{fam:7s} {var:9s} {meth:10s} {len(rs):5d}  {np.mean([r.mean for r in rs]):7.3f} "
                    f"{np.mean([r.p95 for r in rs]):7.2f}  {np.mean(inside) if inside else float('nan'):7.2f}"
                    f"  {np.mean(visible) if visible else float('nan'):8.2f}"
                    f"  {passed:5d}/{total:<5d}     {np.mean([r.seconds for r in rs]):6.1f}")
    return "\n".join(rows)


def failed_checks(results: list[HeadResult], method: str) -> str:
    lines = [f"{r.name}: " + ", ".join(f"{k}={v:.3g}" for k, (v, ok) in r.checks.items() if not ok)
             for r in results if r.method == method and not all(ok for _, ok in r.checks.values())]
    return "\n".join(lines) if lines else "none"


def per_shape_table(results: list[HeadResult], methods=("network", "baseline", "still")) -> str:
    table = {m: np.nanmean(np.stack([r.per_shape for r in results if r.method == m]), axis=0)
             for m in methods if any(r.method == m for r in results)}
    rows = ["shape                 " + "  ".join(f"{m:>9s}" for m in table)]
    for i, name in enumerate(ARKIT_NAMES):
        rows.append(f"{name:20s}  " + "  ".join(f"{table[m][i]:9.3f}" for m in table))
    return "\n".join(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=4, help="test heads per family and variant")
    p.add_argument("--weights", default=None, help="network weights (default: the shipped ones)")
    p.add_argument("--cross", nargs=2, metavar=("ANNY_ONLY", "ICT_ONLY"),
                   help="weights trained on one family only: each is tested on the other")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    runtime = AutoRigRuntime.load(args.weights)
    methods = {"network": network(runtime), "still": still}
    if not args.no_baseline:
        methods["baseline"] = baseline(DeformationTransfer().fit(ict_template()))

    results, heads = [], {}
    for family in data.FAMILIES:
        for variant in VARIANTS:
            heads[family, variant] = test_heads(family, variant, args.n, args.seed)
            results += run_methods(heads[family, variant], variant, methods)
    print("== Auto-Rig Face: held-out heads at unseen topologies (mm at 63 mm eye distance)")
    print(summary_table(results))
    print("\n== functional checks that failed (network)\n" + failed_checks(results, "network"))
    if "baseline" in methods:
        print("\n== functional checks that failed (baseline)\n" + failed_checks(results, "baseline"))
    print("\n== per-shape mean error (mm), all test heads\n" + per_shape_table(results))

    if args.cross:
        cross = []
        for weights, family in zip(args.cross, ("ict", "anny")):
            net = network(AutoRigRuntime.load(weights))
            for variant in VARIANTS:
                cross += [replace(r, method="other-fam")
                          for r in run_methods(heads[family, variant], variant, {"network": net})]
        print("\n== across artists: trained on anny only -> tested on ICT, trained on ICT only -> anny")
        print(summary_table(cross + [r for r in results if r.method in ("network", "baseline")]))


if __name__ == "__main__":
    main()
