"""The command line's batch runner: folders, failures, Ctrl-C, atomic outputs."""
from pathlib import Path

import pytest

from faceforge.ops import batch, outputs


def test_expand_inputs_keeps_order_and_missing(tmp_path):
    (tmp_path / "d").mkdir()
    for n in ("b.blend", "a.blend", "skip.txt"):
        (tmp_path / "d" / n).write_text("x")
    got = batch.expand_inputs([tmp_path / "d", tmp_path / "missing.blend"], (".blend",))
    assert [p.name for p in got] == ["a.blend", "b.blend", "missing.blend"]


def test_check_input_messages(tmp_path):
    with pytest.raises(batch.UserError, match="no such file"):
        batch.check_input(tmp_path / "nope.blend", (".blend",))
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(batch.UserError, match="expected a .blend"):
        batch.check_input(tmp_path / "x.txt", (".blend",))


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "r.blend"
    with pytest.raises(outputs.OutputError) as err:
        with outputs.atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError(f"Error: cannot write {tmp}\n")
    assert str(err.value) == f"could not write {target}: cannot write {target}"  # no temp name
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_atomic_output_refuses_to_overwrite(tmp_path):
    target = tmp_path / "r.blend"
    target.write_text("theirs")
    with pytest.raises(outputs.OutputError, match="already exists"):
        with outputs.atomic_output(target) as tmp:
            tmp.write_text("ours")
    assert target.read_text() == "theirs"
    with outputs.atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("ours")
    assert target.read_text() == "ours"


def test_run_batch_continues_and_reports(capsys):
    def job(item):
        if item == 2:
            raise batch.UserError("bad input two")
        if item == 3:
            raise KeyError("boom")
        return "ok"
    res = batch.run_batch([1, 2, 3, 4], job, "test")
    assert res.ok == ["1", "4"]
    assert [f[0] for f in res.failed] == ["2", "3"]
    assert res.exit_code == 1
    err = capsys.readouterr().err
    assert "2 succeeded, 2 failed" in err and "FAILED 2: bad input two" in err
    assert "FAILED 3: internal error ('boom')" in err and "KeyError" not in err
