"""Proxy meshes: decimation, closest-point correspondence, and proxy -> full transfer."""
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .gradients import vertex_normals
from .laplacian import cotan_laplacian, symmetric_solver
from .mesh import clean_triangles, face_normals, has_three_corners, scatter_sum, unique_edges
from .parts import connected_components

MIN_PART_VERTS = 16   # parts this small are kept whole; larger ones keep at least this many
SMALL_CLUSTER = 0.2   # clusters smaller than this x their part's mean join a neighbour
QEM_REG = 1e-3        # pull of a cluster's mean in its quadric, relative to the quadric's trace
PASSES = 12           # clustering passes at most (cell sizes rescaled toward each part's budget)


def decimate(verts, tris, target_verts, min_part_verts=MIN_PART_VERTS, passes=PASSES):
    """(verts2 [V',3], tris2 [F',3] int32): about target_verts vertices, parts kept.

    Vertex clustering on a voxel grid whose cell size is tuned per part so that each part
    gets vertices in proportion to its area. A cluster is a connected piece of the mesh
    inside one cell, so parts never merge and nor do touching lips or eyelids; slivers
    and valence-3 clusters join a neighbour, and the rare triangle that still folds over
    is dropped (a small hole). Each cluster's vertex sits at the minimum of its
    area-weighted quadric error, kept within the cluster's bounding box. Proxy vertices
    follow the order of the lowest vertex they replace, so proxy parts are numbered like
    the original's. Each of up to `passes` clustering passes rescales every part's cell
    toward its budget; the loop ends early once every part is within 5 % of it, which
    parts of a few dozen vertices (lashes) rarely reach: one vertex is several %.
    """
    verts = np.asarray(verts)
    pos = verts.astype(np.float64)
    tris = clean_triangles(tris)
    n = len(pos)
    edges = unique_edges(tris)
    parts = connected_components(n, edges)
    fn = face_normals(pos, tris)
    area = 0.5 * np.linalg.norm(fn, axis=1)
    part_area = scatter_sum(parts[tris[:, 0]], area, parts.max() + 1)
    part_size = np.bincount(parts)
    whole = part_size <= min_part_verts
    budget = np.maximum(target_verts * part_area / max(part_area.sum(), 1e-300),
                        np.minimum(part_size, min_part_verts))
    cell = np.maximum(np.sqrt(part_area / budget), 1e-9 * max(np.ptp(pos), 1e-300))
    vertex_area = scatter_sum(tris.ravel(), np.repeat(area / 3, 3), n)
    for _ in range(passes):
        cluster = _clusters(pos, edges, parts, cell, whole)
        cluster = _absorb_poor(cluster, tris, edges, vertex_area, parts, whole)
        cluster_part = np.empty(cluster.max() + 1, parts.dtype)
        cluster_part[cluster] = parts  # a cluster never spans two parts
        count = np.bincount(cluster_part, minlength=len(cell))
        ratio = np.where(whole, 1.0, count / budget)
        if np.all(np.abs(ratio - 1) < 0.05):
            break
        cell *= np.clip(np.sqrt(ratio), 0.5, 2.0)
    new_pos = _quadric_positions(pos, tris, fn, area, cluster)
    new_tris, flipped = _collapse(cluster, tris, fn, new_pos)
    used, new_tris = np.unique(new_tris[~flipped], return_inverse=True)  # folds are dropped
    return new_pos[used].astype(verts.dtype), new_tris.reshape(-1, 3).astype(np.int32)


def _clusters(pos, edges, parts, cell, whole):
    """[V] cluster per vertex: the pieces of the mesh connected inside one grid cell."""
    key = np.floor((pos - pos.min(0)) / cell[parts][:, None]).astype(np.int64)
    key[whole[parts]] = np.arange(len(pos))[whole[parts], None]  # one cluster per vertex
    inside = np.all(key[edges[:, 0]] == key[edges[:, 1]], axis=1)
    return connected_components(len(pos), edges[inside])


