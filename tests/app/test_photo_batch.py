"""Many photos: faces, photos without a face and failures counted apart."""
from __future__ import annotations

from fer_core.app.photo_batch import summarise


def face_row(image: str, face: int = 1, no_face: bool = False, label: str = "happy") -> dict:
    return {"image": image, "face": face, "label": label, "no_face": no_face, "error": None}


def error_row(image: str, error: str) -> dict:
    return {"image": image, "face": None, "label": None, "no_face": None, "error": error}


def test_faces_photos_without_a_face_and_failures_are_counted_apart():
    rows = [face_row("party.zip:a.jpg", 1), face_row("party.zip:a.jpg", 2), face_row("party.zip:b.jpg"),
            face_row("party.zip:cat.jpg", no_face=True, label="angry"),
            error_row("party.zip:broken.jpg", "not a readable image")]
    batch = summarise(rows, "party.zip")
    assert batch.zip_error is None and batch.n_photos == 3
    assert list(batch.faces["label"]) == ["happy", "happy", "happy"]  # the cat's guess is not an emotion count
    assert batch.no_face == ["party.zip:cat.jpg"]
    assert batch.failed.to_dict("records") == [{"image": "party.zip:broken.jpg", "error": "not a readable image"}]
    assert batch.headline() == ("3 photos read: 3 faces found; no face found in 1 photo; "
                                "1 file could not be read.")


def test_a_whole_zip_failure_is_said_as_such_not_counted_as_a_photo():
    batch = summarise([error_row("empty.zip", "the zip holds no image files (.jpg, .png)")], "empty.zip")
    assert batch.zip_error == "the zip holds no image files (.jpg, .png)"
    assert batch.n_photos == 0 and len(batch.failed) == 0


def test_one_photo_one_face_is_said_in_the_singular():
    assert summarise([face_row("x.zip:a.png")], "x.zip").headline() == "1 photo read: 1 face found."
