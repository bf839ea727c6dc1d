"""The data layer: every source becomes one FaceDataset (uint8 48x48 faces, labels, splits, ids)."""
from .dataset import IMAGE_SIZE, SPLITS, DataError, FaceDataset, LoadReport
from .loader import load_dataset, read_source
from .quality import drop_cross_split_duplicates, mean_faces, quality_report

__all__ = ["IMAGE_SIZE", "SPLITS", "DataError", "FaceDataset", "LoadReport", "load_dataset", "read_source",
           "drop_cross_split_duplicates", "mean_faces", "quality_report"]
