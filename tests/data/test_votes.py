"""FER+ votes beside the images: reading and checking a votes file, the majority rule, the label modes."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.data import DataError, load_dataset
from fer_core.data.votes import (VOTE_COLUMNS, align_votes, majority_vote, read_votes, top_share,
                                 vote_distribution)
from tests.conftest import SHARED_ZIP, VOTE_HEADER, synthetic_votes

SHARED_VOTES = SHARED_ZIP.parent / "ferplus.csv"


def _votes(tmp_path, *rows: str, header: str = VOTE_HEADER):
    path = tmp_path / "votes.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_votes_file_is_read_in_column_order(tmp_path):
    votes = read_votes(_votes(tmp_path, "train/happy/a.png,0,9,0,0,0,0,0,0,1,0", "test/sad/b.png,1,0,0,8,0,0,0,1,0,0"))
    assert votes.images.tolist() == ["train/happy/a.png", "test/sad/b.png"]
    assert votes.counts.tolist() == [[0, 9, 0, 0, 0, 0, 0, 0, 1, 0], [1, 0, 0, 8, 0, 0, 0, 1, 0, 0]]


@pytest.mark.parametrize("rows, header, message", [
    ((), "image,neutral,happy", "line 1: the columns are image,neutral,happy"),
    (("a.png,1,2,3",), VOTE_HEADER, "line 2: 4 cells, expected 11"),
    (("a.png,-1,0,0,0,0,0,0,0,0,0",), VOTE_HEADER, "line 2: neutral is '-1', expected a whole number"),
    (("a.png,0,2.5,0,0,0,0,0,0,0,0",), VOTE_HEADER, "line 2: happiness is '2.5'"),
    (("a.png,0,x,0,0,0,0,0,0,0,0",), VOTE_HEADER, "happiness is 'x'"),
    (("a.png,0,1,0,0,0,0,0,0,0,0", "b.png,0,1,0,0,0,0,0,0,0,0", "a.png,0,1,0,0,0,0,0,0,0,0"), VOTE_HEADER,
     "line 4: a.png is listed again (first on line 2)"),
    ((",0,1,0,0,0,0,0,0,0,0",), VOTE_HEADER, "line 2: the image name is empty"),
    (("a\x00b.png,0,1,0,0,0,0,0,0,0,0",), VOTE_HEADER, "line 2: the image name 'a\\x00b.png' holds control"),
    (('"' + "x" * 200_000 + '",0,1,0,0,0,0,0,0,0,0',), VOTE_HEADER, "line 2: not a readable CSV (field larger"),
    ((), VOTE_HEADER, "header but no rows"),
])
def test_bad_votes_files_get_one_message_naming_the_row(tmp_path, rows, header, message):
    with pytest.raises(DataError) as caught:
        read_votes(_votes(tmp_path, *rows, header=header))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_votes_files_that_are_not_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="no such votes file"):
        read_votes(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_votes(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        read_votes(tmp_path / "empty.csv")


def test_the_majority_rule_is_fer_plus_own():
    rows = np.array([
        [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],  # neutral 6 of 10
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # a tie at half: no majority
        [4, 1, 1, 1, 1, 1, 1, 0, 0, 0],  # single votes dropped: 4 of 4 remaining wins
        [3, 3, 0, 0, 0, 0, 0, 0, 4, 0],  # unknown tops but holds 4 of 10: no majority
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],  # not a face
        [0, 0, 0, 0, 0, 0, 0, 6, 4, 0],  # contempt
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # nothing left after single votes go
    ])
    assert majority_vote(rows).tolist() == [0, -1, 0, -1, 9, 7, -1]
    assert top_share(rows).round(2).tolist() == [0.6, 0.5, 0.4, 0.4, 0.8, 0.6, 0.1]


def test_vote_distribution_drops_single_votes_and_absent_classes():
    counts = np.array([[6, 1, 0, 0, 0, 0, 0, 3, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 5, 5]])
    soft = vote_distribution(counts, ("happy", "neutral", "contempt"), labels=np.array([0, 2]))
    assert np.allclose(soft, [[0.0, 2 / 3, 1 / 3], [0.0, 0.0, 1.0]])  # no emotion votes left: its label


def test_label_modes_on_synthetic_faces(tmp_path):
    votes = synthetic_votes(tmp_path / "votes.csv", 300, skip=10)
    plain = load_dataset(None, synthetic_size=300)
    same = load_dataset(None, synthetic_size=300, votes=votes, label_mode="fer2013")
    assert len(same) == 300 and same.classes == plain.classes and (same.labels == plain.labels).all()
    assert (same.votes[-10:] == -1).all() and (same.votes[:-10] >= 0).all()
    assert same.vote_report.summary() == "source labels (FER+ votes beside 290 of its 300 faces)"
    major = load_dataset(None, synthetic_size=300, votes=votes, label_mode="majority")
    report = major.vote_report
    assert major.classes[-1] == "contempt" and len(major.classes) == 8
    assert report.dropped == {"no_votes": 10, "no_majority": 29, "unknown": 29, "not_a_face": 0}
    assert report.n_kept == len(major) == 300 - 68
    assert "232 of 300 faces kept" in report.summary() and "10 no row in the votes file" in report.summary()
    # each kept face's label is its votes' majority: a face relabelled by its votes gets the new label
    winners = majority_vote(major.votes)
    from fer_core.data.votes import VOTE_CLASSES
    assert [VOTE_CLASSES[w] for w in winners] == [major.classes[k] for k in major.labels]
    seven = load_dataset(None, synthetic_size=300, votes=votes, label_mode="majority", class_set="no_contempt")
    assert "contempt" not in seven.classes and len(seven) == len(major) - (major.labels == 7).sum()


def test_majority_needs_votes_and_unknown_images_are_named(tmp_path):
    with pytest.raises(DataError, match="needs a FER\\+ votes file"):
        load_dataset(None, synthetic_size=100, label_mode="majority")
    votes = _votes(tmp_path, "synthetic_000001,0,9,0,0,0,0,0,0,1,0", "train/happy/nowhere.png,0,9,0,0,0,0,0,0,1,0")
    with pytest.raises(DataError, match="line 3: train/happy/nowhere.png is not an image of synthetic"):
        load_dataset(None, synthetic_size=100, votes=votes)


def test_rows_match_images_inside_a_wrapping_folder(tmp_path):
    from fer_core.data.dataset import FaceDataset
    ds = FaceDataset(images=np.zeros((2, 48, 48), np.uint8), labels=np.array([0, 1]), splits=np.zeros(2, np.int8),
                     ids=np.array(["fer2013/train/happy/a.png", "fer2013/train/sad/b.png"]),
                     classes=("happy", "sad"), source="x.zip", kind="kaggle")
    votes = read_votes(_votes(tmp_path, "train/sad/b.png,0,0,0,9,0,0,0,0,1,0"))
    assert align_votes(ds, votes)[:, 3].tolist() == [-1, 9]


@pytest.mark.real_data
def test_the_shared_votes_keep_fer_plus_published_counts():
    if not (SHARED_VOTES.exists() and SHARED_ZIP.exists()):
        pytest.skip(f"{SHARED_VOTES} or {SHARED_ZIP} not present")
    votes = read_votes(SHARED_VOTES)
    assert len(votes.images) == 32280 and votes.counts.shape == (32280, len(VOTE_COLUMNS))
    ds = load_dataset(SHARED_ZIP, votes=SHARED_VOTES, label_mode="majority")
    test = ds.split("test")
    assert len(ds) == 25059 + 3199 and len(test) == 3199
    # shared/data/README.md's table, test row
    expected = {"neutral": 1182, "happy": 865, "surprise": 415, "sad": 351, "angry": 287, "disgust": 24, "fear": 62,
                "contempt": 13}
    assert ds.counts()["test"] == {c: expected[c] for c in ds.classes}
    assert ds.vote_report.dropped["no_votes"] == 18


def test_fer_plus_own_file_names_the_rows_of_fer2013_csv(tmp_path, fer_csv):
    """fer2013new.csv (FER+'s repository): Usage, Image name, the ten counts; row N is fer2013.csv's row N."""
    ds = load_dataset(fer_csv)
    n = len(ds)
    rows = [f"Training,fer{i:07d}.png,0,0,0,0,0,0,0,0,0,0" for i in range(n)]
    rows[3] = "Training,fer0000003.png,0,0,0,0,0,0,0,7,3,0"  # row 3: contempt
    rows[5] = "PublicTest,,0,0,0,0,0,0,0,0,0,10"  # FER+ left row 5 unnamed: not a face
    path = _votes(tmp_path, *rows, header="Usage,Image name," + ",".join(VOTE_COLUMNS))
    votes = read_votes(path)
    assert votes.images[:2].tolist() == ["row_0", "row_1"] and votes.counts[3, 7] == 7
    major = load_dataset(fer_csv, votes=path, label_mode="majority")
    assert major.vote_report.dropped == {"no_votes": 0, "no_majority": n - 2, "unknown": 0, "not_a_face": 1}
    assert major.ids.tolist() == ["row_3"] and major.classes == ("contempt",)
