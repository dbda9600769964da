"""Auto-rig training samples: canonical frame, ARKit deltas where expected (anny and
ICT-FaceKit), consistent warps, remeshing transfer, deterministic disjoint splits."""
from dataclasses import replace

import numpy as np
import pytest

from faceforge.ml.arkit import INDEX
from lab.autorig import data as D
from faceforge.ml.autorig.frame import (IPD_MM, canonical_transform, estimate_eyes, from_canonical,
                                        to_canonical)
from faceforge.ml.autorig.eyes import eyes_from_parts, rotation


@pytest.fixture(scope="module")
def anny():
    return D.anny_sample(3)


@pytest.fixture(scope="module")
def ict(shared_data):
    return D.ict_sample(5, proxy_verts=None, path=shared_data / "ict_facekit" / "ict_facekit_model.npz")


def test_canonical_transform_round_trip_and_axes():
    rng = np.random.default_rng(0)
    r = rotation(np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8]), 40.0)
    eyes = np.array([[0.03, 0, 0], [-0.03, 0, 0]]) @ r.T + [1.0, 2.0, 3.0]  # 6 cm apart, rotated
    T = canonical_transform(eyes, up_hint=r[:, 2], forward_hint=-r[:, 1])
    np.testing.assert_allclose(to_canonical(eyes, T), [[31.5, 0, 0], [-31.5, 0, 0]], atol=1e-4)
    nose = np.array([0.0, -0.02, -0.03]) @ r.T + [1.0, 2.0, 3.0]  # forward and below, source frame
    assert to_canonical(nose, T)[1] < 0 and to_canonical(nose, T)[2] < 0
    pts = rng.normal(size=(10, 3))
    np.testing.assert_allclose(from_canonical(to_canonical(pts, T), T), pts, atol=1e-5)
    d = rng.normal(size=(10, 3))
    np.testing.assert_allclose(to_canonical(d, T, delta=True), T.scale * d @ T.rotation.T, atol=1e-4)
    np.testing.assert_allclose(from_canonical(to_canonical(d, T, delta=True), T, delta=True), d, atol=1e-5)


@pytest.mark.parametrize("which", ["anny", "ict"])
def test_samples_are_canonical(which, request):
    s = request.getfixturevalue(which)
    v = len(s.verts)
    assert s.verts.shape == (v, 3) and s.verts.dtype == np.float32
    assert s.tris.dtype == np.int32 and s.tris.max() < v
    assert s.deltas.shape == (52, v, 3) and s.deltas.dtype == np.float32
    assert s.part_labels.shape == (v,) and s.part_labels.max() < len(s.part_kind)
    np.testing.assert_allclose(s.eye_centres, [[IPD_MM / 2, 0, 0], [-IPD_MM / 2, 0, 0]], atol=1e-3)
    left = D.kind_mask(s, "eye_left")
    assert s.verts[left, 0].mean() > 20  # subject's left eye at +X
    nose = D.front_point(s, -40)
    chin = D.front_point(s, -110)
    assert nose[1] < -25 and abs(nose[0]) < 10  # nose tip forward (-Y) of the eye midpoint
    assert chin[2] < -90 and s.verts[D.kind_mask(s, "skin"), 2].min() < -100  # chin below
    assert 0.2 * v < s.face_mask.sum() < 0.9 * D.kind_mask(s, "skin").sum()
    assert not s.face_mask[~D.kind_mask(s, "skin")].any()


@pytest.mark.parametrize("which", ["anny", "ict"])
def test_deltas_where_expected(which, request):
    s = request.getfixturevalue(which)
    jaw = s.deltas[INDEX["jawOpen"]]
    chin = np.abs(s.verts - D.front_point(s, -110)).sum(axis=1).argmin()
    assert jaw[chin, 2] < -10  # the chin drops
    blink = np.linalg.norm(s.deltas[INDEX["eyeBlinkLeft"]], axis=1)
    skin = D.kind_mask(s, "skin")
    near = [skin & (np.linalg.norm(s.verts - c, axis=1) < 22) & (s.verts[:, 1] < -8)  # the lids
            for c in s.eye_centres]
    assert blink[near[0]].max() > 5 and blink[near[1]].max() < 0.5  # subject's left lids only
    upper_lid = near[0] & (blink > 2) & (s.verts[:, 2] > 0)
    assert (s.deltas[INDEX["eyeBlinkLeft"], upper_lid, 2] < 0).mean() > 0.8  # closing down
    assert s.has_shape[INDEX["tongueOut"]] == (which == "anny")


