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
