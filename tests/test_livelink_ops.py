"""Live Link Face CSV onto shape keys and back: exact round trip, bad files change nothing."""
import numpy as np
import pytest

from faceforge.ml import arkit, livelink_csv
from faceforge.ops import cli, livelink
from helpers import tiny_rigged_mesh


def _random_csv(path, rows=90, seed=0):
    rng = np.random.default_rng(seed)
    take = livelink_csv.LiveLinkTake(
        times=np.arange(rows) / 60.0,
        weights=rng.random((rows, 52)).astype(np.float32),
        rotations=rng.uniform(-0.5, 0.5, (rows, 9)).astype(np.float32))
    livelink_csv.write_livelink_csv(path, take, fps=60, start_timecode="10:20:30:00.000")
    return take


def test_csv_round_trip_is_exact(bpy_empty, tmp_path):
    bpy = bpy_empty
    src = tmp_path / "take1.csv"
    _random_csv(src)
    obj = tiny_rigged_mesh(keys=arkit.ARKIT_NAMES)
    rep = livelink.import_csv(obj, src, apply_head_rotation=True)
    assert len(rep.baked) == 52 and not rep.missing
    assert obj.rotation_mode == "XYZ"
    out = tmp_path / "back.csv"
    assert livelink.export_csv(obj, out) == 90
    assert out.read_text() == src.read_text()


def test_import_into_24fps_scene_keeps_timing(bpy_empty, tmp_path):
    bpy = bpy_empty
    bpy.context.scene.render.fps = 24
    src = tmp_path / "t.csv"
    take = _random_csv(src, rows=61)
    obj = tiny_rigged_mesh(keys=arkit.ARKIT_NAMES)
    livelink.import_csv(obj, src, start_frame=10)
    # one second of capture spans 24 frames of the scene
    bpy.context.scene.frame_set(34)
    got = obj.data.shape_keys.key_blocks["jawOpen"].value
    assert got == pytest.approx(take.weights[60, arkit.INDEX["jawOpen"]], abs=1e-6)
    out = tmp_path / "back.csv"
    livelink.export_csv(obj, out)
    assert out.read_text() == src.read_text()


def test_bad_csv_changes_nothing(bpy_empty, tmp_path):
    bpy = bpy_empty
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,BlendShapeCount,EyeBlinkLeft\n00:00:00:00.000,61,0.5\n")
    obj = tiny_rigged_mesh()
    with pytest.raises(livelink_csv.LiveLinkCsvError, match="missing"):
        livelink.import_csv(obj, bad)
    assert obj.data.shape_keys.animation_data is None and len(bpy.data.actions) == 0


def test_cli_import_then_export(bpy_empty, tmp_path):
    bpy = bpy_empty
    tiny_rigged_mesh(keys=arkit.ARKIT_NAMES)
    head = tmp_path / "head.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(head), copy=True)
    _random_csv(tmp_path / "a.csv", seed=1)
    _random_csv(tmp_path / "b.csv", seed=2)
    (tmp_path / "broken.csv").write_text("not,a,live,link,file\n")
    rigged = tmp_path / "rigged.blend"
    code = cli.run(["import-csv", str(head), str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                    str(tmp_path / "broken.csv"), "-o", str(rigged)])
    assert code == 1 and rigged.exists()  # the good takes are kept, the failure reported
    outdir = tmp_path / "csv"
    assert cli.run(["export-csv", str(rigged), "-o", str(outdir)]) == 0
    assert (outdir / "rigged_a.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert (outdir / "rigged_b.csv").read_text() == (tmp_path / "b.csv").read_text()
