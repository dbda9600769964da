"""Fit to Photo runtime (no Blender): the numpy MLP, the imitator pipeline, the iterative
and one-shot fits on a small synthetic rig, and photo reading / face finding."""
import numpy as np
import pytest

from faceforge.ml.fit import solve
from faceforge.ml.fit.imitator import Imitator, train_imitator
from faceforge.ml.fit.landmarks import FIT_INDICES, eye_distance
from faceforge.ml.fit.mlp import MLP
from faceforge.ml.fit.params import Param, ParamSpace
from faceforge.ml.fit.photo import PhotoError, photo_landmarks, read_photo
from faceforge.ml.fit.translator import train_translator

K = len(FIT_INDICES)


def _numeric_gradient(loss, x: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Central differences of loss(x) in every entry of x."""
    out = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[idx] = eps
        out[idx] = (loss(x + step) - loss(x - step)) / (2 * eps)
    return out


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    mlp = MLP((3, 8, 5), rng, out_tanh=True)
    x = rng.normal(size=(2, 3))
    w = rng.normal(size=(2, 5))
    loss = lambda x_: float((mlp.forward(x_) * w).sum())  # noqa: E731
    loss(x)
    gx, _ = mlp.backward(w)
    assert np.allclose(gx, _numeric_gradient(loss, x), atol=1e-3)


def test_se_residual_gradients_match_finite_differences():
    """The squeeze-and-excitation residual body: input and parameter gradients."""
    from faceforge.ml.fit.se_resnet import SEResMLP
    rng = np.random.default_rng(0)
    net = SEResMLP((5, 12, 4), rng, blocks=2, squeeze=3)
    for block in net.blocks:                     # gates away from 0.5, blocks not near identity
        block["W2"] *= 10
        block["c"] += rng.normal(size=block["c"].shape).astype(np.float32)
    x, w = rng.normal(size=(3, 5)), rng.normal(size=(3, 4))
    loss = lambda x_: float((net.forward(x_).astype(np.float64) * w).sum())  # noqa: E731
    loss(x)
    gx, grads = net.backward(w)
    assert np.allclose(gx, _numeric_gradient(loss, x), atol=1e-3)
    eps = 1e-3
    assert len(grads) == len(net.params)
    for p, g in zip(net.params, grads):
        idx = tuple(int(rng.integers(0, n)) for n in p.shape)
        old = p[idx]
        p[idx] = old + eps
        up = loss(x)
        p[idx] = old - eps
        down = loss(x)
        p[idx] = old
        assert abs(g[idx] - (up - down) / (2 * eps)) < 2e-3 + 1e-2 * abs(g[idx])


def test_mlp_jacobian_matches_finite_differences():
    rng = np.random.default_rng(2)
    for tanh in (False, True):
        mlp = MLP((4, 16, 16, 7), rng, out_tanh=tanh)
        x = rng.normal(size=4)
        eps = 1e-3
        num = np.stack([(mlp.forward((x + eps * e)[None])[0] - mlp.forward((x - eps * e)[None])[0])
                        / (2 * eps) for e in np.eye(4)], axis=1)
        assert np.allclose(mlp.jacobian(x), num, atol=1e-3)


def test_param_space_units_mirroring_and_json():
    space = ParamSpace([Param("a/location[0]", (("a.L", "location", 0, 1.0), ("a.R", "location", 0, -1.0)), -0.01, 0.02),
                        Param("b/scale[0]", (("b", "scale", 0, 1.0),), 0.5, 1.5)])
    vals = np.array([0.02, 0.5])
    assert np.allclose(space.to_unit(vals), [1, -1])
    assert np.allclose(space.from_unit(np.array([5.0, -5.0])), [0.02, 0.5])  # clipped to limits
    ch = space.channel_values(np.array([0.01, 1.2]))
    assert ch[("a.R", "location", 0)] == pytest.approx(-0.01) and ch[("b", "scale", 0)] == pytest.approx(1.2)
    assert ParamSpace.from_json(space.to_json()).params == space.params
    assert np.allclose(space.rest, [0.0, 1.0])


def _toy_rig(p=6, seed=0):
    """A smooth nonlinear 'engine': unit parameters [N, p] -> [N, K, 3] face-unit landmarks."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(size=(K, 3)) * 0.5
    rest[:, 1] *= 0.2
    basis = rng.normal(size=(p, K, 3)) * 0.03
    basis[..., 1] = 0.0  # picture-plane motion only, like the generated rig
    quad = rng.normal(size=(p, K, 3)) * 0.01
    quad[..., 1] = 0.0

    def engine(unit):
        unit = np.atleast_2d(unit)
        return rest + np.tensordot(unit, basis, 1) + np.tensordot(unit ** 2, quad, 1)
    return engine


@pytest.fixture(scope="module")
def toy():
    engine = _toy_rig()
    rng = np.random.default_rng(1)
    unit = rng.uniform(-1, 1, (1500, 6))
    imit = train_imitator(unit, engine(unit), engine(np.zeros(6))[0], np.zeros(6), epochs=60)
    return engine, imit


def test_imitator_learns_the_engine_and_round_trips(toy, tmp_path):
    engine, imit = toy
    assert imit.report["val_rmse"] < 0.01  # eye distances
    imit.save(tmp_path / "m.npz")
    back = Imitator.load(tmp_path / "m.npz")
    u = np.random.default_rng(5).uniform(-1, 1, (4, 6))
    assert np.allclose(back.landmarks(u), imit.landmarks(u), atol=1e-6)


def test_cached_imitator_serves_its_rig_up_to_rounding_only(toy, tmp_path):
    """A rig whose limits and probe landmarks differ by rounding (another CPU's render and
    MediaPipe) finds the cached imitator; a rig edited for real, or with other channels,
    does not; the file's rig print survives the round trip."""
    from dataclasses import replace
    from faceforge.ml.fit.imitator import find_cached, rig_key, rig_print
    engine, imit = toy
    space = ParamSpace([Param(f"b{i}/location[0]", ((f"b{i}", "location", 0, 1.0),), -0.01, 0.01)
                        for i in range(6)])
    probes = engine(np.random.default_rng(2).uniform(-1, 1, (5, 6)))
    key = rig_key(space.to_json(), probes)
    imit = replace(imit, key=key, rig=rig_print(space, probes))
    imit.save(tmp_path / f"{key}.npz")
    (tmp_path / f"{key}_translator.npz").write_bytes(b"")      # never taken for an imitator
    assert Imitator.load(tmp_path / f"{key}.npz").rig.matches(imit.rig)
    jitter = probes + np.random.default_rng(3).uniform(-7e-5, 7e-5, probes.shape)
    assert rig_key(space.to_json(), jitter) != key               # an exact hash misses it
    assert find_cached([tmp_path], space, jitter) == tmp_path / f"{key}.npz"
    moved = probes.copy()
    moved[0, 5, 0] += 0.01                                      # one landmark, 1 % of the eyes
    assert find_cached([tmp_path], space, moved) is None
    wider = ParamSpace([Param(p.name, p.targets, p.lo, p.hi * 1.1) for p in space.params])
    assert find_cached([tmp_path], wider, probes) is None
    other = ParamSpace([Param(p.name, ((p.targets[0][0], "scale", 0, 1.0),), p.lo, p.hi)
                        for p in space.params])
    assert find_cached([tmp_path], other, probes) is None


def _target(points, yaw=0.0, pitch=0.0, roll=0.3, scale=80.0):
    """Frontal landmarks of face-unit points as a photo would show them (pixels, rotated)."""
    p2 = solve.project(points, yaw, pitch)
    c, s = np.cos(roll), np.sin(roll)
    pix = p2 @ np.array([[c, -s], [s, c]]).T * scale + 200
    full = np.zeros((478, 2))
    full[FIT_INDICES] = pix
    return solve.normalise_target(full)


def test_iterative_fit_recovers_known_parameters(toy):
    engine, imit = toy
    rng = np.random.default_rng(11)
    errs, before, after = [], [], []
    for _ in range(6):
        truth = rng.uniform(-0.8, 0.8, 6)
        target = _target(engine(truth)[0], yaw=rng.uniform(-0.1, 0.1))
        res = solve.fit_iterative(imit, target)
        assert (np.abs(res.unit) <= 1).all()
        errs.append(np.abs(res.unit - truth).max() / 2)
        before.append(solve.average_face_nme(imit, target))
        after.append(res.nme)
    assert max(errs) < 0.08 and np.mean(after) < 0.25 * np.mean(before)


def _whitened_fit_halves_the_error(engine, imit, white, rng, noise) -> bool:
    """Six random parameter sets fitted from detections with structured `noise`: the
    whitened imitator's mean parameter error is under half the plain one's."""
    plain_err, white_err = [], []
    for t, n in zip(rng.uniform(-0.8, 0.8, (6, 6)), noise(6)):
        target = _target(engine(t)[0]) + n
        plain_err.append(np.abs(solve.fit_iterative(imit, target).unit - t).mean())
        white_err.append(np.abs(solve.fit_iterative(white, target).unit - t).mean())
    return np.mean(white_err) < 0.5 * np.mean(plain_err)


def test_noise_whitening_discounts_what_the_detector_moves(toy):
    """A detector that shifts the landmarks along a fixed pattern by a random amount (as
    the light does MediaPipe's): the fit through the whitened residual recovers the
    parameters much better than the plain one, and an isotropic noise leaves it as is."""
    from dataclasses import replace
    engine, imit = toy
    rng = np.random.default_rng(8)
    pattern = rng.normal(size=(K, 2)) * 0.03
    noise = lambda n: rng.normal(size=(n, 1, 1)) * pattern + rng.normal(size=(n, K, 2)) * 0.002  # noqa: E731
    white = replace(imit, whiten=solve.noise_whitening(noise(400)))
    iso = solve.noise_whitening(rng.normal(size=(2000, K, 2)) * 0.01, shrink=0.5)
    assert np.abs(iso - np.eye(2 * K)).max() < 0.2
    assert _whitened_fit_halves_the_error(engine, imit, white, rng, noise)


def test_nuisance_whitening_shrinks_only_the_largest_spread(toy):
    """The nuisance whitening damps the direction a detector's pattern moves the landmarks
    along (the fit then recovers the parameters better than the plain one) and leaves
    every direction orthogonal to it exactly as it was."""
    from dataclasses import replace
    engine, imit = toy
    rng = np.random.default_rng(8)
    pattern = rng.normal(size=(K, 2)) * 0.03
    noise = lambda n: rng.normal(size=(n, 1, 1)) * pattern + rng.normal(size=(n, K, 2)) * 0.002  # noqa: E731
    w = solve.nuisance_whitening(noise(400), rank=1)
    d = pattern.ravel() / np.linalg.norm(pattern)
    other = rng.normal(size=2 * K)
    other -= (other @ d) * d
    assert np.linalg.norm(w @ d) < 0.2
    assert np.allclose(w @ other, other, atol=0.05 * np.linalg.norm(other))
    white = replace(imit, whiten=w)
    assert _whitened_fit_halves_the_error(engine, imit, white, rng, noise)


def test_identifiability_probe_flags_channels_that_move_the_landmarks_alike():
    """Two channels of a toy rig that move the landmarks the same way (one at half the
    size) and one that hardly moves them: the probe reports the pair's cosine near 1, the
    weak channel's small move, and the others' R^2 on the rest near 1 for the pair."""
    from lab.fit.probe_identifiability import identifiability
    rng = np.random.default_rng(4)
    rest = np.zeros((K, 3))
    rest[:, 0], rest[:, 2] = rng.normal(size=K) * 0.5, rng.normal(size=K) * 0.5
    basis = rng.normal(size=(4, K, 3)) * 0.03
    basis[..., 1] = 0.0
    basis[1] = 0.5 * basis[0]
    basis[3] *= 0.05
    unit = rng.uniform(-1, 1, (1500, 4))
    imit = train_imitator(unit, rest + np.tensordot(unit, basis, 1), rest, np.zeros(4), epochs=60)
    out = identifiability(imit, ["a", "b", "c", "weak"])
    assert {out["pairs"][0][0], out["pairs"][0][1]} == {"a", "b"} and out["pairs"][0][2] > 0.95
    assert out["r2_others"][0] > 0.9 and out["r2_others"][2] < 0.5
    assert out["effect"][3] < 0.2 * out["effect"][2]


def test_fit_stays_within_limits_for_an_impossible_face(toy):
    engine, imit = toy
    target = _target(engine(np.full(6, 3.0))[0])  # far outside the limits
    res = solve.fit_iterative(imit, target)
    assert (np.abs(res.unit) <= 1 + 1e-12).all() and abs(res.yaw) <= solve.POSE_LIMIT


@pytest.mark.parametrize("body", ["mlp", "se"])
def test_one_shot_translator_beats_the_average_face(toy, body, tmp_path):
    from faceforge.ml.fit.translator import load_translator_file, save_translator
    engine, imit = toy
    trans = train_translator(imit, steps=300, body=body)
    rng = np.random.default_rng(3)
    truth = rng.uniform(-0.8, 0.8, (8, 6))
    errs = [np.sqrt(((trans.fit(_target(engine(t)[0]), imit).unit - t) ** 2).mean()) for t in truth]
    assert np.mean(errs) < 0.5 * np.sqrt((truth ** 2).mean())
    save_translator(trans, tmp_path / "t.npz")
    back = load_translator_file(tmp_path / "t.npz")
    assert type(back.mlp) is type(trans.mlp)
    targets = np.stack([_target(engine(t)[0]) for t in truth])
    assert np.allclose(back.predict(targets), trans.predict(targets), atol=1e-6)


def test_detector_targets_undo_the_render_head_turn(toy, tmp_path, monkeypatch):
    """What MediaPipe saw on a turned render becomes a frontal target: turned back as the
    solver turns the imitator, it lands on the detected points (in any similarity frame)."""
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path))  # the lab engine's default, kept out
    from lab.fit.tune_detector import detected_targets
    _, imit = toy
    rng = np.random.default_rng(5)
    unit = rng.uniform(-1, 1, (4, 6))
    pose = rng.uniform(-0.15, 0.15, (4, 2))
    seen = []
    for pts, (yaw, pitch) in zip(imit.landmarks(unit), pose):
        moved = solve.project(pts, yaw, pitch) + rng.normal(size=(K, 2)) * 0.02  # the detector's shift
        s, r, t = 2.5, solve.rotation(0.3, 0.0)[0][:2, :2], np.array([4.0, -1.0])
        seen.append(moved @ (s * r).T + t)                    # pixels: any scale, roll, shift
    targets = detected_targets(imit, unit, np.array(seen), pose)
    frontal = detected_targets(imit, unit, np.array(seen))    # the turn ignored
    for tgt, flat, d, (yaw, pitch) in zip(targets, frontal, seen, pose):
        assert solve.nme(solve.project(tgt.astype(np.float64), yaw, pitch), d) < 1e-5
        assert solve.nme(solve.project(flat.astype(np.float64), yaw, pitch), d) > 1e-3