def _absorb_poor(cluster, tris, edges, vertex_area, parts, whole):
    """[V] clusters again, poor ones merged into their largest neighbour, renumbered by
    their lowest vertex. Poor: under SMALL_CLUSTER x its part's mean area (cell corners
    clipped off the surface collapse into fins), in at most 3 triangles (such a vertex
    can sit outside its 1-ring and flip a triangle)."""
    n = cluster.max() + 1
    size = np.bincount(cluster, vertex_area, minlength=n)
    part = np.zeros(n, np.int64)
    part[cluster] = parts
    mean = np.bincount(part, size) / np.bincount(part)
    valence = np.bincount(clean_triangles(cluster[tris]).ravel(), minlength=n)
    small = ((size < SMALL_CLUSTER * mean[part]) | (valence <= 3)) & ~whole[part]
    a, b = cluster[edges].T
    a, b = np.r_[a, b], np.r_[b, a]
    pick = small[a] & ~small[b]
    a, b = a[pick], b[pick]
    order = np.lexsort([size[b], a])
    a, b = a[order], b[order]
    last = np.flatnonzero(np.diff(a, append=-1))  # each a's largest neighbour comes last
    target = np.arange(n)
    target[a[last]] = b[last]
    cluster = target[cluster]
    lowest = np.full(n, len(cluster))
    np.minimum.at(lowest, cluster, np.arange(len(cluster)))
    rank = np.empty(n, np.int64)
    rank[np.argsort(lowest)] = np.arange(n)
    return rank[cluster]


def _collapse(cluster, tris, fn, new_pos):
    """(triangles between clusters [F',3], flipped [F'] bool): each distinct triangle once,
    flipped when it faces against the summed normals of the faces collapsed into it."""
    c = cluster[tris]
    keep = has_three_corners(c)
    c, fn = c[keep], fn[keep]
    _, first, inverse = np.unique(np.sort(c, axis=1), axis=0, return_index=True, return_inverse=True)
    source_normal = scatter_sum(inverse.ravel(), fn, len(first))
    new_tris = c[first]
    q = new_pos[new_tris]
    normal = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])
    return new_tris, np.einsum("fd,fd->f", normal, source_normal) <= 0


def _quadric_positions(pos, tris, fn, area, cluster):
    """[C,3] per cluster: argmin of sum area x (distance to face plane)², regularised
    toward the cluster's mean and clipped to its vertices' bounding box."""
    n_clusters = cluster.max() + 1
    unit = fn / np.maximum(2 * area, 1e-300)[:, None]
    offset = -np.einsum("fd,fd->f", unit, pos[tris[:, 0]])
    outer = (unit[:, :, None] * unit[:, None, :]).reshape(-1, 9)
    quad = np.concatenate([outer, unit * offset[:, None]], axis=1) * area[:, None]
    q = scatter_sum(cluster[tris].ravel(), np.repeat(quad, 3, axis=0), n_clusters)
    A, b = q[:, :9].reshape(-1, 3, 3), q[:, 9:]
    size = np.bincount(cluster, minlength=n_clusters)
    mean = scatter_sum(cluster, pos, n_clusters) / size[:, None]
    reg = QEM_REG * np.trace(A, axis1=1, axis2=2) + 1e-300
    x = np.linalg.solve(A + reg[:, None, None] * np.eye(3), (reg[:, None] * mean - b)[..., None])[..., 0]
    lo = np.full((n_clusters, 3), np.inf)
    hi = np.full((n_clusters, 3), -np.inf)
    np.minimum.at(lo, cluster, pos)
    np.maximum.at(hi, cluster, pos)
    return np.clip(x, lo, hi)


def closest_points(verts_src, tris_src, points, src_parts=None, point_parts=None, point_normals=None,
                   exact=True):
    """(tri_index [N] int64, bary [N,3]): exact closest point on the source surface
    (exact=False: the closest among the 8 triangles with the nearest centroids, one round;
    enough for points lying on or near the surface, and several times faster).

    Candidates are the triangles with the nearest centroids (cKDTree); a point is done once
    no unchecked triangle can be closer (next centroid distance - largest triangle radius
    >= best distance), else it is retried with twice as many candidates; only candidates
    that could still beat the best (centroid distance - own radius < best) are projected,
    which skips most of the work without changing the answer. The exact search runs over
    groups of triangles of similar size (`_size_groups`), each with its own largest radius,
    so a few big triangles do not make every point check dozens of small ones. With part
    labels, a 4th coordinate = part x (far more than the scene's size) keeps candidates
    in-part. With point normals, triangles facing away don't count (so a lower-lip point
    never lands on the touching upper lip), unless none faces the point.
    """
    v = np.asarray(verts_src, np.float64)
    t = np.asarray(tris_src, np.int64)
    p = np.asarray(points, np.float64)
    corners = v[t]
    centroid = corners.mean(axis=1)
    tri_radius = np.linalg.norm(corners - centroid[:, None], axis=2).max(axis=1)
    by_part = src_parts is not None and point_parts is not None
    tree_pts, query, span = centroid, p, np.inf
    if by_part:
        span = 4 * np.ptp(np.concatenate([v, p]), axis=0).max() + 1.0
        tree_pts = np.c_[centroid, np.asarray(src_parts)[t[:, 0]] * span]
        query = np.c_[p, np.asarray(point_parts) * span]
    face_n = None
    if point_normals is not None:
        face_n = face_normals(v, t)
        point_normals = np.asarray(point_normals, np.float64)
    found = _Nearest(p, query, corners, tri_radius, tree_pts, face_n, point_normals, span)
    for group in (_size_groups(tri_radius) if exact else [np.arange(len(t))]):
        found.search(group, exact)
    tri_index, bary = found.tri_index, found.bary
    lost = tri_index < 0
    if point_normals is not None and lost.any():  # nothing faces these points: any side
        tri_index[lost], bary[lost] = closest_points(
            v, t, p[lost], src_parts, None if point_parts is None else np.asarray(point_parts)[lost])
    if np.any(tri_index < 0):
        raise ValueError("some points' parts have no source triangles")
    return tri_index, bary


