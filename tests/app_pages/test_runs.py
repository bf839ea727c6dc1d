"""The Runs page through streamlit.testing.v1.AppTest: table, comparison figures, gallery, delete."""
from __future__ import annotations

import json
import re

import pytest

from streamlit.testing.v1 import AppTest

from tests.app_pages.app import gallery_tiles, open_app

from fer_core import runs
from fer_core.runs import compare
from fer_core.training.config import TrainConfig
from fer_core.common.emotions import EMOJI, display
from tests.conftest import train_here



def open_page(rows: list[int] | None = None, cell: tuple[int, str] | None = None) -> AppTest:
    """The Runs page through the app, optionally with table rows / a gallery cell selected."""
    at = open_app("runs")
    if rows is not None:
        at.session_state["runs_table"] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    if cell is not None:
        at.session_state["runs_gallery_cell"] = {"selection": {"rows": [], "columns": [], "cells": [list(cell)]}}
    return at.run()


def chart_keys(at: AppTest) -> list[str]:
    return [c.key for c in at.get("plotly_chart")]


def test_with_no_runs_the_page_explains_how_to_start_one():
    at = open_page()
    assert not at.exception
    assert "No runs yet" in at.info[0].value and "Train page" in at.info[0].value
    assert len(at.get("page_link")) == 1
    assert not at.get("plotly_chart")


