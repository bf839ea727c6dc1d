"""Bad paths given to every command that takes one: missing, empty, devices, pipes, sockets, symlink
loops, folders where files belong and files where folders belong, names too long or with odd bytes.
Each ends in one `error: ...` line and a non-zero exit code, never a traceback."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from fer_core.cli import main
from fer_core.data.dataset import DataError

from tests.hostile.messages import assert_clear


def _bad_paths(tmp_path) -> dict[str, str]:
    os.mkfifo(tmp_path / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "socket"))
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "a-file").write_text("just text")
    (tmp_path / "empty.zip").write_bytes(b"")
    return {
        "missing": str(tmp_path / "no" / "such" / "path"), "empty-string": "", "blank": "   ",
        "dev-zero": "/dev/zero", "dev-null": "/dev/null", "fifo": str(tmp_path / "pipe"),
        "socket": str(tmp_path / "socket"), "symlink-loop": str(tmp_path / "loop"),
        "dangling-symlink": str(tmp_path / "dangling"), "empty-folder": str(tmp_path / "empty-folder"),
        "text-file": str(tmp_path / "a-file"), "empty-zip": str(tmp_path / "empty.zip"),
        "name-too-long": str(tmp_path / ("x" * 300)), "newline-in-name": str(tmp_path / "a\nb"),
        "under-a-file": str(tmp_path / "a-file" / "below"),
    }


PATH_NAMES = ["missing", "empty-string", "blank", "dev-zero", "dev-null", "fifo", "socket", "symlink-loop",
              "dangling-symlink", "empty-folder", "text-file", "empty-zip", "name-too-long", "newline-in-name",
              "under-a-file"]

# command line with {} where the bad path goes; runs against the bundled model where one is needed
COMMANDS = {
    "data-summary": ["data", "summary", "--data", "{}", "--no-cache"],
    "data-quality": ["data", "quality", "--data", "{}", "--no-cache"],
    "evaluate-run": ["evaluate", "--run", "{}"],
    "evaluate-data": ["evaluate", "--run", "builtin", "--data", "{}"],
    "explain-image": ["explain", "{}", "--out", "{tmp}/out.png"],
    "explain-run": ["explain", "{face}", "--run", "{}", "--out", "{tmp}/out.png"],
    "video": ["video", "{}"],
    "export-run": ["export", "--run", "{}", "--format", "onnx"],
    "builtin-from-run": ["builtin", "--from-run", "{}"],
    "train-data": ["train", "--data", "{}", "--epochs", "1", "--out", "{tmp}/runs"],
}


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    # `train` names the run folder it made, then how the run ended ("run failed: ...")
    assert lines and ("error: " in lines[-1] or lines[-1].startswith("run failed: ")), err[-500:]
    assert "Traceback" not in err
    return lines[-1].split(": ", 1)[1]


@pytest.mark.parametrize("path_name", PATH_NAMES)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_path_is_one_clear_error_line(command, path_name, tmp_path, bundled_model, capsys, monkeypatch):
    import cv2
    monkeypatch.chdir(tmp_path)  # export and builtin write beside the caller when they succeed
    monkeypatch.setenv("FER_BUILTIN_DIR", str(bundled_model))
    path = _bad_paths(tmp_path)[path_name]
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((48, 48), 128, np.uint8))
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{face}", str(face)) for a in COMMANDS[command]]
    argv = [path if a == "{}" else a for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refused the value itself: its usage line, then "error: ..."
        code = exit_.code
    assert code != 0
    assert_clear(_one_error_line(capsys.readouterr().err), max_chars=800)


@pytest.mark.parametrize("path_name", PATH_NAMES)
def test_predict_gives_a_bad_path_an_error_row_and_carries_on(path_name, tmp_path, bundled_model, capsys):
    import csv

    import cv2
    path = _bad_paths(tmp_path)[path_name]
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((48, 48), 128, np.uint8))
    out = tmp_path / "results.csv"
    assert main(["predict", path, str(face), "--out", str(out), "--no-detect"]) == 1
    rows = list(csv.DictReader(out.open(newline="")))
    assert rows[-1]["image"] == str(face) and not rows[-1]["error"]  # the good image after it is still done
    for row in rows[:-1]:
        assert_clear(row["error"])


@pytest.mark.parametrize("path_name", PATH_NAMES)
def test_the_data_layer_refuses_a_bad_path_with_a_data_error(path_name, tmp_path):
    from fer_core.data import load_dataset
    path = _bad_paths(tmp_path)[path_name]
    if not path.strip():  # documented: no path (None, "" or blank, as an empty box on Home) is the synthetic faces
        assert load_dataset(path, use_cache=False, synthetic_size=70).source.startswith("synthetic")
        return
    with pytest.raises(DataError) as caught:
        load_dataset(path, use_cache=False)
    assert_clear(str(caught.value).replace("\n", "\\n"), max_chars=800)  # as the CLI prints it


@pytest.mark.parametrize("target", ["under-a-file", "dev-null-folder", "name-too-long"])
def test_an_output_path_that_cannot_be_written_is_one_line(target, tmp_path, bundled_model, capsys):
    import cv2
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((48, 48), 128, np.uint8))
    (tmp_path / "a-file").write_text("a file where a folder is needed")
    out = {"under-a-file": tmp_path / "a-file" / "sub" / "x.png", "dev-null-folder": "/dev/null/x.png",
           "name-too-long": tmp_path / ("x" * 300 + ".png")}[target]
    for argv in (["explain", str(face), "--out", str(out)],  # noqa: E501
                 ["predict", str(face), "--out", str(out).replace(".png", ".csv")],
                 ["export", "--format", "onnx", "--out", str(out).replace(".png", ".onnx")],
                 ["runs", "--out", str(out).replace(".png", "")]):
        code = main(argv)
        err = capsys.readouterr().err
        if argv[0] == "runs" and code == 0:
            continue  # listing a folder that cannot exist lists nothing
        assert code == 2, (argv, err)
        assert_clear(_one_error_line(err), max_chars=800)
