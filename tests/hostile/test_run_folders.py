"""Tampered run folders: every field a listing reads set to values of the wrong kind, files replaced,
removed or damaged, checkpoints swapped for garbage or pickled code. A bad folder is listed as
unreadable with its reason, never hides the others, and never runs code."""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from fer_core import runs
from fer_core.app import job_status
from fer_core.common.paths import PACKAGED_BUILTIN
from fer_core.inference import predictor
from fer_core.runs import compare

from tests.hostile.messages import assert_clear

GOOD, BAD = "20260101-000000-fast_cnn-none", "20260102-000000-fast_cnn-none"
WRONG_VALUES = ["x", [1, 2], -1, 1e308, True]
RUN_FILES = (runs.CONFIG, runs.STATUS, runs.EVALUATION, runs.METRICS, runs.PREDICTIONS)


def _json(name: str) -> dict:
    return json.loads((PACKAGED_BUILTIN / name).read_text())


def _field_cases() -> list[tuple[str, str, object]]:
    return [(name, key, value) for name in (runs.STATUS, runs.CONFIG, runs.EVALUATION)
            for key in _json(name) for value in WRONG_VALUES]


def _whole_file_cases() -> list[tuple[str, str]]:
    contents = ["[]", "null", "1", '"text"', "{", "", "\x00\x01", "{" * 100_000]
    return [(name, text) for name in (runs.STATUS, runs.CONFIG, runs.EVALUATION) for text in contents] + [
        (runs.METRICS, text) for text in ("epoch,val_acc\nx,y\n", "\x00\x00", "epoch,val_acc\n1,nan\n2,inf\n",
                                          "epoch,val_acc\n1e400,1\n", "epoch,val_acc\n1,2,3,4\n", "a,b\n1,2\n")]


