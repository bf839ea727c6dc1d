"""The one check of a classical pipeline loaded from a file, before it sees a face.

skops rebuilds only the types we allow, but not the values inside them: a crafted `model.skops` can
hold a decision tree whose child or feature indices point outside its arrays, and scikit-learn's
compiled tree code follows them without bounds checks (the process segfaults), or a node count
larger than the nodes stored (reads of memory that is not the tree's). So a loaded pipeline must
be exactly one of our baselines' shapes, step by step, and every tree array is checked against the
pipeline's own sizes. The other steps are numpy code, which raises on a wrong shape instead of
crashing; a first prediction on blank faces (an ordinary exception if anything is off) checks them.
"""
from __future__ import annotations

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from fer_core.common.faces_array import IMAGE_SIZE
from fer_core.models.classical import CLASSICAL, class_probabilities, resolve_options

MAX_TREES = 5_000
MAX_HOG_BINS = 360  # far above any useful HOG; a huge bin count would make each descriptor gigabytes
MAX_JOBS = 256
TREE_LEAF = -1  # scikit-learn's child index for "no child"


class UnsafeModelError(ValueError):
    """The loaded pipeline is not one our baselines can be: the message says what is wrong."""


def check_pipeline(pipeline, arch: str, num_classes: int) -> None:
    """Refuse (UnsafeModelError) a pipeline that is not exactly `arch`'s, or whose arrays do not fit.

    Run before any prediction: the tree checks must come before the compiled code reads a tree."""
    try:
        _check_pipeline(pipeline, arch, num_classes)
    except UnsafeModelError:
        raise
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        # an attribute missing or of the wrong kind: found by our checks, before any compiled code used it
        raise UnsafeModelError(f"its attributes are not those of a fitted {arch} ({type(exc).__name__})") from None


