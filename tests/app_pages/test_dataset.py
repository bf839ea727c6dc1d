"""The Dataset page through the app (streamlit.testing.v1.AppTest)."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages.app import gallery_tiles, gallery_tooltips, open_app
from tests.conftest import synthetic_votes

from fer_core.app.dataset_choice import DatasetChoice

TABS = ["Balance", "Samples", "Mean faces", "Intensities", "Quality", "Embedding", "Label noise"]


def dataset_page(choice: DatasetChoice | None = None, tab: str | None = None) -> AppTest:
    at = open_app()
    if choice is not None:
        at.session_state["active_dataset"] = choice
    if tab is not None:
        at.session_state["dataset_tab"] = tab
    return at.switch_page("app_pages/dataset.py").run()


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["dataset_tab"] = tab
    return at.run()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_every_tab_renders_on_the_synthetic_default():
    at = dataset_page()
    assert not at.exception and not at.error
    assert any("SYNTHETIC" in s.value for s in at.subheader)
    assert [m.label for m in at.metric] == ["images", "train: imbalance (max/min)", "val: imbalance (max/min)",
                                           "test: imbalance (max/min)"]
    assert [t["type"] for t in charts(at)[0]["data"]] == ["bar"] * 3
    expected = {"Samples": ["image"], "Mean faces": ["heatmap"] * 7, "Intensities": ["scatter"] * 7,
                "Quality": ["scatter"] * 3, "Embedding": ["scatter"] * 7}
    for tab, traces in expected.items():
        open_tab(at, tab)
        assert not at.exception and not at.error, tab
        (chart,) = charts(at)  # lazy tabs: only the open tab's chart is built
        assert [t["type"] for t in chart["data"]] == traces, tab
    assert "duplicate groups" in [m.label for m in open_tab(at, "Quality").metric]


def test_reroll_changes_the_sample():
    at = dataset_page(tab="Samples")
    before = charts(at)[0]["data"][0]["source"]
    at.button(key="dataset_samples_reroll").click().run()
    assert not at.exception
    assert at.number_input(key="dataset_samples_seed").value == 1
    assert charts(at)[0]["data"][0]["source"] != before
    at.selectbox(key="dataset_samples_split").set_value("test").run()
    assert not at.exception and "from test (seed 1)" in at.caption[-1].value


def test_embedding_of_a_runs_features(run_in_checkpoints):
    at = dataset_page(tab="Embedding")
    source = at.selectbox(key="dataset_embed_source")
    assert source.options[1].startswith(f"run {run_in_checkpoints.name} (simple_cnn")
    source.set_value(run_in_checkpoints.name)
    at.slider(key="dataset_embed_n").set_value(300).run()
    assert not at.exception and not at.error
    (chart,) = charts(at)
    assert f"run {run_in_checkpoints.name}" in chart["layout"]["title"]["text"]
    # one trace per class; x/y travel as binary arrays, the hover texts as plain lists
    assert sum(len(t["text"]) for t in chart["data"]) == 300 and len(chart["data"]) == 7


def test_a_bad_active_dataset_gives_a_message_not_a_traceback():
    at = dataset_page(DatasetChoice("/nonexistent.zip"))
    assert not at.exception
    assert "no such file or folder" in at.error[0].value and "Home" in at.error[0].value
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("fixture", ["kaggle_zip", "colour_folder"])
def test_every_tab_works_on_tiny_datasets(fixture, request):
    path = request.getfixturevalue(fixture)
    at = dataset_page(DatasetChoice(str(path)))
    assert any(str(path) in s.value for s in at.subheader)
    for tab in TABS:
        open_tab(at, tab)
        assert not at.exception and not at.error, tab
        assert len(at.get("plotly_chart")) == (0 if tab == "Label noise" else 1), tab  # no votes: a hint


def test_the_bundled_model_is_an_embedding_source_named_with_its_data(bundled_model):
    at = dataset_page(tab="Embedding")
    source = at.selectbox(key="dataset_embed_source")
    # the one headline figure, TTA said (as Demo and README quote it)
    assert source.options[1] == ("the built-in model (fast_cnn, trained on fer2013.zip, test accuracy "
                                 "64.9% one pass per face, 65.8% with flip TTA)")
    source.set_value("builtin")
    at.slider(key="dataset_embed_n").set_value(300).run()
    assert not at.exception and not at.error
    (chart,) = charts(at)
    assert "the built-in model" in chart["layout"]["title"]["text"]


def test_the_leakage_gallery_says_each_copys_split_and_keeps_blank_images_apart(tmp_path):
    """A face copied from train into test, and black images in both: the copies say where they are; the
    black ones are a group apart, not the first 'leak'."""
    import cv2
    import numpy as np

    from tests.conftest import kaggle_files
    root = tmp_path / "leaky"
    files = kaggle_files()
    names = sorted(files)
    train = [n for n in names if n.startswith("train/")]
    test = [n for n in names if n.startswith("test/")]
    files[test[0]] = files[train[5]]  # a copied face
    for name in (train[0], train[1], test[1]):
        files[name] = np.zeros((48, 48), np.uint8)
    for rel, img in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), img)
    at = open_tab(dataset_page(DatasetChoice(str(root))), "Quality")
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert "2 identical images: 1 in train, 1 in test" in captions
    assert at.expander[0].label.startswith("Groups of near-blank images (1 shown)")
    assert "3 identical images: 2 in train, 1 in test" in [c.value for c in at.expander[0].caption]
    from tests.app_pages.app import gallery_tiles
    assert sorted(c.split(" · ")[0] for c in gallery_tiles(at)[0]) == ["test", "train"]  # each copy's split


def test_label_noise_shows_the_agreement_matrix_disagreements_and_annotator_agreement(tmp_path):
    at = dataset_page(tab="Label noise")
    assert not at.exception and "Give a FER+ votes file on Home" in at.info[0].value
    votes = str(synthetic_votes(tmp_path / "votes.csv", 4000))
    at = dataset_page(DatasetChoice("synthetic", votes=votes, label_mode="majority"), tab="Label noise")
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    # the synthetic votes: 8 in 10 faces have a majority; of those, the 'flip' and 'contempt' faces differ
    assert metrics["faces with votes"] == "4,000" and metrics["with a FER+ majority"] == "3,200"
    assert metrics["labels agree"] == "75.0%" and metrics["labels differ"] == "800"
    matrix, per_class, histogram = charts(at)
    assert matrix["data"][0]["type"] == "heatmap" and matrix["data"][0]["x"][-1] == "😒 Contempt"
    assert len(matrix["data"][0]["y"]) == 7 and per_class["data"][0]["type"] == "bar"
    assert histogram["data"][0]["x"] == [0.4, 0.6, 0.7, 0.8]  # the synthetic votes' top shares
    (tiles,) = gallery_tiles(at)
    assert len(tiles) == 40 and all(" → " in t for t in tiles)
    assert all("votes: " in t for t in gallery_tooltips(at)[0])
    at.selectbox(key="dataset_noise_class").set_value("happy").run()
    assert not at.exception and all(t.startswith("😄 Happy → ") for t in gallery_tiles(at)[0])
