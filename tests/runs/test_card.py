"""The one model card (fer_core.runs.card): deep and classical alike, and the shapes older versions wrote."""
from __future__ import annotations

import pytest

from fer_core.runs.card import ModelCard
from fer_core.transforms.config import augment_config

CLASSES = ["angry", "happy"]


def test_a_deep_card_round_trips_and_gives_its_preprocessing():
    card = ModelCard("fast_cnn", CLASSES, augment_config("light", input_size=32).to_dict(), extra={"recipe": "r"})
    again = ModelCard.from_dict(card.to_dict())
    assert again == card and again.kind == "deep" and again.is_deep and again.num_classes == 2
    assert again.augment_config.input_size == 32


def test_a_card_written_before_cards_had_a_kind_is_a_deep_one():
    old = ModelCard("fast_cnn", CLASSES, augment_config("light").to_dict()).to_dict()
    del old["kind"]
    assert ModelCard.from_dict(old).kind == "deep"


def test_the_old_classical_card_reads_as_a_classical_model_card():
    old = {"format": 1, "kind": "classical", "arch": "hog_svm", "classes": CLASSES, "data": "faces.zip",
           "features": {"kind": "hog"}, "n_fit": 10}
    card = ModelCard.from_dict(old)
    assert (card.kind, card.arch, card.class_names, card.trained_on) == ("classical", "hog_svm", CLASSES, "faces.zip")
    assert card.extra == {"features": {"kind": "hog"}, "n_fit": 10} and not card.is_deep
    with pytest.raises(ValueError, match="classical baseline"):
        card.augment_config  # noqa: B018


@pytest.mark.parametrize("bad, message", [
    ({"arch": "x", "class_names": CLASSES, "kind": "quantum"}, "unknown model kind"),
    ({"arch": "x"}, "incomplete"),
    (["not", "a", "dict"], "not a JSON object"),
])
def test_what_is_not_a_card_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        ModelCard.from_dict(bad)
