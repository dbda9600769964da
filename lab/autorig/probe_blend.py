"""Probe: can Auto-Rig get closer to other artists by combining the network with
deformation transfer (`baseline.py`), or by rebuilding mouthClose from jawOpen?
Choices are made on leave-one-family-out (LOFO) only; Face Cap is a test.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend dump      # cache predictions
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend report    # w*net + (1-w)*transfer
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend fast      # blended inside the rig
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend infamily  # its cost on held-out heads
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend facecap   # the LOFO rule on Face Cap
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend mouthclose
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend jawgap
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend mirror
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m lab.autorig.probe_blend ensemble --second NET.npz

- `dump` caches under checkpoints/blend/, for LOFO (4 held-out heads of each family, the
  network trained on the other family only, transfer from that family's own template) and
  for the Face Cap head (the shipped network, transfer from each template): canonical
  vertices, truth and every prediction, rigged in full. `report` blends them afterwards:
  one weight, or per-key weights chosen on one LOFO direction and tested on the other.
- `fast` blends on the rig's proxy, before the rig's own steps (blinks, jaw, sides), with
  a cut-down transfer (`FastPrior`: 1,000 NICP nodes, 3 stiffnesses x 2 steps) that could
  run inside a rig; `infamily` measures what that costs on held-out heads of the shipped
  network's own families; `facecap` applies the LOFO rule to the Face Cap head.
- `mouthclose`: where each artist's lips meet in mouthClose, and the error of mouthClose
  rebuilt from the rig's jawOpen as the jaw floor does (`jaw.close_weights`) on LOFO.
- `jawgap`: jawOpen and mouthClose scaled up where the network parts the lips less than
  a human mouth's gap (the dumped LOFO rigs).
- `mirror`: each LOFO rig averaged with the rig of the mirrored head (keys swapped back).
- `ensemble`: the anny-only network averaged with a second one trained on the same data
  from other initial weights (`train --torch-seed 1`), anny -> ICT.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lab.paths import CHECKPOINTS, ROOT

OUT = CHECKPOINTS / "blend"
WEIGHTS = ROOT / "lab" / "autorig" / "weights"
LOFO = (("anny", "ict", WEIGHTS / "anny.npz"), ("ict", "anny", WEIGHTS / "ict.npz"))


def dump(n: int) -> None:
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    from lab.autorig import data, evaluate
    from lab.autorig.baseline import DeformationTransfer, ict_template
    OUT.mkdir(parents=True, exist_ok=True)
    templates = {"anny": data.anny_sample(0, strength=0.0), "ict": ict_template()}
    for train, test, weights in LOFO:
        net = AutoRigRuntime.load(weights)
        transfer = DeformationTransfer().fit(templates[train])
        for i, s in enumerate(evaluate.test_heads(test, "plain", n)):
            path = OUT / f"{train}-{test}-{i}.npz"
            if path.exists():
                continue
            np.savez(path, verts=s.verts, truth=s.deltas, has=s.has_shape,
                     kind=np.asarray(s.part_kind)[s.part_labels].astype(str),
                     net=infer.rig(s.verts, s.tris, s.part_labels, runtime=net).deltas,
                     transfer=transfer.predict(s.verts, s.tris, s.part_labels, s.part_kind)[0])
            print("dumped", path, flush=True)
    path = OUT / "facecap.npz"
    if not path.exists():
        from lab.autorig import out_of_family as oof
        from faceforge.addon import avatar
        from faceforge.ml.autorig.frame import to_canonical
        import bpy
        head, truth, has = oof.load_facecap(oof.fetch_facecap())
        meshes = [o for o in bpy.data.objects if o.type == "MESH"]
        result, keys = oof._rig_file(meshes)
        T = result.transform
        piece = avatar.world_piece(head)
        verts_c = to_canonical(piece.verts, T).astype(np.float64)
        canon = lambda local: (oof._world(head, local).reshape(-1, 3) @ T.rotation.T * T.scale).reshape(local.shape)
        kinds = np.array(["skin"] * (piece.labels.max() + 1), dtype=object)
        tr = {name: DeformationTransfer().fit(t).predict(verts_c, piece.tris, piece.labels, kinds)[0]
              for name, t in templates.items()}
        np.savez(path, verts=verts_c, truth=canon(truth), has=has, net=canon(keys[head.name]),
                 transfer_ict=tr["ict"], transfer_anny=tr["anny"], tris=piece.tris)
        print("dumped", path, flush=True)


def load_lofo() -> dict[str, list[dict]]:
    """{'anny->ict': [head arrays], 'ict->anny': [...]} from the dump."""
    out = {}
    for train, test, _ in LOFO:
        out[f"{train}->{test}"] = [dict(np.load(p)) for p in sorted(OUT.glob(f"{train}-{test}-*.npz"))]
    return out


def measures(heads: list[dict], pred_of) -> dict:
    """Key measures (`out_of_family.key_measures`) of `pred_of(head)` averaged over heads."""
    from lab.autorig.out_of_family import key_measures, mean_measures
    return mean_measures([key_measures(pred_of(h), h["truth"], h["has"]) for h in heads])


def per_key_errors(heads: list[dict], pred_of) -> np.ndarray:
    """[52] mean over heads of each key's error on the vertices its true key moves (NaN: none)."""
    from lab.autorig.out_of_family import MOVED_MM
    out = np.full((len(heads), 52), np.nan)
    for i, h in enumerate(heads):
        pred = pred_of(h)
        for k in np.flatnonzero(h["has"]):
            moved = np.linalg.norm(h["truth"][k], axis=1) > MOVED_MM
            if moved.any():
                out[i, k] = np.linalg.norm(pred[k][moved] - h["truth"][k][moved], axis=1).mean()
    return np.nanmean(out, axis=0)