def _size_groups(tri_radius, ratio: float = 2.0) -> list[np.ndarray]:
    """Triangle indices in groups whose largest radius is at most `ratio` x the group's
    smallest (at least 1/16 of the triangles per group, the biggest last but searched
    after the small ones have set tight bests)."""
    order = np.argsort(tri_radius, kind="stable")
    r = tri_radius[order]
    groups, start, least = [], 0, max(1, len(r) // 16)
    while start < len(r):
        stop = max(start + least, int(np.searchsorted(r, r[start] * ratio, side="right")))
        groups.append(order[start:stop])
        start = stop
    return groups


class _Nearest:
    """The best triangle so far per point (tri_index [N], bary [N,3], best_d2 [N]),
    improved one group of triangles at a time."""

    def __init__(self, p, query, corners, tri_radius, tree_pts, face_n, point_normals, span):
        self.p, self.query, self.corners, self.tri_radius = p, query, corners, tri_radius
        self.tree_pts, self.face_n, self.point_normals, self.span = tree_pts, face_n, point_normals, span
        self.best_d2 = np.full(len(p), np.inf)
        self.tri_index = np.full(len(p), -1, np.int64)
        self.bary = np.zeros((len(p), 3))

    def search(self, group: np.ndarray, exact: bool) -> None:
        """Check the triangles `group` (global indices): exactly (rounds of doubled
        candidate counts until none unchecked can be nearer), or the 8 nearest centroids."""
        tree = cKDTree(self.tree_pts[group])
        n_tris, radius = len(group), self.tri_radius[group].max()
        by_part = self.tree_pts.ndim == 2 and self.tree_pts.shape[1] == 4
        todo, lo, hi = np.arange(len(self.p)), 0, min(8, n_tris)
        while todo.size:
            undone = []
            for chunk in np.array_split(todo, max(1, todo.size * (hi - lo) // 2 ** 18)):
                dist, cand = tree.query(self.query[chunk], k=min(hi + 1, n_tris), workers=-1)
                dist, cand = dist.reshape(len(chunk), -1), group[cand.reshape(len(chunk), -1)]
                new = cand[:, lo:hi]  # the candidates not checked in earlier rounds
                best = np.sqrt(self.best_d2[chunk])
                # Only project onto triangles that could beat the best so far (a triangle
                # is no nearer than its centroid's distance minus its own radius), in-part
                # and facing.
                check = dist[:, lo:hi] - self.tri_radius[new] < best[:, None]
                if by_part:
                    check &= self.tree_pts[new, 3] == self.query[chunk, 3][:, None]
                if self.point_normals is not None:
                    check &= np.einsum("nkd,nd->nk", self.face_n[new],
                                       self.point_normals[chunk]) > 0
                rows, cols = np.nonzero(check)
                d2 = np.full(check.shape, np.inf)
                b = np.zeros(check.shape + (3,))
                d2[rows, cols], b[rows, cols] = _project(self.p[chunk][rows],
                                                         self.corners[new[rows, cols]])
                at = (np.arange(len(chunk)), np.argmin(d2, axis=1))
                better = d2[at] < self.best_d2[chunk]
                sel = chunk[better]
                self.best_d2[sel], self.tri_index[sel] = d2[at][better], new[at][better]
                self.bary[sel] = b[at][better]
                if exact and hi < n_tris:
                    # not done: an unchecked triangle could be nearer, and it lies in the
                    # point's part (past `span` every candidate is of another part)
                    last = dist[:, -1]
                    undone.append(chunk[(last - radius < np.sqrt(self.best_d2[chunk]))
                                        & (last < self.span)])
            todo = np.concatenate(undone) if undone else todo[:0]
            lo, hi = hi, min(2 * hi, n_tris)


def _dot(x, y):
    """Row-wise dot product of two [M,3] arrays."""
    return np.einsum("ij,ij->i", x, y)


def _project(p, corners):
    """(squared distance [M], bary [M,3]) of the closest point to p [M,3] on triangles
    [M,3,3]: the orthogonal projection if it falls inside, else the nearest edge point
    (which also covers degenerate triangles)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    ab, ac, ap = b - a, c - a, p - a
    d00, d01, d11, d20, d21 = _dot(ab, ab), _dot(ab, ac), _dot(ac, ac), _dot(ap, ab), _dot(ap, ac)
    den = d00 * d11 - d01 ** 2
    ok = den > 1e-12 * d00 * d11
    den = np.where(ok, den, 1.0)
    bv, bw = (d11 * d20 - d01 * d21) / den, (d00 * d21 - d01 * d20) / den
    bary = np.stack([1 - bv - bw, bv, bw], axis=1)
    inside = ok & np.all(bary >= 0, axis=1)
    best_d2 = np.full(len(p), np.inf)
    for i in range(3):  # edges (a, b), (b, c), (c, a)
        start, seg = corners[:, i], corners[:, (i + 1) % 3] - corners[:, i]
        s = np.clip(_dot(p - start, seg) / np.maximum(_dot(seg, seg), 1e-300), 0.0, 1.0)
        off = p - start - s[:, None] * seg
        d2 = _dot(off, off)
        closer = ~inside & (d2 < best_d2)
        best_d2[closer] = d2[closer]
        bary[closer] = 0.0
        bary[closer, i], bary[closer, (i + 1) % 3] = 1 - s[closer], s[closer]
    off = p - np.einsum("mc,mcd->md", bary, corners)
    return _dot(off, off), bary


def transfer(values_src, tris_src, tri_index, bary):
    """[N, ...] values at the points: barycentric blend of the source triangle's corners."""
    values = np.asarray(values_src)
    flat = values.reshape(len(values), -1)
    corner = np.asarray(tris_src)[tri_index]
    w = np.asarray(bary, np.result_type(flat.dtype, np.float32))
    out = w[:, 0, None] * flat[corner[:, 0]]
    for c in (1, 2):  # accumulate in place: on a huge mesh each term is hundreds of MB
        out += w[:, c, None] * flat[corner[:, c]]
    return out.reshape((len(corner),) + values.shape[1:])


def smooth_transfer(values_src, verts_src, tris_src, verts, tris, *, src_parts=None, parts=None,
                    smoothing=0.5, corrections=3):
    """[V, ...] proxy values carried to the full mesh without showing the proxy's facets.

    The result is heat-smoothed on the full mesh, u = S(transfer(w)) with
    S = (M + tau L)^-1 M and tau = (smoothing x the proxy's mean edge length)², which turns
    the proxy's piecewise-linear kinks into smooth bends. So that u reproduces values_src
    rather than a blurred copy, w (first values_src) is corrected by what u misses at the
    proxy's vertices, each correction one more solve. The correspondence both ways is by
    closest point among triangles facing the same way, in-part when both part labels are
    given; S acts per connected part anyway.
    """
    src = np.asarray(values_src, np.float64).reshape(len(verts_src), -1)
    tri_index, bary = closest_points(verts_src, tris_src, verts, src_parts, parts, vertex_normals(verts, tris))
    if corrections:
        back_index, back_bary = closest_points(verts, tris, verts_src, parts, src_parts,
                                               vertex_normals(verts_src, tris_src))
    L, mass = cotan_laplacian(verts, tris)
    e = unique_edges(tris_src)
    proxy = np.asarray(verts_src, np.float64)
    tau = (smoothing * np.linalg.norm(proxy[e[:, 0]] - proxy[e[:, 1]], axis=1).mean()) ** 2
    # float32: M + tau L is mass-dominated (condition ~ 1 + tau x largest eigenvalue / mass)
    solve = symmetric_solver(sp.diags(mass) + tau * L, np.float32)
    w = src
    for i in range(corrections + 1):
        if i:
            w = w + src - transfer(u, tris, back_index, back_bary)
        u = solve(mass[:, None] * transfer(w, tris_src, tri_index, bary))
    out_dtype = np.result_type(np.asarray(values_src).dtype, np.float32)
    return u.reshape((len(verts),) + np.shape(values_src)[1:]).astype(out_dtype)
