"""Mesh operators (ml/geometry): Laplacian, eigenbasis, gradients, proxy remeshing."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from faceforge.ml.geometry.laplacian import cotan_laplacian
from faceforge.ml.geometry.mesh import clean_triangles, subdivide, unique_edges
from faceforge.ml.geometry.parts import connected_components
from faceforge.ml.geometry.primitives import grid, icosphere
from faceforge.ml.geometry.remesh import closest_points, decimate, smooth_transfer, transfer
from faceforge.ml.geometry.spectral import eigenbasis, heat_kernel_signature, operators


def _merge(*meshes):
    """One mesh made of several parts."""
    offsets = np.cumsum([0] + [len(v) for v, _ in meshes])
    return (np.concatenate([v for v, _ in meshes]),
            np.concatenate([t + o for (_, t), o in zip(meshes, offsets)]))


def _sphere_and_plane():
    sphere, plane = icosphere(4), grid(6)
    return _merge(sphere, (plane[0] + [3.0, 0, 0], plane[1]))


def _brute_force_distance(verts, tris, points):
    """Distance to the surface: every triangle, densely sampled (reference only)."""
    s = np.linspace(0, 1, 41)
    u, v = np.meshgrid(s, s)
    keep = u + v <= 1
    w = np.stack([1 - u[keep] - v[keep], u[keep], v[keep]], 1)
    samples = np.einsum("sc,fcd->fsd", w, verts[tris]).reshape(-1, 3)
    return cKDTree(samples).query(points)[0]


def test_clean_triangles_drops_degenerate_and_repeated_faces_at_any_index_range():
    """First occurrences kept, in order and winding; vertex indices past 2**21 (where one
    integer key per vertex set would overflow) give the same answer."""
    tris = np.array([[0, 1, 2], [2, 1, 0], [1, 1, 3], [3, 4, 5], [1, 2, 0], [5, 3, 4], [2, 3, 4]])
    expected = [[0, 1, 2], [3, 4, 5], [2, 3, 4]]
    assert clean_triangles(tris).tolist() == expected
    assert (clean_triangles(tris + 2 ** 22) - 2 ** 22).tolist() == expected


def test_subdivide_keeps_the_surface_and_splits_every_triangle():
    verts, tris = icosphere(3)
    fine, fine_tris = subdivide(verts, tris)
    assert len(fine_tris) == 4 * len(tris) and len(fine) == len(verts) + len(unique_edges(tris))
    assert len(clean_triangles(fine_tris)) == len(fine_tris)    # no face twice
    assert len(unique_edges(fine_tris)) == 2 * len(unique_edges(tris)) + 3 * len(tris)
    np.testing.assert_allclose(fine[:len(verts)], verts)      # old corners stay; midpoints on edges
    a, b = unique_edges(tris).T
    np.testing.assert_allclose(fine[len(verts):], (verts[a] + verts[b]) / 2)


def test_laplacian_symmetric_psd_with_constant_null_space_per_part():
    verts, tris = _sphere_and_plane()
    L, mass = cotan_laplacian(verts, tris)
    parts = connected_components(len(verts), unique_edges(tris))
    assert abs(L - L.T).max() == 0 and np.all(mass > 0)
    for p in range(parts.max() + 1):
        assert np.abs(L @ (parts == p)).max() < 1e-12
    scale = 1 / np.sqrt(mass)
    evals = np.linalg.eigvalsh((L.toarray() * scale).T * scale)
    assert evals.min() > -1e-9 and np.sum(evals < 1e-9) == 2
    assert mass[parts == 0].sum() == pytest.approx(4 * np.pi, rel=0.03)  # chords cut the sphere


def test_sphere_spectrum_multiplicities():
    radius = 2.0
    verts, tris = icosphere(10, radius)
    L, mass = cotan_laplacian(verts, tris)
    evals, evecs = eigenbasis(L, mass, 16)
    expected = np.repeat([l * (l + 1) for l in range(4)], [1, 3, 5, 7]) / radius ** 2
    np.testing.assert_allclose(evals, expected, rtol=0.02, atol=1e-9)
    np.testing.assert_allclose((evecs.T * mass) @ evecs, np.eye(16), atol=1e-8)


def _robust_cases():
    v, t = grid(6)
    n = len(v)
    # zero area (collinear), repeated index, zero-length edges (coincident vertices)
    yield "degenerate", np.vstack([v, (v[0] + v[1]) / 2, v[0]]), np.vstack([t, [[0, 1, n], [0, 0, 1], [n + 1, 0, 1]]])
    yield "duplicate face", v, np.vstack([t, t[:3], t[:3, ::-1]])
    yield "isolated vertex", np.vstack([v, [5.0, 5, 5]]), t
    yield "non-manifold edge", np.vstack([v, [0, 0, 1.0], [0, 0, -1.0]]), np.vstack([t, [[0, 1, n], [1, 0, n + 1]]])
    yield "sliver", np.vstack([v, (v[0] + v[1]) / 2 + [0, 1e-12, 0]]), np.vstack([t, [[0, 1, n]]])
    yield "two parts", *_sphere_and_plane()


@pytest.mark.parametrize("name, verts, tris", list(_robust_cases()), ids=lambda x: x if isinstance(x, str) else "")
def test_operators_finite_on_bad_meshes(name, verts, tris):
    ops = operators(verts, tris, k=12)
    for a in (ops.mass, ops.evals, ops.evecs, ops.frames, ops.grad_x.data, ops.grad_y.data):
        assert np.all(np.isfinite(a)), name
    assert ops.evecs.shape == (len(verts), 12) and np.all(ops.mass > 0) and np.all(ops.evals >= 0)
    np.testing.assert_allclose(np.einsum("vij,vkj->vik", ops.frames, ops.frames),
                               np.broadcast_to(np.eye(3), ops.frames.shape), atol=1e-5)


def test_gradient_of_linear_function():
    rng = np.random.default_rng(1)
    verts, tris = grid(12)
    verts[:, :2] += rng.uniform(-0.02, 0.02, (len(verts), 2))  # irregular
    a = np.array([0.3, -1.2, 0.7])
    for verts, tris, tol in ((verts, tris, 1e-5), (*icosphere(16), 0.03)):
        ops = operators(verts, tris, k=8)
        f = verts @ a
        got = np.stack([ops.grad_x @ f, ops.grad_y @ f], 1)
        want = np.stack([ops.frames[:, 0] @ a, ops.frames[:, 1] @ a], 1)  # tangent projection
        assert np.abs(got - want).max() < tol * np.linalg.norm(a)
        assert np.all(np.linalg.det(ops.frames) > 0)  # right-handed (x, y, normal)


def test_heat_kernel_signature_shape_and_scale_invariance():
    verts, tris = icosphere(6)
    verts = verts * [1.0, 1.3, 0.8]
    times = np.geomspace(1, 64, 8)
    hks = [heat_kernel_signature(*eigenbasis(*cotan_laplacian(verts * s, tris), 32), times) for s in (1, 40)]
    assert hks[0].shape == (len(verts), 8) and np.all(hks[0] > 0)
    np.testing.assert_allclose(hks[0], hks[1], rtol=1e-4)
    assert hks[0][:, 0].std() > hks[0][:, -1].std()  # short times see more detail


def test_decimate_keeps_parts_size_and_smoothness():
    big, small, tiny = icosphere(40), icosphere(12, 0.3), icosphere(1, 0.1)
    verts, tris = _merge(big, (small[0] + [2.0, 0, 0], small[1]), (tiny[0] + [0, 2.0, 0], tiny[1]))
    verts2, tris2 = decimate(verts, tris, 2000)
    parts = connected_components(len(verts2), unique_edges(tris2))
    sizes = np.bincount(parts)
    assert len(sizes) == 3 and sizes[2] == 12  # the tiny part is kept whole
    assert abs(len(verts2) - 2000) < 200 and sizes[1] >= 16
    assert len(verts2) - len(unique_edges(tris2)) + len(tris2) == 6  # three closed spheres
    centre = np.array([[0, 0, 0], [2.0, 0, 0], [0, 2.0, 0]])[parts]
    radius = np.array([1.0, 0.3, 0.1])[parts]
    np.testing.assert_allclose(np.linalg.norm(verts2 - centre, axis=1), radius, rtol=0.02)
    p = verts2[tris2]  # outward facing, no folds
    normals = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.all(np.einsum("fd,fd->f", normals, p.mean(1) - centre[tris2[:, 0]]) > 0)


def test_closest_points_exact_on_and_off_the_surface():
    rng = np.random.default_rng(2)
    verts, tris = _merge(icosphere(5), (grid(4)[0] * [1, 1, 0] + [0, 0, 1.5], grid(4)[1]))
    f = rng.integers(0, len(tris), 400)
    w = rng.dirichlet([1, 1, 1], 400)
    on = np.einsum("nc,ncd->nd", w, verts[tris[f]])
    index, bary = closest_points(verts, tris, on)
    np.testing.assert_allclose(np.einsum("nc,ncd->nd", bary, verts[tris[index]]), on, atol=1e-12)
    off = on + rng.normal(0, 0.2, on.shape)
    index, bary = closest_points(verts, tris, off)
    assert np.all(bary >= -1e-12) and np.allclose(bary.sum(1), 1)
    found = np.linalg.norm(np.einsum("nc,ncd->nd", bary, verts[tris[index]]) - off, axis=1)
    reference = _brute_force_distance(verts, tris, off)
    assert np.all(found <= reference + 1e-12) and np.all(found > reference - 0.01)


def test_closest_points_stay_in_part():
    sphere, plane = icosphere(5), grid(6, 3.0)
    verts, tris = _merge(sphere, (plane[0] + [0, 0, 1.2], plane[1]))
    labels = connected_components(len(verts), unique_edges(tris))
    points = np.array([[0, 0, 1.15], [0.2, 0.1, 1.1]])  # nearer the plane than the sphere
    index, _ = closest_points(verts, tris, points)
    assert np.all(labels[tris[index, 0]] == 1)
    index, _ = closest_points(verts, tris, points, labels, np.zeros(2, int))
    assert np.all(labels[tris[index, 0]] == 0)


def test_closest_points_skip_triangles_facing_away():
    lower, upper = grid(4), grid(4)
    verts, tris = _merge(lower, (upper[0] + [0, 0, 0.02], upper[1][:, ::-1]))  # lips, touching
    point = np.array([[0.1, 0.1, 0.015]])  # on the lower lip (normal +Z), nearer the upper one
    assert tris[closest_points(verts, tris, point)[0][0], 0] >= len(lower[0])
    assert tris[closest_points(verts, tris, point, point_normals=[[0, 0, 1.0]])[0][0], 0] < len(lower[0])


def test_transfer_any_trailing_shape_and_linear_exact():
    verts, tris = grid(8)
    rng = np.random.default_rng(3)
    linear = rng.normal(size=(52, 3, 3))
    points = rng.uniform(-0.5, 0.5, (100, 3)) * [1, 1, 0]
    out = transfer(np.einsum("vd,kde->vke", verts, linear), tris, *closest_points(verts, tris, points))
    assert out.shape == (100, 52, 3)
    np.testing.assert_allclose(out, np.einsum("vd,kde->vke", points, linear), atol=1e-12)


def test_smooth_transfer_has_no_facets():
    fine, proxy = icosphere(24), icosphere(5)

    def field(x):
        return np.stack([np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]), x[:, 0] * x[:, 2], np.exp(x[:, 2])], 1)

    L, mass = cotan_laplacian(*fine)
    rms = lambda u: np.sqrt(np.sum(mass[:, None] * u ** 2) / mass.sum())
    laplacian = lambda u: rms((L @ u) / mass[:, None])
    truth = field(fine[0])
    flat = transfer(field(proxy[0]), proxy[1], *closest_points(*proxy, fine[0]))
    smooth = smooth_transfer(field(proxy[0]), *proxy, *fine)
    assert rms(smooth - truth) < 0.4 * rms(flat - truth)
    assert laplacian(flat) > 1.4 * laplacian(truth)  # the proxy's kinks
    assert laplacian(smooth) == pytest.approx(laplacian(truth), rel=0.05)
    rotation = np.array([[0.8, -0.6, 0], [0.6, 0.8, 0], [0, 0, 1.0]])
    rigid = smooth_transfer((proxy[0] @ rotation.T - proxy[0])[:, None], *proxy, *fine)[:, 0]
    assert np.abs(rigid - (fine[0] @ rotation.T - fine[0])).max() < 2e-3
