"""Test and benchmark meshes: geodesic icospheres and flat grids."""
import numpy as np

_PHI = (1 + 5 ** 0.5) / 2
_ICO_VERTS = np.array([[-1, _PHI, 0], [1, _PHI, 0], [-1, -_PHI, 0], [1, -_PHI, 0],
                       [0, -1, _PHI], [0, 1, _PHI], [0, -1, -_PHI], [0, 1, -_PHI],
                       [_PHI, 0, -1], [_PHI, 0, 1], [-_PHI, 0, -1], [-_PHI, 0, 1]])
_ICO_FACES = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
                       [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
                       [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
                       [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])


def _lattice(n):
    """Barycentric lattice (i, j) with i + j <= n of one face, and its n² triangles."""
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij"))
    keep = i + j <= n
    i, j = i[keep], j[keep]
    lut = np.full((n + 2, n + 2), -1)
    lut[i, j] = np.arange(len(i))
    up = i + j < n
    down = i + j < n - 1
    tris = np.concatenate([
        np.stack([lut[i, j], lut[i + 1, j], lut[i, j + 1]], 1)[up],
        np.stack([lut[i + 1, j], lut[i + 1, j + 1], lut[i, j + 1]], 1)[down]])
    return i, j, tris


def icosphere(frequency: int = 8, radius: float = 1.0):
    """(verts [V,3] float64, tris [F,3] int32): geodesic sphere, V = 10·frequency² + 2.

    Each icosahedron face is split into frequency² triangles; shared lattice points are
    merged exactly through their integer barycentric weights over the 12 base vertices.
    """
    n = int(frequency)
    i, j, local = _lattice(n)
    weights = np.zeros((20, len(i), 12), np.int64)
    f, p = np.arange(20)[:, None], np.arange(len(i))[None, :]
    a, b, c = (_ICO_FACES[:, k][:, None] for k in range(3))
    weights[f, p, a] += n - i - j
    weights[f, p, b] += i
    weights[f, p, c] += j
    keys, index = np.unique(weights.reshape(-1, 12), axis=0, return_inverse=True)
    verts = keys @ _ICO_VERTS
    verts *= radius / np.linalg.norm(verts, axis=1, keepdims=True)
    tris = index.reshape(20, -1)[np.arange(20)[:, None, None], local[None]].reshape(-1, 3)
    return verts, tris.astype(np.int32)


def grid(n: int = 16, size: float = 1.0):
    """(verts [(n+1)²,3], tris [2n²,3] int32): a flat square in z = 0, centred at the origin."""
    x, y = np.meshgrid(np.linspace(-size / 2, size / 2, n + 1), np.linspace(-size / 2, size / 2, n + 1),
                       indexing="ij")
    verts = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)
    q = (np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]).ravel()
    tris = np.concatenate([np.stack([q, q + n + 1, q + 1], 1), np.stack([q + 1, q + n + 1, q + n + 2], 1)])
    return verts, tris.astype(np.int32)
