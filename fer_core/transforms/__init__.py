"""Pixels -> model input, on whole batches on the training device: augmentation, eval preprocessing, TTA."""
from fer_core.transforms.augment import BatchAugmenter
from fer_core.transforms.config import AUGMENT_PRESETS, AugmentConfig, augment_config
from fer_core.transforms.eval import TTA_MODES, prepare_eval, tta_views

__all__ = ["AUGMENT_PRESETS", "AugmentConfig", "BatchAugmenter", "TTA_MODES", "augment_config", "prepare_eval",
           "tta_views"]