def _check_pipeline(pipeline, arch: str, num_classes: int) -> None:
    if arch not in CLASSICAL:
        raise UnsafeModelError(f"its card names {arch!r}, which is not a classical baseline")
    expected = CLASSICAL.get(arch).build()
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, list) or [(n, type(s)) for n, s in steps] != [(n, type(s)) for n, s in expected.steps]:
        raise UnsafeModelError(f"its steps are not those of a {arch} pipeline")
    if pipeline.steps[0][0] == "hog":
        hog = pipeline.steps[0][1]
        try:
            resolve_options({"hog_cell": hog.cell_size, "hog_block": hog.block_cells, "hog_bins": hog.bins})
        except ValueError as exc:
            raise UnsafeModelError(f"its HOG settings are invalid ({exc})") from None
        if hog.bins > MAX_HOG_BINS:
            raise UnsafeModelError(f"its HOG has {hog.bins} bins; at most {MAX_HOG_BINS} are allowed")
    blank = np.zeros((2, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    blank[1] = 128
    try:
        n_features = int(pipeline[:-1].transform(blank).shape[1])
    except Exception as exc:  # numpy and OpenCV raise many types for arrays of the wrong shape
        raise UnsafeModelError(f"its feature steps do not work ({type(exc).__name__})") from None
    classifier = pipeline.steps[-1][1]
    _check_classes(classifier, num_classes)
    if steps[-1][0] == "rf":
        _check_forest(classifier, n_features)
    elif steps[-1][0] == "svm":
        _check_calibrated_svm(classifier)
    try:
        probs = class_probabilities(pipeline, blank, num_classes)
    except Exception as exc:  # a weight matrix of the wrong shape: numpy's ValueError, never a crash
        raise UnsafeModelError(f"it cannot score a face ({type(exc).__name__})") from None
    if probs.shape != (2, num_classes) or not np.isfinite(probs).all():
        raise UnsafeModelError("it gives probabilities that are not numbers")


def _check_classes(classifier, num_classes: int) -> None:
    classes = np.asarray(getattr(classifier, "classes_", []))
    if classes.ndim != 1 or not 1 <= len(classes) <= num_classes or classes.dtype.kind not in "iu" \
            or len(set(classes.tolist())) != len(classes) or classes.min() < 0 or classes.max() >= num_classes:
        raise UnsafeModelError(f"its classifier's classes are not indices of its {num_classes} card classes")


def _check_forest(forest, n_features: int) -> None:
    """Every attribute a random forest's prediction reads, against the features it is given."""
    n_classes = len(forest.classes_)
    trees = getattr(forest, "estimators_", None)
    if not isinstance(trees, list) or not 1 <= len(trees) <= MAX_TREES:
        raise UnsafeModelError(f"its forest does not hold 1 to {MAX_TREES:,} trees")
    if forest.n_outputs_ != 1 or forest.n_classes_ != n_classes or forest.n_features_in_ != n_features:
        raise UnsafeModelError("its forest's sizes do not match its features and classes")
    if not (forest.n_jobs is None or (type(forest.n_jobs) is int and -1 <= forest.n_jobs <= MAX_JOBS)):
        forest.n_jobs = -1  # a worker count is a setting of this machine, not the file's to choose
    for i, estimator in enumerate(trees):
        if type(estimator) is not DecisionTreeClassifier or estimator.n_outputs_ != 1 \
                or estimator.n_classes_ != n_classes or estimator.n_features_in_ != n_features \
                or not np.array_equal(np.asarray(estimator.classes_), np.arange(n_classes)):
            raise UnsafeModelError(f"tree {i} of its forest does not match the forest's sizes")
        check_tree(estimator.tree_, n_features, n_classes, f"tree {i}")


def _check_calibrated_svm(calibrated) -> None:
    """Each calibrated fold must be a LinearSVC with sigmoid calibrators (no other estimator hidden inside)."""
    from sklearn.calibration import _CalibratedClassifier, _SigmoidCalibration
    from sklearn.svm import LinearSVC
    folds = getattr(calibrated, "calibrated_classifiers_", None)
    if not isinstance(folds, list) or not folds:
        raise UnsafeModelError("its calibrated SVM holds no fitted folds")
    for fold in folds:
        if type(fold) is not _CalibratedClassifier or type(fold.estimator) is not LinearSVC \
                or not isinstance(fold.calibrators, list) \
                or any(type(c) is not _SigmoidCalibration for c in fold.calibrators):
            raise UnsafeModelError("its calibrated SVM holds something other than linear SVMs and sigmoids")


def check_tree(tree, n_features: int, n_classes: int, name: str = "a tree") -> None:
    """A sklearn Tree whose nodes all lie inside its arrays, children after their parent (so every walk
    from the root ends at a leaf), split features below `n_features` and finite thresholds and values."""
    if type(tree).__module__ != "sklearn.tree._tree" or type(tree).__name__ != "Tree":
        raise UnsafeModelError(f"{name} is not a scikit-learn tree")
    if tree.n_outputs != 1 or tree.n_features != n_features or list(tree.n_classes) != [n_classes]:
        raise UnsafeModelError(f"{name}'s sizes do not match its forest")
    count = tree.node_count
    # node_count comes from the file apart from the nodes stored (capacity): read no array before this
    if not 1 <= count <= tree.capacity:
        raise UnsafeModelError(f"{name} claims {count} nodes but stores {tree.capacity}")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(count)
    leaf = left == TREE_LEAF
    inner = ~leaf
    if (right[leaf] != TREE_LEAF).any():
        raise UnsafeModelError(f"{name} has a node with one child")
    for child in (left[inner], right[inner]):
        if (child <= index[inner]).any() or (child >= count).any():
            raise UnsafeModelError(f"{name} has a child index outside its {count} nodes")
    if (feature[inner] < 0).any() or (feature[inner] >= n_features).any():
        raise UnsafeModelError(f"{name} splits on a feature outside the {n_features} its input has")
    if not np.isfinite(tree.threshold[inner]).all():
        raise UnsafeModelError(f"{name} has a split threshold that is not a number")
    value = tree.value
    if value.shape != (count, 1, n_classes) or not np.isfinite(value).all():
        raise UnsafeModelError(f"{name}'s leaf values are not {count} rows of {n_classes} numbers")
