"""Training throughput on CPU: our pipeline vs a naive torchvision ImageFolder + DataLoader.

Both sides use the same images (FER2013 train, extracted to a temporary folder for the naive side),
the same model (simple_cnn) and the same augmentations (flip, rotation, shift, zoom, erasing).
Measured in one run, in this order, each over the same number of images:

1. data pipeline alone: batches of augmented, normalised tensors, no model;
2. training step: data + forward + backward + optimiser step.

Targets (training-engine issue): data pipeline >= 20x faster; training step images/s >= 1.5x.

    python benchmarks/bench_train_throughput.py [--zip ../shared/data/fer2013.zip] [--images 8192]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core.transforms.augment import BatchAugmenter
from fer_core.transforms.config import augment_config
from fer_core.data import load_dataset  # noqa: E402
from fer_core.training.imbalance import get_strategy  # noqa: E402
from fer_core.models.architectures import build_model  # noqa: E402

BATCH = 64


def naive_loader(folder: Path, cfg, workers: int) -> torch.utils.data.DataLoader:
    """The notebook way: PIL per image, per-image torchvision transforms, a DataLoader."""
    per_image = transforms.Compose([
        transforms.Grayscale(1),
        transforms.RandomHorizontalFlip(),
        transforms.RandomAffine(cfg.rotate_degrees, translate=(cfg.shift, cfg.shift), scale=cfg.scale),
        transforms.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast),
        transforms.ToTensor(),
        transforms.RandomErasing(p=cfg.erase_p, scale=cfg.erase_area),
        transforms.Normalize([cfg.mean], [cfg.std]),
    ])
    return torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform=per_image), batch_size=BATCH,
                                       shuffle=True, num_workers=workers, persistent_workers=workers > 0)


def our_batches(images: torch.Tensor, labels, cfg, n_images: int):
    """The engine's way: one uint8 tensor, an index order per epoch, batch-wise augmentation."""
    augmenter = BatchAugmenter(cfg, seed=0)
    order, _ = get_strategy("none").epoch_indices(labels, 0, 0)
    for start in range(0, n_images, BATCH):
        idx = order[start:start + BATCH]
        yield augmenter(images[idx]), torch.from_numpy(labels[idx.numpy()])


def timed(batches, n_images: int, step=None) -> float:
    """Images per second over the first n_images of `batches` (after one warm-up batch)."""
    it = iter(batches)
    next(it)
    seen, start = 0, time.perf_counter()
    for x, y in it:
        if step is not None:
            step(x, y)
        seen += len(x)
        if seen >= n_images:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--images", type=int, default=8192, help="images per measurement")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader workers for the naive side")
    args = parser.parse_args()

    cfg = augment_config("standard")
    ds = load_dataset(args.zip).split("train")
    images = torch.from_numpy(ds.images).unsqueeze(1)
    model = build_model("simple_cnn", len(ds.classes)).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)

    def step(x, y):
        loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.zip) as zf:  # ImageFolder needs files on disk: the train split only
            zf.extractall(tmp, [n for n in zf.namelist() if n.startswith("train/")])
        loader = naive_loader(Path(tmp) / "train", cfg, args.workers)
        results = {
            "data: naive ImageFolder + DataLoader": timed(loader, args.images),
            "data: fer_core batch pipeline": timed(our_batches(images, ds.labels, cfg, args.images + BATCH), args.images),
        }
        model.train()
        results["train step: naive"] = timed(loader, args.images, step)
        results["train step: fer_core"] = timed(our_batches(images, ds.labels, cfg, args.images + BATCH),
                                                args.images, step)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; naive DataLoader with {args.workers} workers; batch {BATCH}")
    for name, rate in results.items():
        print(f"{name:<40}{rate:>10.0f} images/s")
    data_x = results["data: fer_core batch pipeline"] / results["data: naive ImageFolder + DataLoader"]
    step_x = results["train step: fer_core"] / results["train step: naive"]
    print(f"data pipeline speed-up: {data_x:.1f}x (target >= 20x); training step speed-up: {step_x:.2f}x "
          "(target >= 1.5x)")


if __name__ == "__main__":
    main()