def test_the_table_lists_the_run_and_selecting_it_shows_curves_f1_and_confusion_matrix(run_in_checkpoints):
    run_id = run_in_checkpoints.name
    at = open_page(rows=[0])
    assert not at.exception
    table = at.dataframe(key="runs_table").value
    assert list(table["run_id"]) == [run_id] and table["status"].iloc[0] == "completed"
    assert "f1_happy" in table.columns
    assert chart_keys(at) == ["runs_curves", "runs_f1_bars", f"runs_cm_{run_id}"]
    strategy = next(d.value for d in at.dataframe if "val_metric" in d.value.columns)
    assert list(strategy[["model", "strategy", "seeds"]].iloc[0]) == ["simple_cnn", "none", 1]
    assert strategy["test_accuracy"].iloc[0].endswith("%")  # one seed: no "± sd"

    at.toggle(key="runs_cm_normalise").set_value(True).run()
    assert not at.exception and f"runs_cm_{run_id}" in chart_keys(at)

    at.session_state["runs_table"] = {"selection": {"rows": [], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.get("plotly_chart")
    assert any("Select one or more runs" in i.value for i in at.info)


def test_the_gallery_shows_the_images_of_the_chosen_pair(run_in_checkpoints):
    preds = runs.read_predictions(run_in_checkpoints)
    counts = compare.confusion_matrix(preds)
    classes = list(counts.index)
    at = open_page(rows=[0], cell=(classes.index("happy"), "happy"))
    assert not at.exception
    n = int(counts.loc["happy", "happy"])
    assert any(f"**{n}** test image(s) of {display('happy')} correctly predicted" in m.value for m in at.markdown)
    (tiles,) = gallery_tiles(at)
    assert len(tiles) == min(n, 40) and all(c.startswith(display("happy")) for c in tiles)
    assert 'grid-template-columns:repeat(auto-fill,144px)' in next(m.value for m in at.markdown if "fer-gallery" in m.value)

    # A confused pair, chosen in the same matrix.
    pair = compare.most_confused(counts)
    if pair is not None:
        at.session_state["runs_gallery_cell"] = {"selection": {"rows": [], "columns": [],
                                                               "cells": [[classes.index(pair[0]), pair[1]]]}}
        at.run()
        assert not at.exception
        (tiles,) = gallery_tiles(at)
        assert len(tiles) == min(int(counts.loc[pair]), 40)
        # short enough for a 144 px tile (about 22 characters), the true class included
        true_icon = EMOJI[pair[0]]
        assert all(re.fullmatch(rf"{EMOJI[pair[1]]} \d+% · true {true_icon} \d+%", c) and len(c) <= 22 for c in tiles)


def test_when_the_runs_data_is_gone_the_page_says_so_and_still_shows_the_matrix(run_in_checkpoints, tmp_path):
    config = json.loads((run_in_checkpoints / runs.CONFIG).read_text())
    config["data"] = str(tmp_path / "moved_away.zip")
    (run_in_checkpoints / runs.CONFIG).write_text(json.dumps(config))
    at = open_page(rows=[0], cell=(3, "happy"))
    assert not at.exception
    assert any("images cannot be shown" in w.value and "moved_away.zip" in w.value for w in at.warning)
    assert f"runs_cm_{run_in_checkpoints.name}" in chart_keys(at)
    assert len(at.image) == 0


def test_a_run_exports_to_onnx_with_its_sidecar_for_download(run_in_checkpoints):
    at = open_page(rows=[0])
    assert at.selectbox(key="runs_export_select").value == run_in_checkpoints.name
    at.radio(key="runs_export_format").set_value("onnx")
    at.button(key="runs_export_button").click().run()
    assert not at.exception and not at.error
    assert "largest probability difference" in at.success[0].value
    run_id, fmt, download = at.session_state["runs_export"]
    assert (run_id, fmt) == (run_in_checkpoints.name, "onnx")
    assert download.name == f"{run_in_checkpoints.name}.onnx" and download.result.max_abs_diff <= 1e-4
    assert json.loads(download.sidecar)["class_names"][3] == "happy" and len(download.data) > 1000
    labels = {b.label for b in at.get("download_button")}
    assert {f"⬇️ {download.name}", f"⬇️ {download.sidecar_name}"} <= labels


def test_deleting_needs_the_confirmation(run_in_checkpoints):
    at = open_page(rows=[0])
    assert at.selectbox(key="runs_delete_select").value == run_in_checkpoints.name
    at.button(key="runs_delete_button").click().run()
    assert not at.exception and run_in_checkpoints.is_dir()
    assert any("nothing was deleted" in w.value for w in at.warning)

    at.checkbox(key="runs_delete_confirm").check()
    at.button(key="runs_delete_button").click().run()
    assert not at.exception and not run_in_checkpoints.exists()
    assert "Deleted run" in at.success[0].value
    assert "No runs yet" in at.info[0].value


def test_unfinished_runs_show_their_status_and_an_active_one_cannot_be_deleted(run_in_checkpoints):
    root = run_in_checkpoints.parent
    failed = train_here(TrainConfig(data=str(root / "missing.zip"), epochs=1, device="cpu"), root=root)
    queued = runs.create_run(TrainConfig(epochs=1, device="cpu"), root)
    ids = [r.run_id for r in runs.list_runs()]
    at = open_page(rows=[ids.index(failed.name), ids.index(queued.name)])
    assert not at.exception
    table = at.dataframe(key="runs_table").value.set_index("run_id")
    assert table.loc[failed.name, "status"] == "failed" and table.loc[queued.name, "status"] == "queued"
    assert any(failed.name in e.value and "missing.zip" in e.value for e in at.error)
    assert any(queued.name in i.value and "queued" in i.value for i in at.info)
    assert any("None of the selected runs has a final evaluation" in i.value for i in at.info)
    assert not [k for k in chart_keys(at) if k.startswith("runs_cm_")]

    at.selectbox(key="runs_delete_select").set_value(queued.name).run()
    assert at.button(key="runs_delete_button").disabled
    assert any("still queued" in w.value for w in at.warning)
    assert queued.is_dir()


def test_the_selection_stays_on_the_same_run_when_a_new_run_appears(run_in_checkpoints):
    at = open_page(rows=[0])
    assert f"runs_cm_{run_in_checkpoints.name}" in chart_keys(at)
    newer = runs.create_run(TrainConfig(epochs=1, device="cpu"), run_in_checkpoints.parent)  # listed first
    at.run()
    assert not at.exception
    assert [r for r in at.dataframe(key="runs_table").value["run_id"]] == [newer.name, run_in_checkpoints.name]
    assert f"runs_cm_{run_in_checkpoints.name}" in chart_keys(at)
    assert not any(newer.name in i.value for i in at.info)


def test_an_unreadable_run_is_listed_with_its_reason_and_the_others_still_compare(run_in_checkpoints):
    broken = run_in_checkpoints.parent / "20200101-000000-simple_cnn-none"
    broken.mkdir()
    (broken / runs.CONFIG).write_text(json.dumps({"arch": ["not", "a", "name"]}))
    (broken / runs.STATUS).write_text(json.dumps({"status": "completed"}))
    at = open_page(rows=[0, 1])
    assert not at.exception
    table = at.dataframe(key="runs_table").value
    assert list(table["run_id"]) == [run_in_checkpoints.name, broken.name]
    assert list(table["status"]) == ["completed", runs.UNREADABLE]
    assert "config.json is unreadable ('arch' is ['not', 'a', 'name'], expected text)" in table["note"].iloc[1]
    assert f"runs_cm_{run_in_checkpoints.name}" in chart_keys(at)  # the readable run still compares
    assert broken.exists()  # and the broken folder can be deleted from the page like any other
    at.selectbox(key="runs_delete_select").set_value(broken.name).run()  # a choice reruns the page
    at.checkbox(key="runs_delete_confirm").check()
    at.button(key="runs_delete_button").click().run()
    assert not at.exception, at.exception
    assert not broken.exists(), [m.value for m in [*at.error, *at.warning, *at.success]]


def test_a_run_is_named_tagged_and_noted_and_two_runs_show_what_differs(run_in_checkpoints):
    import shutil
    other = run_in_checkpoints.parent / "20200101-000000-simple_cnn-focal"
    shutil.copytree(run_in_checkpoints, other)
    config = json.loads((other / runs.CONFIG).read_text())
    (other / runs.CONFIG).write_text(json.dumps({**config, "imbalance": "focal", "lr": 0.01}))
    at = open_page(rows=[0, 1])
    assert not at.exception
    differences = next(d.value for d in at.dataframe if "setting" in d.value.columns).set_index("setting")
    assert {"imbalance", "lr"} <= set(differences.index) and "seed" not in differences.index
    assert differences.loc["imbalance", other.name] == "focal"
    run_id = run_in_checkpoints.name
    at.text_input(key=f"runs_notes_name_{run_id}").set_value("first baseline")
    at.text_input(key=f"runs_notes_tags_{run_id}").set_value("baseline, cpu")
    at.text_area(key=f"runs_notes_text_{run_id}").set_value("the one to beat")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception
    table = at.dataframe(key="runs_table").value.set_index("run_id")
    assert table.loc[run_id, "name"] == "first baseline" and table.loc[run_id, "tags"] == "baseline, cpu"
    assert json.loads((run_in_checkpoints / "notes.json").read_text())["notes"] == "the one to beat"


def photo_table(at: AppTest):
    """The table of photo evaluations (a table without selection has no key to find it by)."""
    return next(d.value for d in at.dataframe if "with a face" in d.value.columns)


def saved_photo_evaluation(run_dir, accuracy: float = 0.75) -> dict:
    """A photo evaluation as `evaluate --photos` saves it (4 photos with a face, 1 without)."""
    from fer_core.inference.photo_evaluation import KIND, save_photo_evaluation
    classes = list(runs.load_run(run_dir).config.get("classes") or
                   ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"])
    matrix = [[0] * len(classes) for _ in classes]
    matrix[3][3], matrix[5][5], matrix[5][3], matrix[0][0] = 1, 1, 1, 1
    ev = {"kind": KIND, "photos": "/home/me/holiday photos", "created_at": 1_790_000_000.0,
          "model": {"model": run_dir.name}, "detector": "yunet", "tta": "none", "classes": classes,
          "n_photos": 6, "n_scored": 4, "n_no_face": 1, "n_unreadable": 1, "accuracy": accuracy, "macro_f1": 0.5,
          "per_class": None, "confusion_matrix": matrix, "no_face": ["sad/beach.jpg"],
          "unreadable": [{"photo": "happy/x.jpg", "reason": "not a readable image"}], "predictions": []}
    save_photo_evaluation(run_dir, ev)
    return ev


def test_photo_evaluations_are_listed_with_their_confusion_matrix_and_the_photos_not_scored(run_in_checkpoints):
    saved_photo_evaluation(run_in_checkpoints)
    at = open_page()
    assert not at.exception
    (expander,) = [e for e in at.expander if "Accuracy on real photos" in e.label]
    assert "(1 evaluation)" in expander.label
    table = photo_table(at)
    assert table.loc[0, "photos"] == "/home/me/holiday photos" and table.loc[0, "with a face"] == 4
    assert table.loc[0, "accuracy"] == 75.0 and table.loc[0, "model"] == run_in_checkpoints.name
    assert "runs_photo_cm" in chart_keys(at)
    assert any("no face found: sad/beach.jpg" in c.value and "unreadable: happy/x.jpg" in c.value for c in at.code)


def test_a_damaged_photo_evaluation_is_listed_as_such_and_hides_nothing(run_in_checkpoints):
    saved_photo_evaluation(run_in_checkpoints)
    folder = run_in_checkpoints / "photo_evaluations"
    (folder / "20000101-000000-broken.json").write_text("{not json")
    at = open_page()
    assert not at.exception
    table = photo_table(at)
    assert len(table) == 2 and table["error"].iloc[1].startswith("cannot be read")
    assert "runs_photo_cm" in chart_keys(at)


def test_without_photo_evaluations_the_page_shows_no_such_section(run_in_checkpoints):
    at = open_page()
    assert not at.exception and not [e for e in at.expander if "Accuracy on real photos" in e.label]
def test_accuracy_reads_the_same_in_every_table(run_in_checkpoints):
    """One formatter: the runs table, the strategy table and Train's recent runs give 65.8%-style figures."""
    accuracy = json.loads((run_in_checkpoints / runs.EVALUATION).read_text())["accuracy"]
    at = open_page(rows=[0])
    assert not at.exception
    runs_table = at.dataframe(key="runs_table")
    assert runs_table.value["test_accuracy"].iloc[0] == pytest.approx(100 * accuracy)  # percentage points ...
    assert json.loads(runs_table.proto.columns)["test_accuracy"]["type_config"]["format"] == "%.1f%%"  # ... 1 decimal
    strategy = next(d.value for d in at.dataframe if "val_metric" in d.value.columns)
    assert strategy["test_accuracy"].iloc[0] == f"{accuracy:.1%}" and strategy["val_accuracy"].iloc[0].endswith("%")
    train = at.switch_page("app_pages/train.py").run()
    recent = train.dataframe[0]
    assert recent.value["test accuracy"].iloc[0] == pytest.approx(100 * accuracy)
    assert json.loads(recent.proto.columns)["test accuracy"]["type_config"]["format"] == "%.1f%%"