def blend(w):
    """pred = w * network + (1 - w) * transfer; w a scalar or [52] per key."""
    w = np.broadcast_to(np.asarray(w, np.float64), (52,))[:, None, None]
    return lambda h: w * h["net"] + (1 - w) * h["transfer"]


def report() -> None:
    from lab.autorig.out_of_family import table
    lofo = load_lofo()
    grid = np.linspace(0.0, 1.0, 11)
    rows = {}
    for d, heads in lofo.items():
        for w in (1.0, 0.75, 0.5, 0.25, 0.0):
            rows[f"{d} w={w:.2f}"] = measures(heads, blend(w))
    print("== leave-one-family-out: w * network + (1 - w) * transfer")
    print(table(rows))
    # per-key weights: chosen on one direction, tested on the other; then on both
    errs = {d: np.stack([per_key_errors(heads, blend(w)) for w in grid]) for d, heads in lofo.items()}
    best = {d: grid[np.nanargmin(np.nan_to_num(e, nan=np.inf), axis=0)] for d, e in errs.items()}
    both = np.nanmean(np.stack(list(errs.values())), axis=0)
    w_both = grid[np.nanargmin(np.nan_to_num(both, nan=np.inf), axis=0)]
    rows = {}
    names = list(lofo)
    for chose, test in ((names[0], names[1]), (names[1], names[0])):
        rows[f"w from {chose} on {test}"] = measures(lofo[test], blend(best[chose]))
    for d in names:
        rows[f"w from both on {d}"] = measures(lofo[d], blend(w_both))
    print("\n== per-key weights (grid of 11), chosen on one direction and tested on the other")
    print(table(rows))
    np.save(OUT / "w_both.npy", w_both)
    from faceforge.ml.arkit import ARKIT_NAMES
    print("per-key w (both): " + ", ".join(f"{n} {w:.1f}" for n, w in zip(ARKIT_NAMES, w_both)))
    fc = OUT / "facecap.npz"
    if fc.exists():
        h = dict(np.load(fc))
        tr_mean = 0.5 * (h["transfer_ict"] + h["transfer_anny"])
        rows = {}
        for tname, tr in (("ict", h["transfer_ict"]), ("anny", h["transfer_anny"]), ("mean", tr_mean)):
            g = dict(h, transfer=tr)
            rows[f"transfer {tname}"] = measures([g], blend(0.0))
            rows[f"w=0.5 {tname}"] = measures([g], blend(0.5))
            rows[f"w_both {tname}"] = measures([g], blend(w_both))
        rows["network"] = measures([h], lambda h: h["net"])
        print("\n== Face Cap (test): the rules chosen above, transfer from each template or their mean")
        print(table(rows))


