"""Dataset-page figures on tiny hand-made datasets (no Streamlit)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from fer_core.data import FaceDataset, mean_faces, quality_report
from fer_core.common.emotions import COLOURS
from fer_core.figures import dataset as figs
from fer_core.data.sharpness import sharpness_of

CLASSES = ("angry", "happy", "sad")


def tiny(counts: dict[str, dict[str, int]], seed: int = 0) -> FaceDataset:
    """Random faces with exactly `counts` = {split: {class: n}}."""
    rng = np.random.default_rng(seed)
    labels, splits = [], []
    for split, per_class in counts.items():
        for cls, n in per_class.items():
            labels += [CLASSES.index(cls)] * n
            splits += [("train", "val", "test").index(split)] * n
    n = len(labels)
    return FaceDataset(images=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), labels=np.array(labels, np.int64),
                       splits=np.array(splits, np.int8), ids=np.array([f"img{i}" for i in range(n)]),
                       classes=CLASSES, source="tiny", kind="folder")


# train has 8/2/0 (an empty class), no val split at all, test has 1/1/1 (one image per class)
COUNTS = {"train": {"angry": 8, "happy": 2, "sad": 0}, "test": {"angry": 1, "happy": 1, "sad": 1}}


@pytest.fixture
def ds() -> FaceDataset:
    return tiny(COUNTS)


def test_class_distribution_has_counts_percentages_and_imbalance(ds):
    fig = figs.class_distribution(ds)
    assert isinstance(fig, go.Figure)
    train, test = fig.data
    assert list(train.y) == [8, 2, 0] and list(test.y) == [1, 1, 1]
    assert train.text[0] == "8<br>80.0%" and train.text[2] == "0<br>0.0%"
    assert test.text[1] == "1<br>33.3%"
    # the empty class does not make the ratio infinite: 8 / 2
    assert "4.0×" in train.name and "1.0×" in test.name
    shares = figs.class_distribution(ds, percent=True)
    assert list(shares.data[0].y) == [80.0, 20.0, 0.0] and [round(y, 1) for y in shares.data[1].y] == [33.3] * 3
    assert shares.data[0].text == train.text and shares.layout.yaxis.title.text == "% of the split's images"
    # hovering a bar says its count in either view, not the bar's height (a share with `percent`)
    assert [list(c) for c in shares.data[0].customdata] == [[8, 80.0], [2, 20.0], [0, 0.0]]
    hover = shares.data[0].hovertemplate
    assert "%{customdata[0]} images" in hover and "%{y} images" not in hover
    assert figs.imbalance_ratios(ds) == {"train": 4.0, "test": 1.0}


def test_sample_mosaic_shape_and_seed_determinism(ds):
    grid, rows = figs.sample_mosaic(ds, per_class=3, seed=5, split="train", scale=2)
    assert rows == ["angry", "happy"]  # sad has no train image: no row
    assert grid.shape == (2 * 96, 3 * 96) and grid.dtype == np.uint8
    again, _ = figs.sample_mosaic(ds, per_class=3, seed=5, split="train", scale=2)
    other, _ = figs.sample_mosaic(ds, per_class=3, seed=6, split="train", scale=2)
    assert np.array_equal(grid, again) and not np.array_equal(grid, other)
    # happy has 2 train faces for 3 slots: the last tile stays white
    assert (grid[96:, 2 * 96:] == 255).all()


def test_mosaic_figure_labels_each_row(ds):
    grid, rows = figs.sample_mosaic(ds, per_class=4, seed=0)
    fig = figs.mosaic_figure(grid, rows)
    assert isinstance(fig.data[0], go.Image) and fig.data[0].source.startswith("data:image/png;base64,")
    assert list(fig.layout.yaxis.ticktext) == ["😠 Angry", "😄 Happy", "😢 Sad"]
    assert list(fig.layout.yaxis.tickvals) == [48.0, 144.0, 240.0]


def test_mean_faces_figure_shows_the_data_layer_means(ds):
    faces = mean_faces(ds, "train")
    fig = figs.mean_faces_figure(faces)
    assert [t.name for t in fig.data] == ["angry", "happy"]
    assert np.allclose(np.array(fig.data[0].z), faces["angry"])
    diff = figs.mean_faces_figure(faces, difference=True)
    overall = (faces["angry"] + faces["happy"]) / 2
    assert np.allclose(np.array(diff.data[1].z), faces["happy"] - overall, atol=1e-4)
    assert len(figs.mean_faces_figure({}).data) == 0  # a split without images: an empty figure, no error


def test_intensity_histograms_sum_to_image_counts_and_pixel_shares(ds):
    by_class = figs.intensity_histogram(ds, by="class", measure="image_mean", split="train", bins=16)
    assert [t.name for t in by_class.data] == ["Angry", "Happy"]
    assert [int(sum(t.y)) for t in by_class.data] == [8, 2]
    assert by_class.data[0].line.color == COLOURS["angry"]
    by_split = figs.intensity_histogram(ds, by="split", measure="image_mean")
    assert {t.name: int(sum(t.y)) for t in by_split.data} == {"train": 10, "test": 3}
    pixels = figs.intensity_histogram(ds, by="split", measure="pixels", bins=7)  # 256 levels do not split evenly
    for trace in pixels.data:
        assert len(trace.y) == 7 and sum(trace.y) == pytest.approx(100.0)


def test_pixel_histogram_counts_the_right_levels():
    ds = tiny({"train": {"angry": 2}})
    ds.images[0] = 10
    ds.images[1] = 250
    fig = figs.intensity_histogram(ds, by="class", measure="pixels", bins=2)
    assert list(fig.data[0].y) == pytest.approx([50.0, 50.0])


def test_histogram_rejects_bad_options(ds):
    with pytest.raises(ValueError, match="valid: class, split"):
        figs.intensity_histogram(ds, by="label")
    with pytest.raises(ValueError, match="valid: pixels, image_mean"):
        figs.intensity_histogram(ds, measure="std")
    with pytest.raises(ValueError, match="bins"):
        figs.intensity_histogram(ds, bins=1)


def test_sharpness_histogram_counts_every_image_per_split(ds):
    fig = figs.sharpness_histogram(ds, sharpness_of(ds.images), percentiles=(0, 100))
    assert {t.name: int(sum(t.y)) for t in fig.data} == {"train": 10, "test": 3}
    assert fig.layout.xaxis.type == "log" and fig.layout.title.text == "every image is drawn"


def test_sharpness_histogram_leaves_out_the_extremes_and_says_how_many(ds):
    sharp = np.linspace(100, 200, len(ds))
    sharp[0], sharp[-1] = 1e-3, 1e6  # a blank image and a noise image would stretch the axis 9 decades
    fig = figs.sharpness_histogram(ds, sharp, percentiles=(5, 95))
    drawn = sum(int(sum(t.y)) for t in fig.data)
    assert drawn == len(ds) - 2 and fig.layout.title.text == f"2 of {len(ds)} images lie outside the 5th to 95th percentile and are not drawn"
    assert max(max(t.x) for t in fig.data) < 1e4 and min(min(t.x) for t in fig.data) > 0.5  # not 1e-3 to 1e6
    with pytest.raises(ValueError, match="13 images"):
        figs.sharpness_histogram(ds, np.ones(3))


def test_embedding_scatter_colours_classes_and_carries_indices(ds):
    indices = np.array([0, 1, 9, 12])  # angry, angry, happy (train), sad (test)
    coords = np.arange(8, dtype=float).reshape(4, 2)
    fig = figs.embedding_scatter(coords, ds, indices)
    assert [t.name for t in fig.data] == ["😠 Angry", "😄 Happy", "😢 Sad"]
    assert [t.marker.color for t in fig.data] == [COLOURS["angry"], COLOURS["happy"], COLOURS["sad"]]
    assert list(fig.data[0].customdata) == [0, 1]
    assert fig.to_plotly_json()["data"][0]["customdata"] == [0, 1]  # plain numbers, not a binary array
    assert fig.data[2].text[0] == "😢 Sad · test · img12"
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        figs.embedding_scatter(coords[:3], ds, indices)


def test_duplicate_examples_and_face_tiles():
    ds = tiny({"train": {"angry": 3, "happy": 1}, "test": {"angry": 1}})
    ds.images[1] = ds.images[0]  # duplicate within train, same label
    ds.images[4] = ds.images[3]  # happy in train == angry in test: leakage with conflicting labels
    report = quality_report(ds)
    cross = figs.duplicate_examples(report, "cross_split")
    assert [g.members for g in cross] == [[3, 4]]
    assert [g.members for g in figs.duplicate_examples(report, "conflicting")] == [[3, 4]]
    assert [g.members for g in figs.duplicate_examples(report, "all")] == [[3, 4], [0, 1]]
    assert figs.duplicate_examples(report, "all", limit=1)[0].members == [3, 4]
    with pytest.raises(ValueError, match="valid: cross_split, conflicting, all"):
        figs.duplicate_examples(report, "near")
    tiles, captions = figs.face_tiles(ds, cross[0].members, scale=2)
    assert [t.shape for t in tiles] == [(96, 96), (96, 96)]
    assert captions == ["train · Happy · img3", "test · Angry · img4"]
    with pytest.raises(ValueError, match="out of range"):
        figs.face_tiles(ds, [5])
    assert figs.where_copies_are(cross[0]) == "2 identical images: 1 in train, 1 in test"


def test_near_blank_duplicate_groups_are_kept_apart_from_copied_faces():
    ds = tiny({"train": {"angry": 3, "happy": 2}, "test": {"angry": 2}})
    ds.images[0] = ds.images[1] = ds.images[5] = 0  # three black images, two splits: a "leak" of nothing
    ds.images[6] = ds.images[2]  # a real face copied from train into test
    report = quality_report(ds)
    assert [g.members for g in figs.duplicate_examples(report, "cross_split")] == [[2, 6]]
    blank = figs.duplicate_examples(report, "cross_split", near_blank=True)
    assert [g.members for g in blank] == [[0, 1, 5]]
    assert figs.where_copies_are(blank[0]) == "3 identical images: 2 in train, 1 in test"


@pytest.mark.parametrize("low, high, expected", [
    (500, 2500, [500, 1000, 2000]),  # Plotly's own labels here read "5 6 7 8 9 1000 2"
    (3, 40, [5, 10, 20]),
    (0.05, 3e6, [0.1, 1, 10, 100, 1000, 10000, 100000, 1000000]),  # many decades: powers of ten only
])
def test_log_axis_ticks_are_whole_readable_numbers(low, high, expected):
    assert figs.log_ticks(low, high) == pytest.approx(expected)


def test_the_sharpness_axis_labels_its_ticks_in_full(ds):
    fig = figs.sharpness_histogram(ds, np.linspace(500, 2500, len(ds)), percentiles=(0, 100))
    assert list(fig.layout.xaxis.ticktext) == ["500", "1,000", "2,000"]
