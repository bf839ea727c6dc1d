"""Epoch seconds per architecture on the full FER2013 train split, and where a training step's time goes.

For each --arch: the engine's own epoch (train.train_one_epoch: on-device batches, batch-wise
augmentation, bf16 autocast on CUDA, the recipe's optimiser and EMA), one untimed warm-up epoch,
then --epochs timed ones (device synchronised). Then a torch.profiler trace of --profile-steps
steps of --profile-arch, summarised by the loop's named scopes (augment, forward, backward,
optimizer, ema) and by the top kernels, plus a count of host-device synchronisations.

    python benchmarks/bench_gpu_epoch.py --zip data/fer2013.zip --arch simple_cnn vgg_fer resnet18 fast_cnn_wide
    python benchmarks/bench_gpu_epoch.py --device cpu --synthetic 2000 --arch fast_cnn --epochs 1   # a smoke run
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core.transforms.augment import BatchAugmenter  # noqa: E402
from fer_core.training.config import make_config  # noqa: E402
from fer_core.training.prepare import prepare_data  # noqa: E402
from fer_core.training.imbalance import class_counts, get_strategy  # noqa: E402
from fer_core.models.architectures import build_model  # noqa: E402
from fer_core.training.loop import EpochContext, _augment_for, to_device_tensors, train_one_epoch
from fer_core.training.optim import Schedule, build_optimizer
from fer_core.models.runtime import resolve_device
from timm.utils import ModelEmaV3  # noqa: E402

SCOPES = ("augment", "forward", "backward", "optimizer", "ema")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def setup(arch: str, args, data, device: torch.device):
    """Model and epoch context for `arch` with the recipe's settings (the arch's native input size)."""
    config = make_config(args.recipe, arch=arch, input_size=None if arch != "fast_cnn" else args.input_size,
                         batch_size=args.batch_size, device=str(device))
    aug = _augment_for(config)
    classes = data.dataset.classes
    model = build_model(arch, len(classes), drop_rate=config.drop_rate).to(device).to(memory_format=torch.channels_last)
    images, labels = to_device_tensors(data.train, device)
    strategy = get_strategy(config.imbalance)
    criterion = strategy.loss(class_counts(data.train.labels, len(classes)), label_smoothing=config.label_smoothing,
                              device=device)
    optimizer = build_optimizer(model, config)
    steps = math.ceil(len(data.train) / config.batch_size)
    schedule = Schedule(optimizer, config, steps)
    ema = ModelEmaV3(model, decay=config.ema_decay, use_warmup=True, warmup_power=3 / 4) if config.ema_decay else None
    ctx = EpochContext(images, labels, BatchAugmenter(aug, seed=0), criterion, optimizer, schedule, config, device,
                       ema=ema)
    return model, ctx, strategy, aug


def time_epochs(arch: str, args, data, device) -> dict:
    model, ctx, strategy, aug = setup(arch, args, data, device)
    params = sum(p.numel() for p in model.parameters())
    seconds = []
    for epoch in range(args.epochs + 1):  # epoch 0 warms up (cuDNN autotuning, allocator, lazy init)
        order, flips = strategy.epoch_indices(data.train.labels, epoch, 0)
        synchronize(device)
        start = time.perf_counter()
        loss, acc = train_one_epoch(model, ctx, order, flips)
        synchronize(device)
        if epoch:
            seconds.append(time.perf_counter() - start)
    median = sorted(seconds)[len(seconds) // 2]
    return {"arch": arch, "params_m": params / 1e6, "input": aug.input_size, "epoch_s": median,
            "images_per_s": len(data.train) / median, "last_train_acc": acc}


def profile(arch: str, args, data, device) -> None:
    """A short torch.profiler trace of the training loop, by named scope and by top operators."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    model, ctx, strategy, _ = setup(arch, args, data, device)
    order, flips = strategy.epoch_indices(data.train.labels, 0, 0)
    steps = args.profile_steps * args.batch_size
    train_one_epoch(model, ctx, order[:steps], flips[:steps] if flips is not None else None)  # warm-up
    synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    syncs = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        start = time.perf_counter()
        with torch_profile(activities=activities) as prof:
            train_one_epoch(model, ctx, order[:steps], flips[:steps] if flips is not None else None)
            synchronize(device)
        wall = time.perf_counter() - start
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught)
    events = prof.key_averages()
    use_cuda = device.type == "cuda"

    def device_ms(e) -> float:
        return (getattr(e, "device_time_total", 0) or getattr(e, "cuda_time_total", 0)) / 1000 if use_cuda else 0.0

    print(f"\n== profile: {arch}, {args.profile_steps} steps of {args.batch_size}, wall {wall * 1000:.0f} ms "
          f"({wall * 1000 / args.profile_steps:.2f} ms/step); host-device syncs seen: {syncs} (the epoch's final "
          "all-in-one .tolist() is one)")
    print(f"{'scope':<12}{'host ms':>10}{'device ms':>11}")
    for e in events:
        if e.key in SCOPES:
            print(f"{e.key:<12}{e.cpu_time_total / 1000:>10.1f}{device_ms(e):>11.1f}")
    sort = "device_time_total" if use_cuda else "self_cpu_time_total"
    try:
        print(events.table(sort_by=sort, row_limit=15, max_name_column_width=60))
    except Exception:  # older torch names the column cuda_time_total
        print(events.table(sort_by="cuda_time_total" if use_cuda else "self_cpu_time_total", row_limit=15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--synthetic", type=int, help="use this many synthetic faces instead of the zip (smoke runs)")
    parser.add_argument("--arch", nargs="+", default=["simple_cnn", "vgg_fer", "resnet18", "fast_cnn_wide"])
    parser.add_argument("--recipe", default="fer2013-gpu", help="optimiser, augmentation and EMA settings")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=32, help="fast_cnn's input size (fer2013-cpu's)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per arch (after one warm-up)")
    parser.add_argument("--profile-arch", default="fast_cnn_wide")
    parser.add_argument("--profile-steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the epoch table here")
    args = parser.parse_args()

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data_options = {"synthetic_size": args.synthetic} if args.synthetic else {"data": args.zip}
    start = time.perf_counter()
    data = prepare_data(make_config(args.recipe, **data_options))
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}; {len(data.train)} train images loaded in {time.perf_counter() - start:.1f} s")
    rows = []
    print(f"{'arch':<15}{'params M':>9}{'input':>6}{'epoch s':>9}{'img/s':>9}")
    for arch in args.arch:
        try:
            row = time_epochs(arch, args, data, device)
        except Exception as exc:  # one arch failing should not lose the others' figures
            print(f"{arch:<15} failed: {type(exc).__name__}: {exc}")
            continue
        rows.append(row)
        print(f"{row['arch']:<15}{row['params_m']:>9.2f}{row['input']:>6}{row['epoch_s']:>9.2f}"
              f"{row['images_per_s']:>9.0f}", flush=True)
        if args.json:  # after each arch: a time limit that cuts the run short keeps what was measured
            Path(args.json).write_text(json.dumps(rows, indent=2))
    if args.profile_steps:
        profile(args.profile_arch, args, data, device)


if __name__ == "__main__":
    main()