class FastPrior:
    """Deformation transfer cut down to run inside a rig: the template's skin registered
    by NICP with `nodes` nodes and a short stiffness schedule onto the rig's proxy skin
    (its biggest part), deltas read at the closest registered template point."""

    def __init__(self, template, nodes: int = 1000, stiffness=(50.0, 10.0, 2.0), steps: int = 2):
        from lab.autorig import baseline
        self.dt = baseline.DeformationTransfer()
        old = baseline.NICP_VERTS
        baseline.NICP_VERTS = nodes
        try:
            self.dt.fit(template)
        finally:
            baseline.NICP_VERTS = old
        self.stiffness, self.steps = stiffness, steps

    def __call__(self, verts, tris) -> np.ndarray:
        """[V,52,3] deltas for a proxy (canonical mm)."""
        from faceforge.ml.geometry.parts import connected_components
        from faceforge.ml.geometry.remesh import closest_points, transfer
        from lab.autorig import baseline
        labels = connected_components(len(verts), np.concatenate([tris[:, :2], tris[:, 1:]]))
        skin = labels == np.argmax(np.bincount(labels))
        target = baseline.make_target(np.asarray(verts, np.float64), tris, skin)
        affine = baseline.nicp(self.dt.nodes, self.dt.node_tris, target, self.stiffness, self.steps)
        t = self.dt.template
        reg = baseline.embed(np.asarray(t.verts, np.float64), self.dt.nodes, affine)
        moved = np.einsum("nc,ncd->nd", np.concatenate([self.dt.nodes, np.ones((len(self.dt.nodes), 1))], 1), affine)
        self.residual = float(np.median(target.tree.query(moved)[0]))
        src = (self.dt.kind == "skin").astype(np.int64)
        tri, bary = closest_points(reg, t.tris, np.asarray(verts, np.float64), src_parts=src,
                                   point_parts=np.ones(len(verts), np.int64))
        return transfer(np.asarray(t.deltas).transpose(1, 0, 2), t.tris, tri, bary).astype(np.float32)


def blended_runtime(net, prior: FastPrior, w: float, clock: list):
    """A runtime whose output is w * network + (1 - w) * prior on the rig's proxy (the
    proxy's vertices and triangles are caught from `infer.mesh_inputs`)."""
    import time
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.features import mesh_inputs
    caught = {}

    def catching(verts, tris, *a, **k):
        caught["verts"], caught["tris"] = verts, tris
        return mesh_inputs(verts, tris, *a, **k)
    infer.mesh_inputs = catching

    def run(**inputs):
        pred = net(**inputs)
        start = time.perf_counter()
        prior_pred = prior(caught["verts"], caught["tris"])
        clock.append(time.perf_counter() - start)
        return w * pred + (1 - w) * prior_pred
    return run


def fast(n: int, w: float, nodes: int) -> None:
    """Leave-one-family-out with the cut-down transfer blended on the proxy, inside the rig."""
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    from lab.autorig import data, evaluate
    from lab.autorig.baseline import ict_template
    from lab.autorig.out_of_family import key_measures, mean_measures, table
    templates = {"anny": data.anny_sample(0, strength=0.0), "ict": ict_template()}
    rows = {}
    for train, test, weights in LOFO:
        clock = []
        run = blended_runtime(AutoRigRuntime.load(weights), FastPrior(templates[train], nodes), w, clock)
        heads = evaluate.test_heads(test, "plain", n)
        rows[f"{train}->{test} w={w} nodes={nodes}"] = mean_measures([
            key_measures(infer.rig(s.verts, s.tris, s.part_labels, runtime=run).deltas, s.deltas, s.has_shape)
            for s in heads])
        print(f"{train}->{test}: prior {np.mean(clock):.2f} s per head", flush=True)
    print(table(rows))


def infamily(n: int, w: float, nodes: int) -> None:
    """The shipped network on held-out heads of its own families, blended with transfer
    from each template (proxy-size), from their mean, and from the best-fitting one."""
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    from lab.autorig import data, evaluate, metrics
    templates = {"anny": data.anny_sample(0, strength=0.0), "ict": data.ict_sample(0, identity_scale=0.0)}
    priors = {k: FastPrior(t, nodes) for k, t in templates.items()}
    net = AutoRigRuntime.cached()
    for family in ("anny", "ict"):
        for s in evaluate.test_heads(family, "plain", n):
            out = {}
            def score(pred):
                return metrics.displacement_error_mm(pred, s.deltas, s.face_mask, s.has_shape)[1]
            out["network"] = score(infer.rig(s.verts, s.tris, s.part_labels, runtime=net).deltas)
            res = {}
            for k, pr in priors.items():
                out[k] = score(infer.rig(s.verts, s.tris, s.part_labels,
                                         runtime=blended_runtime(net, pr, w, [])).deltas)
                res[k] = pr.residual
            mean = lambda verts, tris: 0.5 * (priors["anny"](verts, tris) + priors["ict"](verts, tris))
            out["mean"] = score(infer.rig(s.verts, s.tris, s.part_labels,
                                          runtime=blended_runtime(net, mean, w, [])).deltas)
            print(s.name, " ".join(f"{k} {v:.3f}" for k, v in out.items()),
                  " residual " + " ".join(f"{k} {v:.3f}" for k, v in res.items()), flush=True)


