"""The dataset's own labels against the FER+ majority: agreement matrix, per class, annotator agreement."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.data import load_dataset
from fer_core.data.agreement import label_agreement, votes_text
from tests.conftest import synthetic_votes


@pytest.fixture(scope="module")
def agreement_and_data(tmp_path_factory):
    votes = synthetic_votes(tmp_path_factory.mktemp("votes") / "votes.csv", 500, skip=20)
    ds = load_dataset(None, synthetic_size=500, votes=votes)
    return label_agreement(ds), ds


def test_the_matrix_counts_every_face_with_a_majority_once(agreement_and_data):
    agreement, ds = agreement_and_data
    assert agreement.n_with_votes == 480 and agreement.n_without_votes == 20
    # of each 10 faces (conftest.vote_row): 6 agree, 1 flips to another class, 1 goes to contempt, 2 have none
    assert len(agreement.compared) == 384 and agreement.matrix.sum() == 384
    assert agreement.agreement == pytest.approx(0.75)
    assert agreement.majority_classes[-1] == "contempt" and agreement.source_classes == ds.classes
    diagonal = sum(agreement.matrix[i, agreement.majority_classes.index(c)] for i, c in enumerate(ds.classes))
    assert diagonal == agreement.agrees.sum() == 288
    # face 6 of each ten was voted into the next class, face 9 into contempt (conftest.vote_row)
    from fer_core.data.votes import VOTE_CLASSES
    flipped, contempt = agreement.disagreements()[:2]
    assert (flipped, contempt) == (6, 9)
    own = VOTE_CLASSES.index(ds.classes[ds.labels[6]])
    assert agreement.majority_label[agreement.compared == 6][0] == VOTE_CLASSES[(own + 1) % 7]
    assert agreement.majority_label[agreement.compared == 9][0] == "contempt"


def test_per_class_and_the_json_report(agreement_and_data):
    agreement, _ = agreement_and_data
    per_class = agreement.per_class()
    assert set(per_class) <= set(agreement.source_classes) and all(0 <= v <= 1 for v in per_class.values())
    report = agreement.to_dict()
    assert report["n_compared"] == 384 and report["matrix"]["columns"][-1] == "contempt"
    assert sum(report["annotator_agreement"]["histogram"]["counts"]) == 480
    assert report["annotator_agreement"]["median"] == pytest.approx(0.8)


def test_only_source_labels_with_votes_can_be_compared(tmp_path):
    with pytest.raises(ValueError, match="has no votes"):
        label_agreement(load_dataset(None, synthetic_size=200))
    votes = synthetic_votes(tmp_path / "v.csv", 200)
    with pytest.raises(ValueError, match="load it with label mode fer2013"):
        label_agreement(load_dataset(None, synthetic_size=200, votes=votes, label_mode="majority"))


def test_votes_in_words():
    assert votes_text(np.array([3, 0, 0, 6, 0, 0, 1, 0, 0, 0])) == "sadness 6, neutral 3, fear 1"