def test_ict_gaze_rotates_the_eyeball(ict):
    eye = D.kind_mask(ict, "eye_left")
    fit = eyes_from_parts(ict.verts, ict.part_labels, ict.part_kind)
    centre, radius = fit.centres[0], fit.radii[0]
    for name in ("eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeLookDownLeft"):
        moved = ict.verts[eye] + ict.deltas[INDEX[name], eye]
        assert np.abs(ict.deltas[INDEX[name], eye]).max() > 3  # the eyeball turns...
        np.testing.assert_allclose(np.linalg.norm(moved - centre, axis=1),  # ...rigidly
                                   np.linalg.norm(ict.verts[eye] - centre, axis=1), atol=1e-3)
        assert np.abs(ict.deltas[INDEX[name], D.kind_mask(ict, "eye_right")]).max() == 0
    front = eye & (ict.verts[:, 1] < centre[1] - 0.8 * radius)  # the cornea side
    assert ict.deltas[INDEX["eyeLookInLeft"], front, 0].mean() < -2  # toward the nose
    assert ict.deltas[INDEX["eyeLookUpLeft"], front, 2].mean() > 2


def test_warp_moves_posed_meshes_consistently(anny):
    rng = np.random.default_rng(1)
    bumps = D.warp_bumps(anny, "random", rng)
    assert sum(b.lipschitz() for b in bumps) <= D.MAX_LIPSCHITZ + 1e-6
    warped = D.warp(anny, bumps)
    # undo the re-canonicalisation: it is the similarity taking W(eye centres) to +-31.5
    T = canonical_transform(D.warp_points(anny.eye_centres, bumps))
    k = INDEX["jawOpen"]
    expected = D.warp_points(anny.verts + anny.deltas[k], bumps) - D.warp_points(anny.verts, bumps)
    np.testing.assert_allclose(warped.deltas[k], to_canonical(expected, T, delta=True), atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(warped.eye_centres[0] - warped.eye_centres[1]), IPD_MM, atol=1e-3)
    assert np.abs(warped.verts - anny.verts).max() > 1


def test_every_preset_warps_moderately(anny):
    for preset in D.PRESETS:
        out = D.augment(anny, np.random.default_rng(2), preset, p_drop=0, p_remesh=0, do_jitter=False)
        shift = np.linalg.norm(out.verts - anny.verts, axis=1)
        assert shift.max() < 25, preset
        # no folds: triangle normals keep their orientation
        n0 = np.cross(*(anny.verts[anny.tris[:, 1:]] - anny.verts[anny.tris[:, :1]]).transpose(1, 0, 2))
        n1 = np.cross(*(out.verts[out.tris[:, 1:]] - out.verts[out.tris[:, :1]]).transpose(1, 0, 2))
        assert ((n0 * n1).sum(axis=1) > 0).mean() > 0.999, preset


def test_drop_parts_and_jitter(anny):
    dropped = D.drop_parts(anny, ["teeth", "tongue"])
    assert not D.kind_mask(dropped, "teeth", "tongue").any()
    assert len(dropped.verts) == (~D.kind_mask(anny, "teeth", "tongue")).sum()
    assert dropped.tris.max() < len(dropped.verts)
    j = D.jitter(anny, np.random.default_rng(0))
    ipd = np.linalg.norm(j.eye_centres[0] - j.eye_centres[1])
    assert 0.97 * IPD_MM <= ipd <= 1.03 * IPD_MM
    # rigid: delta lengths scale uniformly
    jaw = INDEX["jawOpen"]
    ratio = np.linalg.norm(j.deltas[jaw], axis=1).max() / np.linalg.norm(anny.deltas[jaw], axis=1).max()
    assert ratio == pytest.approx(ipd / IPD_MM, rel=1e-4)