def facecap_inrig(w: float, nodes: int) -> None:
    """The Face Cap head rigged as a user rigs it, with the shipped network blended on the
    proxy with transfer from ICT-FaceKit's template, anny's, and the mean of the two
    (the rule chosen on leave-one-family-out, applied here as a test)."""
    import bpy
    from faceforge.addon import avatar
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.frame import to_canonical
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    from lab.autorig import data, out_of_family as oof
    from lab.autorig.out_of_family import key_measures, table
    templates = {"anny": data.anny_sample(0, strength=0.0), "ict": data.ict_sample(0, identity_scale=0.0)}
    priors = {k: FastPrior(t, nodes) for k, t in templates.items()}
    priors["mean"] = lambda v, t: 0.5 * (priors["anny"](v, t) + priors["ict"](v, t))
    net = AutoRigRuntime.cached()
    rows = {}
    for name, prior in priors.items():
        head, truth, has = oof.load_facecap(oof.fetch_facecap())
        run = blended_runtime(net, prior, w, [])
        infer.default_runtime = lambda: run
        result, keys = oof._rig_file([o for o in bpy.data.objects if o.type == "MESH"])
        T = result.transform
        canon = lambda local: (oof._world(head, local).reshape(-1, 3) @ T.rotation.T * T.scale).reshape(local.shape)
        rows[f"network+{name} w={w}"] = key_measures(canon(keys[head.name]), canon(truth), has)
    print(table(rows))


def ensemble(n: int, second: Path) -> None:
    """anny -> ICT with the anny-only network, a second one trained the same way from
    other initial weights (`second`), and the mean of the two on the proxy."""
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    from lab.autorig import evaluate
    from lab.autorig.out_of_family import key_measures, mean_measures, table
    nets = {"anny": AutoRigRuntime.load(LOFO[0][2]), "anny-2": AutoRigRuntime.load(second)}
    nets["mean of both"] = lambda **inputs: 0.5 * (nets["anny"](**inputs) + nets["anny-2"](**inputs))
    heads = evaluate.test_heads("ict", "plain", n)
    rows = {f"anny->ict {name}": mean_measures([
        key_measures(infer.rig(s.verts, s.tris, s.part_labels, runtime=net).deltas, s.deltas, s.has_shape)
        for s in heads]) for name, net in nets.items()}
    print(table(rows))


def lip_meeting(verts, deltas, skin) -> tuple[float, float]:
    """(upper lip's drop, lower lip's rise) in mm at the face's middle in mouthClose
    (canonical z). The lower lip's edge: the highest lip-strip vertex jawOpen lowers by
    more than half its largest drop there; the upper lip's edge: the lowest above it that
    jawOpen lowers by less than a fifth."""
    from faceforge.ml.arkit import INDEX
    from faceforge.ml.autorig import floors
    lips = floors.lip_strip(verts, skin)
    drop = -deltas[INDEX["jawOpen"], lips, 2]
    z = verts[lips, 2]
    lower = np.flatnonzero(drop > 0.5 * drop.max())
    low = lower[np.argmax(z[lower])]
    upper = np.flatnonzero((drop < 0.2 * drop.max()) & (z > z[low]))
    up = upper[np.argmin(z[upper])]
    c = deltas[INDEX["mouthClose"], lips, 2]
    return float(-c[up]), float(c[low])


def mouth_close() -> None:
    """Where each artist's lips meet in mouthClose, and whether rebuilding mouthClose from
    the rig's jawOpen (the jaw floor's rule, `jaw.close_weights`) beats the network's own
    on leave-one-family-out."""
    from faceforge.ml.arkit import INDEX
    from faceforge.ml.autorig import floors, jaw
    from lab.autorig import data
    from lab.autorig.baseline import ict_template
    from lab.autorig.out_of_family import MOVED_MM
    k = INDEX["mouthClose"]
    for name, t in (("anny", data.anny_sample(0, strength=0.0)), ("ict", ict_template())):
        up, low = lip_meeting(t.verts, t.deltas, data.kind_mask(t, "skin"))
        print(f"{name} template: mouthClose drops the upper lip {up:.1f} mm, lifts the lower {low:.1f} mm")
    fc = OUT / "facecap.npz"
    if fc.exists():
        h = dict(np.load(fc))
        skin = np.ones(len(h["verts"]), bool)
        for what in ("truth", "net"):
            up, low = lip_meeting(h["verts"], h[what], skin)
            print(f"Face Cap {what}: mouthClose drops the upper lip {up:.1f} mm, lifts the lower {low:.1f} mm")
    for d, heads in load_lofo().items():
        errs = {"network's own": [], "rebuilt from jawOpen": [], "still": []}
        for h in heads:
            v, skin = h["verts"], h["kind"] == "skin"
            line = jaw.find_mouth_line(v, floors.lip_strip(v, skin))
            moved = np.linalg.norm(h["truth"][k], axis=1) > MOVED_MM
            preds = {"network's own": h["net"][k],
                     "rebuilt from jawOpen": -jaw.close_weights(v, line)[:, None] * h["net"][INDEX["jawOpen"]],
                     "still": 0 * h["net"][k]}
            for name, p in preds.items():
                errs[name].append(np.linalg.norm(p[moved] - h["truth"][k][moved], axis=1).mean())
        print(f"{d} mouthClose error (mm, mean over heads): "
              + ", ".join(f"{n} {np.mean(e):.2f}" for n, e in errs.items()))