def test_similarity_nme_is_invariant_and_normalised():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(K, 2))
    assert solve.nme(a * 3 + 1, a) < 1e-9
    b = a.copy()
    b[:, 0] += 0.0
    full = np.zeros((478, 2))
    full[FIT_INDICES] = a
    assert eye_distance(solve.normalise_target(full), FIT_INDICES) == pytest.approx(1.0)


# -------------------------------------------------------------------- photos
@pytest.fixture(scope="module")
def astronaut(shared_data):
    return shared_data / "photos" / "astronaut.png"


def test_photo_landmarks_of_the_astronaut(astronaut):
    pts, notes = photo_landmarks(astronaut)
    assert pts.shape == (478, 3) and not notes
    assert 40 < eye_distance(pts) < 200


def _rgb(path):
    return read_photo(path)


def test_photo_variants_grayscale_alpha_cmyk_exif(astronaut, tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    img = PIL.open(astronaut).convert("RGB")
    ref, _ = photo_landmarks(astronaut)
    img.convert("L").save(tmp_path / "gray.png")
    rgba = img.convert("RGBA")
    rgba.putalpha(PIL.new("L", img.size, 200))
    rgba.save(tmp_path / "alpha.png")
    img.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    exif = PIL.Exif()
    exif[0x0112] = 6  # stored rotated: the viewer turns it 90 degrees clockwise
    img.transpose(PIL.Transpose.ROTATE_90).save(tmp_path / "exif.jpg", exif=exif, quality=95)
    for name in ("gray.png", "alpha.png", "cmyk.jpg", "exif.jpg"):
        rgb = _rgb(tmp_path / name)
        assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8, name
        pts, _ = photo_landmarks(tmp_path / name)
        assert np.abs(pts[:, :2] - ref[:, :2]).mean() < 6.0, name  # same face, same place


def test_bad_photos_say_why(astronaut, tmp_path):
    with pytest.raises(PhotoError, match="no such file"):
        photo_landmarks(tmp_path / "gone.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    with pytest.raises(PhotoError, match="not a readable image"):
        photo_landmarks(tmp_path / "bad.jpg")
    import cv2
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(PhotoError, match="no face"):
        photo_landmarks(tmp_path / "blank.png")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.full((10, 10, 3), 128, np.uint8))
    with pytest.raises(PhotoError, match="too small"):
        photo_landmarks(tmp_path / "tiny.png")


def test_several_faces_fit_the_largest(astronaut, tmp_path):
    import cv2
    rgb = read_photo(astronaut)
    small = cv2.resize(rgb, (256, 256))
    canvas = np.full((512, 768, 3), 255, np.uint8)
    canvas[:, :512] = rgb
    canvas[128:384, 512:] = small
    cv2.imwrite(str(tmp_path / "two.png"), canvas[..., ::-1])
    pts, notes = photo_landmarks(tmp_path / "two.png")
    assert any("2 faces" in n and "largest" in n for n in notes)
    assert pts[:, 0].max() < 512  # the big face on the left


def test_a_parameter_the_landmarks_cannot_see_stays_at_the_average_face():
    """The prior keeps an unobservable channel at the average instead of letting the
    solver push it toward a limit on the imitator's small spurious gradients."""
    engine = _toy_rig(p=6, seed=4)
    blind = lambda u: engine(np.concatenate([np.atleast_2d(u)[:, :5], 0 * np.atleast_2d(u)[:, 5:]], 1))  # noqa: E731
    rng = np.random.default_rng(6)
    unit = rng.uniform(-1, 1, (1500, 6))
    imit = train_imitator(unit, blind(unit) + rng.normal(0, 0.003, (1500, K, 3)),
                          blind(np.zeros(6))[0], np.zeros(6), epochs=40)
    drift, seen = [], []
    for _ in range(6):
        truth = rng.uniform(-0.8, 0.8, 6)
        target = _target(blind(truth)[0] + rng.normal(0, 0.01, (K, 3)))
        res = solve.fit_iterative(imit, target)
        drift.append(abs(res.unit[5]))
        seen.append(np.abs(res.unit[:5] - truth[:5]).max() / 2)
    assert max(drift) < 0.25 and max(seen) < 0.1  # projected Adam: 1.0 (the limit)
