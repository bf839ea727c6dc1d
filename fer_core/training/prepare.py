"""A run's data: its config's dataset, leaked train copies dropped, split and checked (deep and classical)."""
from __future__ import annotations

from dataclasses import dataclass

from fer_core.training.config import TrainConfig
from fer_core.data.dataset import FaceDataset
from fer_core.data.loader import load_dataset
from fer_core.data.quality import drop_cross_split_duplicates


@dataclass
class PreparedData:
    dataset: FaceDataset
    train: FaceDataset
    val: FaceDataset
    test: FaceDataset
    dropped_leaked: int  # train/val images removed because a pixel-identical copy is in a later split


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load, optionally drop leaked train images, split; refuse data the run cannot learn from."""
    ds = load_dataset(config.data, class_set=config.class_set, val_fraction=config.val_fraction,
                      seed=config.seed, synthetic_size=config.synthetic_size, votes=config.votes,
                      label_mode=config.label_mode)
    dropped = 0
    if config.drop_leaked:
        ds, dropped = drop_cross_split_duplicates(ds)
    train, val, test = ds.split("train"), ds.split("val"), ds.split("test")
    if len(val) == 0 or len(test) == 0:
        raise ValueError("the dataset needs non-empty val and test splits; use a larger dataset or val_fraction")
    missing = [c for i, c in enumerate(ds.classes) if not (train.labels == i).any()]
    if missing:
        raise ValueError(f"class(es) {', '.join(missing)} have no training images; add images, or choose a class set "
                         "without them (--class-set no_disgust drops disgust)")
    return PreparedData(ds, train, val, test, dropped)