def mirrored_rig(verts, tris, labels, net) -> np.ndarray:
    """The rig of the head's mirror image (x -> -x), mirrored back with Left and Right
    keys swapped: [52,V,3]."""
    from faceforge.ml.arkit import ARKIT_NAMES, INDEX
    from faceforge.ml.autorig import infer
    flip = np.array([-1.0, 1.0, 1.0])
    d = infer.rig(verts * flip, tris[:, ::-1], labels, runtime=net).deltas * flip.astype(np.float32)
    twin = [INDEX.get(n.replace("Left", "Right") if "Left" in n else n.replace("Right", "Left"), i)
            for i, n in enumerate(ARKIT_NAMES)]
    return d[twin]


def mirror(n: int) -> None:
    """LOFO with the network's rig averaged with the rig of the mirrored head."""
    from faceforge.ml.autorig import infer
    from faceforge.ml.autorig.runtime import AutoRigRuntime
    from lab.autorig import evaluate
    from lab.autorig.out_of_family import key_measures, mean_measures, table
    rows = {}
    for train, test, weights in LOFO:
        net = AutoRigRuntime.load(weights)
        pooled = {"network": [], "mirror mean": []}
        for s in evaluate.test_heads(test, "plain", n):
            plain = infer.rig(s.verts, s.tris, s.part_labels, runtime=net).deltas
            both = 0.5 * (plain + mirrored_rig(s.verts, s.tris, s.part_labels, net))
            pooled["network"].append(key_measures(plain, s.deltas, s.has_shape))
            pooled["mirror mean"].append(key_measures(both, s.deltas, s.has_shape))
        rows.update({f"{train}->{test} {k}": mean_measures(v) for k, v in pooled.items()})
    print(table(rows))


def jaw_gap() -> None:
    """LOFO with jawOpen (and mouthClose with it) scaled up where the network parts the
    lips less than G mm, G near both families' own 29-35 mm (jaw travel sized to a
    human mouth rather than left to the network)."""
    from faceforge.ml.arkit import INDEX
    from faceforge.ml.autorig import floors
    from lab.autorig.out_of_family import table
    j, c = INDEX["jawOpen"], INDEX["mouthClose"]

    def scaled(target):
        def pred(h):
            d = h["net"].copy()
            g = floors.inner_lip_gap_mm(h["verts"], d, h["kind"] == "skin")
            s = max(1.0, target / g) if np.isfinite(g) and g >= floors.JAW_GAP_FLOOR_MM else 1.0
            d[[j, c]] *= s
            return d
        return pred
    rows = {}
    for d, heads in load_lofo().items():
        for target in (0, 28, 32, 34):
            rows[f"{d} G={target}"] = measures(heads, scaled(target))
    print(table(rows))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("dump", "report", "fast", "infamily", "facecap", "ensemble",
                                    "mouthclose", "mirror", "jawgap"))
    p.add_argument("--w", type=float, default=0.5)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--second", type=Path, default=OUT / "anny_s1.npz",
                   help="ensemble: a second anny-only network")
    p.add_argument("--n", type=int, default=4)
    args = p.parse_args(argv)
    if args.what == "dump":
        dump(args.n)
    elif args.what == "infamily":
        infamily(args.n, args.w, args.nodes)
    elif args.what == "jawgap":
        jaw_gap()
    elif args.what == "mirror":
        mirror(args.n)
    elif args.what == "mouthclose":
        mouth_close()
    elif args.what == "ensemble":
        ensemble(args.n, args.second)
    elif args.what == "facecap":
        facecap_inrig(args.w, args.nodes)
    elif args.what == "fast":
        fast(args.n, args.w, args.nodes)
    else:
        report()


if __name__ == "__main__":
    main()
