"""Triangle-list helpers shared by the geometry operators (cleaning, edges, normals, sums)."""
import numpy as np


def has_three_corners(tris) -> np.ndarray:
    """[F] bool: the triangle's three vertex indices differ (else it is a segment or point)."""
    return (tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])


def clean_triangles(tris) -> np.ndarray:
    """[F',3] int64: triangles with three distinct vertices, each vertex set kept once.

    A duplicate (in either winding) would count its cotangents twice; the first
    occurrence keeps its winding.
    """
    tris = np.asarray(tris, np.int64).reshape(-1, 3)
    tris = tris[has_three_corners(tris)]
    rows = np.sort(tris, axis=1)
    n = int(rows.max()) + 1 if len(rows) else 1
    if n <= 2 ** 21:  # one int64 key per vertex set: much faster than numpy's unique rows
        _, first = np.unique((rows[:, 0] * n + rows[:, 1]) * n + rows[:, 2], return_index=True)
    else:
        _, first = np.unique(rows, axis=0, return_index=True)
    return tris[np.sort(first)]


def unique_edges(tris) -> np.ndarray:
    """[E,2] int64 undirected edges (low, high) of a triangle list, each once."""
    e = np.sort(np.asarray(tris, np.int64)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    if not len(e):
        return e
    n = e.max() + 1
    key = np.unique(e[:, 0] * n + e[:, 1])
    return np.stack([key // n, key % n], axis=1)


def subdivide(verts, tris) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint subdivision: every triangle into four (a finer copy of the same surface)."""
    edges = unique_edges(tris)
    n = len(verts)
    code = edges[:, 0] * n + edges[:, 1]  # sorted: unique_edges sorts these keys
    pairs = np.sort(np.asarray(tris, np.int64)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    mid = (np.searchsorted(code, pairs[:, 0] * n + pairs[:, 1]) + n).reshape(-1, 3)
    a, b, c = np.asarray(tris, np.int64).T
    new = np.concatenate([np.stack([a, mid[:, 0], mid[:, 2]], 1), np.stack([b, mid[:, 1], mid[:, 0]], 1),
                          np.stack([c, mid[:, 2], mid[:, 1]], 1), mid])
    return np.concatenate([verts, verts[edges].mean(axis=1)]), new.astype(np.int32)


def face_normals(verts, tris) -> np.ndarray:
    """[F,3] unnormalised face normals: length = twice the triangle's area."""
    p = np.asarray(verts, np.float64)[tris]
    return np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])


def scatter_sum(index, values, n) -> np.ndarray:
    """out[i] = sum of values[j] where index[j] == i, for values [N] or [N, C]."""
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        return np.bincount(index, values, minlength=n)
    return np.stack([np.bincount(index, col, minlength=n) for col in values.T], axis=1)
