"""The data layer: every source becomes one FaceDataset (uint8 48x48 faces, labels, splits, ids)."""
from fer_core.data.dataset import SPLITS, DataError, FaceDataset, LoadReport
from fer_core.common.faces_array import IMAGE_SIZE
from fer_core.data.loader import load_dataset, read_source
from fer_core.data.quality import drop_cross_split_duplicates, mean_faces, quality_report

__all__ = ["IMAGE_SIZE", "SPLITS", "DataError", "FaceDataset", "LoadReport", "load_dataset", "read_source",
           "drop_cross_split_duplicates", "mean_faces", "quality_report"]