def _copy_run(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in RUN_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    (target / runs.CHECKPOINT).symlink_to(source / runs.CHECKPOINT)
    classes = _json(runs.EVALUATION)["classes"]
    rows = [f"row_{i},{c},{classes[(i + 1) % len(classes)]}," + ",".join(["0.1"] * len(classes))
            for i, c in enumerate(classes)]
    header = "id,label,prediction," + ",".join(f"prob_{c}" for c in classes)
    (target / runs.PREDICTIONS).write_text("\n".join([header, *rows]) + "\n")  # so the run counts as evaluated
    return target


@pytest.fixture
def two_runs(tmp_path):
    """A checkpoints folder holding an intact run and a copy of it to tamper with."""
    _copy_run(PACKAGED_BUILTIN, tmp_path / GOOD)
    return tmp_path, _copy_run(PACKAGED_BUILTIN, tmp_path / BAD)


def _everything_that_lists_runs(root: Path) -> list[runs.RunRecord]:
    """What the Runs, Train and Demo pages and the `runs` command read; none of it may raise."""
    from fer_core.cli import main
    records = runs.list_runs(root)
    for r in records:
        r.summary(), r.describe(), r.provenance(), compare.status_note(r)
        job_status.job_row(r), job_status.describe_failure(r.status)
    compare.runs_table(records)
    evaluated = [r for r in records if compare.has_evaluation(r)]
    compare.strategy_display(compare.strategy_table(evaluated))
    compare.per_class_f1(evaluated)
    predictor.usable_runs(root), predictor.default_model(root), predictor.best_run(root)
    job_status.recent_jobs(root), job_status.live_runs(root)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert main(["runs", "--json", "--out", str(root)]) == 0, err.getvalue()
    return records


def _assert_listed_as_it_should_be(root: Path) -> None:
    records = {r.run_id: r for r in _everything_that_lists_runs(root)}
    assert records[GOOD].readable and records[GOOD].state == "completed"
    bad = records[BAD]
    if not bad.readable:
        assert_clear(bad.status["error"])
        assert not bad.has_model
        assert bad.run_dir not in [r.run_dir for r in predictor.usable_runs(root)]


@pytest.mark.parametrize("name, key, value", _field_cases(), ids=lambda v: repr(v)[:30])
def test_a_field_of_the_wrong_kind_never_breaks_a_listing(two_runs, name, key, value):
    root, bad = two_runs
    content = _json(name)
    content[key] = value
    (bad / name).write_text(json.dumps(content))
    _assert_listed_as_it_should_be(root)


@pytest.mark.parametrize("name, text", _whole_file_cases(), ids=lambda v: repr(v)[:30])
def test_a_damaged_file_makes_its_run_unreadable_not_the_listing(two_runs, name, text):
    root, bad = two_runs
    (bad / name).write_text(text)
    _assert_listed_as_it_should_be(root)
    if name != runs.METRICS or "x,y" in text or "1e400" in text:
        assert [r.state for r in runs.list_runs(root) if r.run_id == BAD] == [runs.UNREADABLE]


@pytest.mark.parametrize("damage", ["missing", "folder", "symlink-loop", "dangling-symlink", "fifo"])
@pytest.mark.parametrize("name", [runs.CONFIG, runs.STATUS, runs.EVALUATION, runs.METRICS, runs.PREDICTIONS])
def test_a_file_that_is_missing_or_not_a_file_makes_its_run_unreadable(two_runs, name, damage):
    root, bad = two_runs
    path = bad / name
    path.unlink()
    if damage == "folder":
        path.mkdir()
    elif damage == "symlink-loop":
        path.symlink_to(path)
    elif damage == "dangling-symlink":
        path.symlink_to(bad / "nowhere")
    elif damage == "fifo":
        os.mkfifo(path)  # reading it would block forever
    _assert_listed_as_it_should_be(root)
    if name == runs.PREDICTIONS and damage != "missing":
        with pytest.raises(runs.RunError) as caught:
            runs.read_predictions(bad)
        assert_clear(caught.value)


class _Exploit:
    """A pickle that creates a file when loaded: the proof that loading it ran code."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def _checkpoint_cases(tmp_path: Path) -> dict[str, bytes]:
    real = (PACKAGED_BUILTIN / runs.CHECKPOINT).read_bytes()
    return {
        "empty": b"", "random-bytes": os.urandom(4096), "text": b"not a checkpoint",
        "truncated-at-half": real[: len(real) // 2], "truncated-to-1kb": real[:1024],
        "one-byte-flipped": real[:5000] + bytes([real[5000] ^ 0xFF]) + real[5001:],
        "raw-pickle-that-runs-code": pickle.dumps(_Exploit(tmp_path / "pwned")),
        "zip-of-garbage": b"PK\x05\x06" + b"\x00" * 18,
    }


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the hostile pickle
@pytest.mark.parametrize("which", ["empty", "random-bytes", "text", "truncated-at-half", "truncated-to-1kb",
                                   "one-byte-flipped", "raw-pickle-that-runs-code", "zip-of-garbage"])
def test_a_damaged_or_hostile_checkpoint_is_a_clear_error_and_runs_nothing(two_runs, tmp_path, which):
    root, bad = two_runs
    (bad / runs.CHECKPOINT).unlink()
    (bad / runs.CHECKPOINT).write_bytes(_checkpoint_cases(tmp_path)[which])
    try:
        predictor.Predictor.from_run(bad)
    except runs.RunError as exc:
        assert_clear(exc)
    else:
        assert which == "one-byte-flipped", "a damaged checkpoint loaded"  # a flipped weight byte can still load
    assert not (tmp_path / "pwned").exists(), "loading the checkpoint ran code"
    _assert_listed_as_it_should_be(root)


def test_a_pickled_torch_checkpoint_that_runs_code_is_refused(two_runs, tmp_path):
    import torch
    root, bad = two_runs
    (bad / runs.CHECKPOINT).unlink()
    torch.save({"card": _Exploit(tmp_path / "pwned"), "state_dict": {}}, bad / runs.CHECKPOINT)
    with pytest.raises(runs.RunError, match="holds Python objects other than tensors") as caught:
        predictor.Predictor.from_run(bad)
    assert_clear(caught.value)
    assert not (tmp_path / "pwned").exists()


def _edit_card(blob: dict, **changes) -> None:
    blob["card"] = {**blob["card"], **changes}


@pytest.mark.parametrize("edit, message", [
    (lambda b: _edit_card(b, class_names=[f"c{i}" for i in range(1_000_000)]), "1000000 classes; between 1 and 1000"),
    (lambda b: _edit_card(b, class_names=["a", "b"]), "does not match its own model card"),
    (lambda b: _edit_card(b, arch="no_such_net"), "does not match its own model card .no_such_net"),
    (lambda b: _edit_card(b, in_chans=10_000), "10000 input channels"),
    (lambda b: b.pop("state_dict"), "not a readable checkpoint"),
    (lambda b: b.pop("card"), "not a readable checkpoint"),
], ids=["a-million-classes", "two-classes", "unknown-arch", "10000-channels", "no-state-dict", "no-card"])
def test_a_checkpoint_at_odds_with_its_card_is_a_clear_error_before_any_large_allocation(two_runs, edit, message):
    import torch
    root, bad = two_runs
    blob = torch.load(PACKAGED_BUILTIN / runs.CHECKPOINT, weights_only=True)
    edit(blob)
    (bad / runs.CHECKPOINT).unlink()
    torch.save(blob, bad / runs.CHECKPOINT)
    with pytest.raises(runs.RunError, match=message) as caught:
        predictor.Predictor.from_run(bad)
    assert_clear(caught.value)


def _metrics_cases() -> dict[str, bytes]:
    return {
        "field-over-csv-limit": b"epoch,val_acc\n1," + b"9" * 200_000 + b"\n",
        "random-bytes": bytes(__import__("random").Random(0).randrange(256) for _ in range(3000)),
        "no-header": b"1,0.5\n2,0.6\n",
        "nul-bytes": b"epoch,val_acc\n1,0.5\x00\x00\n",
        "latin-1": "epoch,val_acc\n1,0.5 é\n".encode("latin-1"),
    }


@pytest.mark.parametrize("which", list(_metrics_cases()))
def test_a_hostile_metrics_csv_makes_its_run_unreadable_naming_the_file(two_runs, which):
    root, bad = two_runs
    (bad / runs.METRICS).write_bytes(_metrics_cases()[which])
    _assert_listed_as_it_should_be(root)
    (record,) = [r for r in runs.list_runs(root) if r.run_id == BAD]
    assert record.state == runs.UNREADABLE and runs.METRICS in record.status["error"]


@pytest.mark.parametrize("name", [runs.STATUS, runs.CONFIG, runs.EVALUATION, runs.METRICS, runs.PREDICTIONS,
                                  "notes.json"])
def test_a_sparse_2_gib_run_file_is_refused_unread_in_an_instant(two_runs, name):
    import time
    root, bad = two_runs
    path = bad / name
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(2 * 1024**3)  # no disk blocks; reading it would cost seconds and gigabytes
    started = time.monotonic()
    _assert_listed_as_it_should_be(root)
    assert time.monotonic() - started < 20
    (record,) = [r for r in runs.list_runs(root) if r.run_id == BAD]
    if name == "notes.json":
        assert record.readable and record.notes.name == ""  # damaged notes read as none; the run still reads
    elif name == runs.PREDICTIONS:
        with pytest.raises(runs.RunError, match="limit") as caught:
            runs.read_predictions(bad)
        assert_clear(caught.value)
    else:
        assert record.state == runs.UNREADABLE and "limit" in record.status["error"]