def test_heads_without_eyeballs_take_the_shape_only_frame(anny):
    """As at inference: no eyeballs to find, so the frame comes from the shape."""
    out = D.augment(anny, np.random.default_rng(0), None, p_drop=1.0, p_remesh=0, do_jitter=False)
    assert not D.kind_mask(out, "eye_left", "eye_right").any()
    np.testing.assert_allclose(estimate_eyes(out.verts, out.tris), [[31.5, 0, 0], [-31.5, 0, 0]], atol=0.5)
    # the true eye centres moved with the head, away from the estimate
    assert np.linalg.norm(out.eye_centres - [[31.5, 0, 0], [-31.5, 0, 0]], axis=1).max() > 1
    kept = D.augment(anny, np.random.default_rng(0), None, p_drop=0.0, p_remesh=0, do_jitter=False)
    np.testing.assert_allclose(kept.eye_centres, [[31.5, 0, 0], [-31.5, 0, 0]], atol=1e-3)


def test_face_only_crops_are_skin_masks_framed_as_inference_frames_them(anny):
    """A share of training heads are cut to face-only masks (no eyes, teeth or back of the
    head), framed from their shape as inference frames a mask, their truth cut with them."""
    out = D.augment(anny, np.random.default_rng(0), None, p_drop=0, p_remesh=0, do_jitter=False, p_mask=1.0)
    assert D.kind_mask(out, "skin").all() and len(out.verts) < 0.7 * D.kind_mask(anny, "skin").sum()
    assert out.tris.max() < len(out.verts) and out.deltas.shape == (52, len(out.verts), 3)
    np.testing.assert_allclose(estimate_eyes(out.verts, out.tris), [[31.5, 0, 0], [-31.5, 0, 0]], atol=0.5)
    jaw = np.linalg.norm(out.deltas[INDEX["jawOpen"]], axis=1)
    assert jaw.max() > 5 and out.face_mask.sum() > 0.5 * len(out.verts)
    assert D.data_tag(0.0) == "v2" and D.data_tag() == f"v{D.DATA_VERSION}"   # cache keys differ


def test_estimate_frame_finds_the_eyes_roughly(anny):
    est = estimate_eyes(anny.verts, anny.tris)
    assert np.linalg.norm(est - anny.eye_centres, axis=1).max() < 25


def test_splits_disjoint_and_deterministic():
    plans = {s: D.split_plan("anny", s, 50) for s in D.SPLITS}
    ids = {s: {i for i, _ in p} for s, p in plans.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    assert D.split_plan("anny", "train", 50) == plans["train"]
    assert all(p.startswith("test_") for _, p in plans["test"])
    assert not any(p.startswith("test_") for s in ("train", "val") for _, p in plans[s])
    assert min(ids["test"]) >= 10_000


def test_make_dataset_caches(tmp_path):
    first = D.make_dataset("anny", "val", 1, cache_dir=tmp_path)
    assert len(list(tmp_path.rglob("*.npz"))) == 1
    again = D.make_dataset("anny", "val", 1, cache_dir=tmp_path)
    for a, b in zip(first, again):
        assert a.name == b.name and a.part_kind == b.part_kind
        np.testing.assert_array_equal(a.deltas, b.deltas)
        np.testing.assert_array_equal(a.face_mask, b.face_mask)


def test_remesh_transfers_deltas(anny):
    plan = D.remesh_plan(anny.verts, anny.tris, anny.part_labels, 2500)
    out = D.apply_remesh(anny, plan)
    assert len(out.verts) < 0.7 * len(anny.verts) and out.deltas.shape == (52, len(out.verts), 3)
    assert set(np.unique(out.part_labels)) == set(np.unique(anny.part_labels))
    # barycentric transfer reproduces any affine field exactly on the surface
    a = np.random.default_rng(0).normal(size=(3, 3))
    affine = replace(anny, deltas=np.broadcast_to(anny.verts @ a.T, anny.deltas.shape).astype(np.float32))
    moved = D.apply_remesh(affine, plan)
    np.testing.assert_allclose(moved.deltas[0], moved.verts @ a.T, atol=1e-2)
    # new vertices that coincide with old ones carry their deltas unchanged
    from scipy.spatial import cKDTree
    dist, idx = cKDTree(anny.verts).query(out.verts)
    same = dist < 1e-4
    assert same.any()
    np.testing.assert_allclose(out.deltas[:, same], anny.deltas[:, idx[same]], atol=1e-3)
