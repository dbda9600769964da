"""Loose parts of a mesh: which connected component each vertex belongs to."""
import numpy as np


def connected_components(n_verts: int, edges: np.ndarray) -> np.ndarray:
    """[V] int32 component label per vertex (0.. in order of each part's lowest vertex).

    Vectorised union-find: hook every edge's larger root under its smaller one, then
    pointer-jump until each vertex points at its root; repeat until no edge spans two
    roots. The root of a part is always its lowest vertex.
    """
    parent = np.arange(n_verts)
    a, b = edges[:, 0], edges[:, 1]
    while True:
        ra, rb = parent[a], parent[b]
        spans = ra != rb
        if not spans.any():
            break
        np.minimum.at(parent, np.maximum(ra, rb)[spans], np.minimum(ra, rb)[spans])
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return np.unique(parent, return_inverse=True)[1].astype(np.int32)
