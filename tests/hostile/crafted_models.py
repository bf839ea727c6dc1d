"""Crafted classical models (generated here, nothing hostile is committed): a real hog_rf run folder whose
model.skops is then altered the way an attacker would, and a probe that loads and uses each one.

`python -m tests.hostile.crafted_models FOLDER` builds every case under FOLDER, then, case by case, loads
the model and scores faces with it (what Demo, evaluate and predict do), printing one JSON line each:
{"name", "outcome": "ok" | "refused", "message"}. A model that crashes the process (a segfault in
scikit-learn's compiled tree code) ends the probe early: the test sees the exit code and the case it was on.
"""
from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

NUM_CLASSES = 3


def _fitted_pipeline(arch: str = "hog_rf"):
    from fer_core.models.classical import CLASSICAL
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (30, 48, 48), dtype=np.uint8)
    labels = np.arange(30) % NUM_CLASSES
    pipeline = CLASSICAL.get(arch).build({"n_estimators": 3, "svm_components": 10}, n_jobs=1)
    pipeline.fit(faces, labels)
    pipeline.fer_classes_ = ("angry", "happy", "sad")
    return pipeline


def _edit_tree(pipeline, **nodes) -> None:
    """Set fields of every tree's node array ({field: function(array) -> new array}) through its state."""
    for estimator in pipeline.steps[-1][1].estimators_:
        state = estimator.tree_.__getstate__()
        state["nodes"] = state["nodes"].copy()
        for field, change in nodes.items():
            state["nodes"][field] = change(state["nodes"][field])
        estimator.tree_.__setstate__(state)


def _first_inner(left: np.ndarray) -> int:
    return int(np.flatnonzero(left != -1)[0])


def _with(array: np.ndarray, at: int, value) -> np.ndarray:
    out = array.copy()
    out[at] = value
    return out


# name -> change made to a fitted hog_rf pipeline (None: the change is made in the file, see _FILE_EDITS)
TREE_EDITS = {
    "child-index-far-past-the-end": lambda p: _edit_tree(p, left_child=lambda a: _with(a, 0, 10**7)),
    "child-index-negative": lambda p: _edit_tree(p, right_child=lambda a: _with(a, 0, -5)),
    "child-pointing-back-to-the-root": lambda p: _edit_tree(p, left_child=lambda a: _with(a, _first_inner(a) + 1, 0)
                                                            if (a[_first_inner(a) + 1:] != -1).any() else _with(a, 0, 0)),
    "feature-index-past-the-features": lambda p: _edit_tree(p, feature=lambda a: _with(a, 0, 10**6)),
    "feature-index-negative": lambda p: _edit_tree(p, feature=lambda a: _with(a, 0, -3)),
    "threshold-nan": lambda p: _edit_tree(p, threshold=lambda a: _with(a, 0, np.nan)),
    "forest-claims-more-classes": lambda p: setattr(p.steps[-1][1], "n_classes_", 10**6),
    "classes-outside-the-card": lambda p: setattr(p.steps[-1][1], "classes_", np.array([0, 1, 99])),
    "forest-attribute-missing": lambda p: delattr(p.steps[-1][1], "n_outputs_"),
    "hog-bins-as-text": lambda p: setattr(p.steps[0][1], "bins", "9"),
    "tree-swapped-for-another-estimator": lambda p: p.steps[-1][1].estimators_.__setitem__(
        0, __import__("sklearn.linear_model", fromlist=["x"]).LogisticRegression()),
    "node-count-beyond-the-stored-nodes": None,
    "untouched": lambda p: None,
}
# hog_svm cases: a forest (with trees nobody checked) hidden where a calibrated LinearSVC belongs
SVM_EDITS = {
    "svm-fold-holding-a-forest": lambda p: setattr(p.steps[-1][1].calibrated_classifiers_[0], "estimator",
                                                   _fitted_pipeline().steps[-1][1]),
    "svm-untouched": lambda p: None,
}


def _raise_node_counts(data: bytes) -> bytes:
    """The skops file with each tree's node_count set far above the nodes it stores."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        schema = json.loads(zf.read("schema.json"))
        members = {name: zf.read(name) for name in zf.namelist() if name != "schema.json"}

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == "Tree":
                count = node["content"]["content"]["node_count"]
                count["content"], count["__id__"] = str(10**6), 10**15 + id(count)  # its own memo id
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
        for name, body in members.items():
            zf.writestr(name, body)
    return out.getvalue()


def build(folder: Path) -> dict[str, Path]:
    """One hog_rf run folder per case under `folder`."""
    import skops.io

    from fer_core.runs import checkpoint
    from fer_core.runs.card import ModelCard
    made = {}
    for name, edit in [*TREE_EDITS.items(), *SVM_EDITS.items()]:
        arch = "hog_svm" if name in SVM_EDITS else "hog_rf"
        pipeline = _fitted_pipeline(arch)
        if edit is not None:
            edit(pipeline)
        run_dir = folder / name
        run_dir.mkdir(parents=True)
        card = ModelCard(kind="classical", arch=arch, class_names=list(pipeline.fer_classes_))
        checkpoint.save_classical(run_dir, pipeline, card)
        if edit is None:
            path = run_dir / checkpoint.CLASSICAL_MODEL
            path.write_bytes(_raise_node_counts(skops.io.dumps(pipeline)))
        made[name] = run_dir
    return made


def main(folder: str) -> None:
    from fer_core.runs.checkpoint import load_model
    from fer_core.runs.store import RunError
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    for name, run_dir in build(Path(folder)).items():
        print(json.dumps({"name": name, "outcome": "started"}), flush=True)
        try:
            probs = load_model(run_dir).probabilities(faces)
            outcome, message = ("ok", "") if np.isfinite(probs).all() else ("wrong", "non-finite probabilities")
        except RunError as exc:
            outcome, message = "refused", str(exc)
        except Exception as exc:  # reported, not raised: the test says which case and how
            outcome, message = "raised", f"{type(exc).__name__}: {exc}"
        print(json.dumps({"name": name, "outcome": outcome, "message": message}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
