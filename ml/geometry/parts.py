"""Loose parts of a mesh: which connected component each vertex belongs to."""
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components as _components


def connected_components(n_verts: int, edges: np.ndarray) -> np.ndarray:
    """[V] int32 component label per vertex (0.. in order of each part's lowest vertex).

    scipy's graph search starts a new component at each unvisited vertex in index order,
    which numbers the parts by their lowest vertex.
    """
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    graph = sp.coo_matrix((np.ones(len(edges), bool), (edges[:, 0], edges[:, 1])),
                          shape=(n_verts, n_verts)).tocsr()
    return _components(graph, directed=False)[1].astype(np.int32)


WELD_TOLERANCE = 1e-6   # of the mesh's size: vertices this close are one point


def weld_index(verts: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """[V] index of each vertex's welded copy (0..W-1, in order of first appearance):
    vertices at the same position (within WELD_TOLERANCE of the mesh's size) and in the
    same group become one. glTF and FBX files split meshes along UV and normal seams;
    welding gives back the surface the artist modelled."""
    v = np.asarray(verts, np.float64)
    size = max(float(np.ptp(v, axis=0).max()), 1e-30) if len(v) else 1.0
    key = np.round(v / (WELD_TOLERANCE * size)).astype(np.int64)
    if groups is not None:
        key = np.concatenate([key, np.asarray(groups, np.int64)[:, None]], axis=1)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)                    # renumber by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()]


def welded_components(verts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`connected_components` of the mesh with coincident vertices welded (seams joined)."""
    weld = weld_index(verts)
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    return connected_components(int(weld.max(initial=-1)) + 1, weld[edges])[weld]
