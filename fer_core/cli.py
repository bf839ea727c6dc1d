"""Command-line interface: `python -m fer_core <command> ...`. Argument parsing lives only here."""
from __future__ import annotations

import argparse
import json
import os
import sys

from pathlib import Path

from fer_core.common.packages import missing_package, missing_package_message
from fer_core.data import DataError
from fer_core.runs.store import RunError
from fer_core.transforms.config import TTA_MODES
from fer_core.common.emotions import CLASS_SETS


def _dataset_path(text: str) -> str:
    """--data's type: an empty value (an unset shell variable) must not silently mean the synthetic faces."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a dataset path, or leave --data out for the synthetic faces")
    return text


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH", default=None, type=_dataset_path,
                   help="dataset: FER2013 Kaggle zip or folder, fer2013.csv, or a zip/folder of class "
                        "subfolders; omit for the built-in synthetic faces")
    p.add_argument("--class-set", choices=list(CLASS_SETS), default="all",
                   # argparse formats help text: a bare % (as in "~1.5%") would crash --help
                   help="; ".join(f"{k}: {v}" for k, v in CLASS_SETS.items()).replace("%", "%%"))
    _add_vote_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed for carving val/test splits (default 0)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of train carved out as validation when the source has none (default 0.1)")
    p.add_argument("--no-cache", action="store_true", help="decode the source again instead of using data/cache")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _add_vote_options(p: argparse.ArgumentParser) -> None:
    from fer_core.data.votes import LABEL_MODES
    p.add_argument("--votes", metavar="PATH", help="FER+ votes beside the images (ferplus.csv; rows matched to "
                                                   "images by their path in the zip or folder)")
    p.add_argument("--label-mode", choices=list(LABEL_MODES), help="; ".join(f"{k}: {v}" for k, v in LABEL_MODES.items())
                   + " (default: majority with --votes, else fer2013)")


def _label_mode(args: argparse.Namespace) -> str | None:
    """--label-mode as given, else majority when a votes file is given (None: leave it to the config)."""
    return args.label_mode or ("majority" if args.votes else None)


def _load(args: argparse.Namespace):
    from fer_core.data import load_dataset
    return load_dataset(args.data, class_set=args.class_set, seed=args.seed, val_fraction=args.val_fraction,
                        use_cache=not args.no_cache, votes=args.votes, label_mode=_label_mode(args) or "fer2013")


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def cmd_data_summary(args: argparse.Namespace) -> int:
    ds = _load(args)
    counts = ds.counts()
    if args.json:
        print(json.dumps({"source": ds.source, "classes": list(ds.classes), "counts": counts}))
        return 0
    print(f"source: {ds.source}  ({ds.kind}{', SYNTHETIC faces' if ds.is_synthetic else ''})")
    rows = [["class", *counts, "total"]]
    for c in ds.classes:
        rows.append([c, *(str(counts[s][c]) for s in counts), str(sum(counts[s][c] for s in counts))])
    rows.append(["total", *(str(sum(counts[s].values())) for s in counts), str(len(ds))])
    _print_table(rows)
    if ds.vote_report is not None:
        print(f"\nlabels: {ds.vote_report.summary()}")
    if ds.report.n_skipped:
        print(f"\n{ds.report.n_skipped} file(s) skipped while reading, e.g.:")
        for item, reason in ds.report.skipped[:5]:
            print(f"  {item}: {reason}")
    return 0


def cmd_data_quality(args: argparse.Namespace) -> int:
    from fer_core.data import quality_report
    from fer_core.data.quality import SHARPNESS_SHIFT_WARNING
    ds = _load(args)
    report = quality_report(ds)
    agreement = _label_agreement(args)
    if args.json:
        labels = {"labels": agreement.to_dict()} if agreement is not None else {}
        print(json.dumps({"source": ds.source, **report.to_dict(ds), **labels}))
        return 0
    print(f"source: {ds.source}  ({ds.kind})")
    print(f"images: {report.n_images}")
    print(f"duplicate groups (pixel-identical): {report.duplicate_groups} groups, {report.duplicate_images} images")
    print(f"  spanning splits (leakage): {report.cross_split_duplicate_groups}")
    print(f"  with conflicting labels:   {report.conflicting_label_groups}")
    print(f"near-blank images (pixel std < 3): {len(report.near_blank)}")
    for split, ratio in report.imbalance_ratio.items():
        print(f"imbalance ratio ({split}): {ratio:.1f}  (largest / smallest class)")
    print("sharpness (median Laplacian variance): "
          + ", ".join(f"{s} {v:.1f}" for s, v in report.sharpness.items()))
    if report.sharpness_shift > SHARPNESS_SHIFT_WARNING:
        print(f"  WARNING: splits differ {report.sharpness_shift:.0f}x in sharpness; a model trained on the "
              "blurrier split sees different images at test time")
    for g in [g for g in report.groups if g.cross_split][:10]:
        print("  leak: " + ", ".join(f"{i} [{s}, {lab}]" for i, s, lab in zip(g.ids, g.splits, g.labels)))
    if agreement is not None:
        print(f"labels against the FER+ majority: {len(agreement.compared):,} faces with a majority "
              f"({agreement.n_without_votes:,} without votes); they agree on {100 * agreement.agreement:.1f}%")
        print("  per class: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in agreement.per_class().items()))
        print(f"  annotators' agreement (share of votes for the top class), median: "
              f"{100 * agreement.to_dict()['annotator_agreement']['median']:.0f}%")
    return 0


def _label_agreement(args: argparse.Namespace):
    """The dataset's own labels against its FER+ votes (data/agreement.py), or None without --votes."""
    if not args.votes:
        return None
    from fer_core.data import load_dataset
    from fer_core.data.agreement import label_agreement
    source = load_dataset(args.data, class_set=args.class_set, seed=args.seed, val_fraction=args.val_fraction,
                          use_cache=not args.no_cache, votes=args.votes, label_mode="fer2013")
    return label_agreement(source)


# ---------------------------------------------------------------- training commands

def _add_train_options(p: argparse.ArgumentParser, multi: bool = False) -> None:
    """Options shared by `train` and `sweep` (sweep takes several --arch / --imbalance)."""
    from fer_core.training.config import OPTIMIZERS, SCHEDULERS, SELECT_METRICS, TRANSFER_MODES
    nargs = {"nargs": "+"} if multi else {}
    p.add_argument("--data", metavar="PATH", type=_dataset_path,
                   help="dataset path (omit for the built-in synthetic faces)")
    p.add_argument("--arch", metavar="NAME", **nargs, help="architecture (see --list-archs); any timm model name works")
    p.add_argument("--imbalance", metavar="STRATEGY", **nargs, help="class-imbalance strategy (see --list-strategies)")
    p.add_argument("--recipe", metavar="NAME", help="named preset of options (see --list-recipes); flags override it")
    p.add_argument("--config", metavar="FILE", help="JSON file of options (e.g. a run's config.json); flags override it")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--scheduler", choices=SCHEDULERS)
    p.add_argument("--warmup-epochs", type=int)
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="stop after this many epochs without a better val score")
    p.add_argument("--select-metric", choices=SELECT_METRICS, help="val metric that picks the best epoch")
    p.add_argument("--grad-clip", type=float, metavar="NORM")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="keep a moving average of the weights (decay per step, e.g. 0.998) and use it for val and test")
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--focal-gamma", type=float, help="focal loss gamma (imbalance 'focal')")
    p.add_argument("--input-size", type=int, help="model input size (default: the architecture's native size)")
    p.add_argument("--crop-size", type=int, help="train on random crops of this size, evaluate on the centre crop")
    p.add_argument("--augment", help="augmentation preset: none, light, standard, strong")
    p.add_argument("--mixup", type=float, metavar="ALPHA",
                   help="mixup: blend pairs of training images, weight ~ Beta(ALPHA, ALPHA); e.g. 0.2-1.0, 0 = off")
    p.add_argument("--cutmix", type=float, metavar="ALPHA",
                   help="CutMix: paste a box from another training image, area ~ Beta(ALPHA, ALPHA); e.g. 1.0, "
                        "0 = off (with --mixup too, each batch gets one of the two)")
    p.add_argument("--mix-prob", type=float, metavar="P", help="share of batches mixed (default 1)")
    p.add_argument("--mix-stop-epoch", type=int, metavar="EPOCH",
                   help="train on unmixed batches from this epoch on (default: mix to the end)")
    p.add_argument("--tta", choices=TTA_MODES, help="test-time augmentation for the final evaluation")
    p.add_argument("--pretrained", nargs="?", const=True, metavar="WEIGHTS_FILE",
                   help="ImageNet weights through timm (downloads once), or a local weights file")
    p.add_argument("--transfer", choices=TRANSFER_MODES, help="scratch, frozen backbone, or finetune")
    p.add_argument("--unfreeze-epoch", type=int, help="finetune: epoch from which the backbone trains")
    p.add_argument("--backbone-lr-scale", type=float, help="finetune: backbone learning rate = lr x this")
    p.add_argument("--class-set", choices=list(CLASS_SETS))
    _add_vote_options(p)
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--keep-leaked", action="store_true", help="keep train images that duplicate val/test images")
    p.add_argument("--synthetic-size", type=int, help="number of synthetic faces when no --data is given")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--time-limit", type=float, metavar="MINUTES", help="training time budget: no epoch starts that would end past it")
    p.add_argument("--no-mixed-precision", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--out", metavar="DIR", help="folder to create the run folder in (default: checkpoints/)")
    _add_backend_options(p)


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    """Where the runs execute: this machine (default), a Ray cluster or Slurm (README: Run on a cluster)."""
    from fer_core.jobs.cluster import BACKENDS, OPTIONS, SLURM_EXECUTORS
    g = p.add_argument_group("cluster", "run on a Ray or Slurm cluster (the checkpoints folder must be on storage "
                                        "both sides see; pip install -r requirements-cluster.txt)")
    g.add_argument("--backend", choices=BACKENDS, help="local: this machine's queue (default); ray; slurm")
    g.add_argument("--address", help="ray: " + OPTIONS["ray"]["address"][1] + " (default auto)")
    g.add_argument("--gpus", type=float, help="ray, slurm: GPUs per run (default 1)")
    g.add_argument("--cpus", type=float, help="ray: CPUs per run (default 1)")
    g.add_argument("--partition", help="slurm: the partition (default: the cluster's default)")
    g.add_argument("--job-time-limit", type=float, metavar="MINUTES", help="slurm: each job's time limit (default 120)")
    g.add_argument("--sbatch", action="append", metavar="KEY=VALUE", help="slurm: an extra sbatch option, e.g. "
                   "account=lab (repeatable)")
    g.add_argument("--slurm-executor", choices=SLURM_EXECUTORS, help="slurm: sbatch (default), or submitit's local "
                   "executor to try the Slurm path on this machine")
    g.add_argument("--at-once", type=int, metavar="N", help="ray, slurm: at most N runs of this launch on the cluster "
                   "at a time (default: all; the cluster queues them)")


def _backend_from_args(args: argparse.Namespace) -> dict | None:
    """The config's `backend` from the cluster flags; None when no flag was given (a --config's stays)."""
    from fer_core.jobs.cluster import backend_options, parse_sbatch
    given = {"address": args.address, "gpus": args.gpus, "cpus": args.cpus, "partition": args.partition,
             "time_limit_minutes": args.job_time_limit, "sbatch": parse_sbatch(args.sbatch) or None,
             "executor": args.slurm_executor}
    if args.backend is None and all(v is None for v in given.values()):
        return None
    name = args.backend or "local"
    allowed = {"ray": ("address", "gpus", "cpus"), "slurm": ("gpus", "partition", "time_limit_minutes", "sbatch",
                                                               "executor")}.get(name, ())
    wrong = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None and k not in allowed]
    if wrong:
        flags = {"time_limit_minutes": "--job-time-limit", "executor": "--slurm-executor"}
        wrong = [flags.get(w[2:].replace("-", "_"), w) for w in wrong]
        raise ValueError(f"{', '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not apply to --backend {name}"
                         + ("" if args.backend else " (the default); choose --backend ray or slurm"))
    return backend_options(name, **{k: given[k] for k in allowed})


def _config_from_args(args: argparse.Namespace, arch: str | None, imbalance: str | None):
    from fer_core.training.config import TrainConfig, make_config
    base = {}
    if args.config:
        try:
            base = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--config {args.config}: not a readable JSON file ({exc})") from None
    options = {
        "data": args.data, "arch": arch, "imbalance": imbalance, "epochs": args.epochs, "batch_size": args.batch_size,
        "lr": args.lr, "weight_decay": args.weight_decay, "optimizer": args.optimizer, "scheduler": args.scheduler,
        "warmup_epochs": args.warmup_epochs, "early_stopping": args.early_stopping, "select_metric": args.select_metric,
        "grad_clip": args.grad_clip, "ema_decay": args.ema, "label_smoothing": args.label_smoothing, "input_size": args.input_size,
        "augment": args.augment, "tta": args.tta, "pretrained": args.pretrained, "transfer": args.transfer,
        "unfreeze_epoch": args.unfreeze_epoch, "backbone_lr_scale": args.backbone_lr_scale,
        "class_set": args.class_set, "val_fraction": args.val_fraction, "synthetic_size": args.synthetic_size,
        "seed": args.seed, "device": args.device, "torch_threads": args.threads,
        "time_limit_minutes": args.time_limit,
        "mixup_alpha": args.mixup, "cutmix_alpha": args.cutmix, "mix_prob": args.mix_prob,
        "mix_stop_epoch": args.mix_stop_epoch, "backend": _backend_from_args(args),
        "votes": args.votes, "label_mode": _label_mode(args),
    }
    if args.keep_leaked:
        options["drop_leaked"] = False
    if args.no_mixed_precision:
        options["mixed_precision"] = False
    if args.focal_gamma is not None:
        options["imbalance_options"] = {**base.get("imbalance_options", {}), "gamma": args.focal_gamma}
    if args.crop_size is not None:
        options["augment_options"] = {**base.get("augment_options", {}), "crop_size": args.crop_size}
    base_recipe = base.pop("recipe", None)  # a flag names the recipe over one in --config
    recipe = args.recipe or base_recipe
    merged = {**base, **{k: v for k, v in options.items() if v is not None}}
    if recipe is None:
        return TrainConfig.from_dict(merged).validate()
    return make_config(recipe, **merged)


def _check_names(config) -> None:
    """Fail before any work for an unknown architecture or strategy, listing the valid ones."""
    from fer_core.models.classical import is_classical
    from fer_core.training.imbalance import get_strategy
    from fer_core.models.architectures import get_arch
    if not is_classical(config.arch):
        get_arch(config.arch)
    get_strategy(config.imbalance, **config.imbalance_options)


def _print_listing(kind: str) -> None:
    if kind == "archs":
        from fer_core.models.classical import CLASSICAL
        from fer_core.models.spec import ARCHITECTURES
        for name, spec in ARCHITECTURES.items():
            print(f"{name:<18} {spec.description}")
        for name, entry in CLASSICAL.items():
            print(f"{name:<18} {entry.description}")
        print("(any other timm model name is accepted too, e.g. resnet10t)")
    elif kind == "strategies":
        from fer_core.training.imbalance import STRATEGIES, get_strategy
        for name in STRATEGIES.names():
            print(f"{name:<18} {get_strategy(name).description}")
    else:
        from fer_core.training.config import RECIPES
        for name, recipe in RECIPES.items():
            print(f"{name:<18} {recipe['description']}")


class _ProgressBar:
    """A one-line progress bar on stderr (no dependency), plus one summary line per epoch."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.interactive = stream.isatty()

    def __call__(self, event: dict) -> None:
        if event.get("done"):
            row = event["row"]
            start = "\r" if self.interactive else ""  # piped: whole lines only
            self.stream.write(f"{start}epoch {row['epoch']}/{event['epochs']}  train loss {row['train_loss']:.3f} "
                              f"acc {row['train_acc']:.3f}  val loss {row['val_loss']:.3f} acc {row['val_acc']:.3f} "
                              f"macro-F1 {row['val_macro_f1']:.3f}  ({row['epoch_seconds']:.1f}s)\n")
        elif self.interactive and "batch" in event:
            done = event["batch"] / event["batches"]
            bar = "#" * int(30 * done)
            self.stream.write(f"\repoch {event['epoch']}/{event['epochs']} [{bar:<30}] {event['batch']}/{event['batches']}")
        self.stream.flush()


def cmd_train(args: argparse.Namespace) -> int:
    if args.list_archs or args.list_strategies or args.list_recipes:
        _print_listing("archs" if args.list_archs else "strategies" if args.list_strategies else "recipes")
        return 0
    from fer_core import runs
    if args.resume is not None:
        return _resume(args)
    config = _config_from_args(args, args.arch, args.imbalance)
    _check_names(config)
    _check_data(config.data, config.votes)
    if args.at_once is not None:
        raise ValueError("--at-once applies to sweep (train sends one run)")
    if config.backend:
        return _train_on_cluster(config, args.out)
    dist = _join_torchrun(config)
    run_dir = runs.create_run(config, args.out) if dist.is_main else None
    if dist.enabled:  # under torchrun: rank 0 owns the run folder, the other ranks only train
        from fer_core.training.loop import run_training
        from fer_core.training.distributed import share_from_main
        run_dir = share_from_main(dist, run_dir)
        if not dist.is_main:
            run_training(config, run_dir)
            _leave_torchrun()
            return 0
    print(f"run folder: {run_dir}", file=sys.stderr)
    status = _execute_and_report(run_dir)
    if dist.enabled:
        _leave_torchrun()
    return 0 if status == "completed" else 1


def _train_on_cluster(config, out) -> int:
    """`train --backend ray|slurm`: send the run to the cluster, wait for it, print the run folder last."""
    from fer_core import jobs
    from fer_core.jobs.cluster import check_reachable
    print(f"cluster: {check_reachable(config.backend)}", file=sys.stderr)
    run_dir = jobs.submit(config, out)
    print(f"run folder: {run_dir} (follow it on the Train page; Ctrl-C stops waiting, not the run)", file=sys.stderr)
    status = _wait_for([run_dir])
    print(run_dir)
    return status


def _resume(args: argparse.Namespace) -> int:
    """`train --resume RUN_DIR`: the run continues in this process, with its own config.json only."""
    from fer_core import jobs
    given = _train_options_given(args)
    if given:
        raise ValueError(f"--resume continues {args.resume} with its own config.json, so {', '.join(given)} cannot "
                         "be given with it; to train differently, start a new run (e.g. with --config "
                         f"{Path(args.resume) / 'config.json'} and your changes)")
    if "WORLD_SIZE" in os.environ:
        raise ValueError("resuming a run under torchrun is not supported yet: resume it in one process "
                         "(python -m fer_core train --resume RUN_DIR)")
    run_dir = Path(args.resume)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    epoch = jobs.resume(run_dir, foreground=True)
    print(f"run folder: {run_dir} (resuming after epoch {epoch})", file=sys.stderr)
    return 0 if _execute_and_report(run_dir) == "completed" else 1


def _train_options_given(args: argparse.Namespace) -> list[str]:
    """The train options on the command line that differ from their defaults, as flags."""
    defaults = vars(build_parser().parse_args(["train"]))
    skip = {"resume", "func", "command"}
    return [f"--{k.replace('_', '-')}" for k, v in vars(args).items() if k not in skip and v != defaults.get(k)]


def _execute_and_report(run_dir) -> str:
    """Execute a run folder in this process with a progress bar; print its outcome, then the folder."""
    from fer_core import runs
    from fer_core.jobs.worker import execute
    status = execute(run_dir, progress=_ProgressBar())
    record = runs.load_run(run_dir)
    if status == "completed" and record.evaluation:
        ev = record.evaluation
        print(f"test accuracy {ev['accuracy']:.4f}  macro-F1 {ev['macro_f1']:.4f}  on {ev.get('labels', 'source labels')} "
              f"(best epoch {ev.get('best_epoch', '-')}, selected on {ev.get('selected_on', 'val')})", file=sys.stderr)
        if ev.get("vote_report"):
            print(f"labels: {ev['vote_report']}", file=sys.stderr)
    elif status != "completed":
        print(f"run {status}: {record.status.get('error')}", file=sys.stderr)
    print(run_dir)
    return status


def _check_data(data, votes=None) -> None:
    """Refuse a dataset path or votes file that cannot be read before a run folder is made for it."""
    from fer_core.common.synthetic import is_synthetic_source
    from fer_core.data.loader import check_source
    from fer_core.data.votes import read_votes
    if not is_synthetic_source(data):
        check_source(data)
    if votes:
        read_votes(votes)


def _leave_torchrun() -> None:
    import torch.distributed
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def _join_torchrun(config):
    """The process group torchrun set up (a world of one otherwise)."""
    from fer_core.training.distributed import init_distributed
    from fer_core.models.runtime import resolve_device
    return init_distributed(resolve_device(config.device))


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.photos is not None:
        return _evaluate_photos(args)
    if args.detector is not None:
        raise ValueError("--detector applies to --photos only (dataset faces are already cropped)")
    from fer_core.inference.evaluation import evaluate_run
    report = evaluate_run(args.run, args.data, split=args.split, tta=args.tta, class_set=args.class_set,
                          device=args.device, engine=args.engine, votes=args.votes, label_mode=args.label_mode)
    if args.json:
        keys = ("accuracy", "macro_f1", "per_class", "confusion_matrix", "n", "labels", "scored_classes")
        print(json.dumps({k: report[k] for k in keys if k in report}))
        return 0
    print(f"{report['data']} [{report['split']}, {report['n']} images, {report['labels']}, tta {report['tta']}, "
          f"engine {report['engine']}]")
    print(f"accuracy {report['accuracy']:.4f}  macro-F1 {report['macro_f1']:.4f}")
    if report.get("unscored_outputs"):
        print(f"(the model's {', '.join(report['unscored_outputs'])} answers count as errors; macro-F1 averages "
              f"the {len(report['scored_classes'])} classes these labels have)")
    _print_per_class(report["per_class"], "support")
    return 0


def _print_per_class(per_class: dict, count: str) -> None:
    """Per-class precision, recall and F1 as a table; `count` heads the column of how many there were."""
    rows = [["class", "precision", "recall", "f1", count]]
    for c, m in per_class.items():
        rows.append([c, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])])
    _print_table(rows)


def _evaluate_photos(args: argparse.Namespace) -> int:
    """`evaluate --photos`: a labelled folder or zip of photos through the Demo path."""
    from fer_core.inference.photo_evaluation import evaluate_photos, save_photo_evaluation
    from fer_core.inference.predictor import Predictor
    if args.data is not None or args.split != "test" or args.class_set is not None:
        raise ValueError("--photos takes the labels from the photos' class folders: leave out --data, --split "
                         "and --class-set")
    predictor = Predictor.from_run(args.run, device="cpu" if args.device == "auto" else args.device)
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty and (done == total or done % 25 == 0):
            print(f"\rphoto {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    result = evaluate_photos(predictor, args.photos, detector=args.detector, tta=args.tta, progress=progress)
    saved = None if args.no_save else save_photo_evaluation(args.run, result)
    if args.json:
        print(json.dumps({**result, "saved_to": str(saved) if saved else None}))
        return 0
    print(f"{result['photos']}: {result['n_photos']} photo(s); a face in {result['n_scored']}, no face found in "
          f"{result['n_no_face']}, unreadable {result['n_unreadable']} (detector {result['detector']}, "
          f"tta {result['tta']}, {result['photos_per_second'] or 0:.1f} photos/s); model: {predictor.describe()}")
    if result["n_scored"]:
        from fer_core.common.wording import percent, score
        print(f"on the largest face of the {result['n_scored']} photo(s) with a face: accuracy "
              f"{percent(result['accuracy'], 2)}  macro-F1 {score(result['macro_f1'])}")
        _print_per_class(result["per_class"], "photos")
        classes = result["classes"]
        print("confusion matrix (rows: true class, columns: predicted)")
        _print_table([["", *[c[:8] for c in classes]]]
                     + [[c, *map(str, row)] for c, row in zip(classes, result["confusion_matrix"])])
    for name in result["no_face"][:20]:
        print(f"no face found: {name}")
    for item in result["unreadable"][:20]:
        print(f"unreadable: {item['photo']}: {item['reason']}")
    hidden = max(0, len(result["no_face"]) - 20) + max(0, len(result["unreadable"]) - 20)
    if hidden:
        print(f"... and {hidden} more (see --json)")
    if saved:
        print(f"saved to {saved} (shown on the Runs page)")
    return 0


def cmd_detectors(args: argparse.Namespace) -> int:
    from fer_core.inference.faces import DEFAULT_DETECTOR, DETECTORS, detector_names
    for name in detector_names():
        detector = DETECTORS.get(name)
        print(f"{name}{' (default)' if name == DEFAULT_DETECTOR else ''}: {detector.source}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from fer_core import jobs
    archs = args.arch or ["simple_cnn"]
    strategies = args.imbalance or ["none"]
    base = _config_from_args(args, archs[0], strategies[0])
    for arch in archs:
        _check_names(type(base).from_dict({**base.to_dict(), "arch": arch}))
    for strategy in strategies:
        _check_names(type(base).from_dict({**base.to_dict(), "imbalance": strategy}))
    if base.backend:
        from fer_core.jobs.cluster import check_reachable
        print(f"cluster: {check_reachable(base.backend)}", file=sys.stderr)
    run_dirs = jobs.sweep(base, archs, strategies, root=args.out, at_once=args.at_once)
    for d in run_dirs:
        print(d)
    if args.wait:
        return _wait_for(run_dirs)
    return 0


def _wait_for(run_dirs) -> int:
    import time

    from fer_core import runs
    while True:
        records = [runs.load_run(d) for d in run_dirs]
        if all(r.state not in runs.ACTIVE for r in records):
            break
        time.sleep(2)
    _print_runs([r.summary() for r in records])
    return 0 if all(r.state == "completed" for r in records) else 1


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _print_runs(rows: list[dict]) -> None:
    table = [["run", "arch", "imbalance", "status", "epochs", "test acc", "macro-F1", "best val acc"]]
    for r in rows:
        table.append([r["run_id"], str(r["arch"]), str(r["imbalance"]), r["status"], str(r["epochs"]),
                      _fmt(r["test_accuracy"]), _fmt(r["test_macro_f1"]), _fmt(r["best_val_acc"])])
    _print_table(table)


def cmd_runs(args: argparse.Namespace) -> int:
    from fer_core import jobs, runs
    jobs.reconcile(args.out)  # dead runs recorded as failed; queued runs whose scheduler died start again
    rows = [r.summary() for r in runs.list_runs(args.out)]
    if args.json:
        print(json.dumps(rows))
    elif rows:
        _print_runs(rows)
        pid = jobs.scheduler_pid(args.out)
        if pid is not None:
            print(f"background jobs: scheduler process {pid} is serving this folder", file=sys.stderr)
    else:
        print("no runs yet: start one with `python -m fer_core train`")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from fer_core.inference.batch import expand_inputs, predict_many, write_csv
    from fer_core.inference.predictor import Predictor
    predictor = Predictor.from_run(args.run, device=args.device, engine=args.engine)
    model = predictor.provenance
    results = predict_many(predictor, expand_inputs(args.images), detect=not args.no_detect, tta=args.tta,
                           detector=args.detector)
    if args.out:
        results = list(results)
        rows = write_csv(results, args.out, predictor.classes, model)
        errors = sum(r.error is not None for r in results)
        print(f"{len(results)} image(s), {rows} row(s) written to {args.out}"
              + (f"; {errors} image(s) could not be read (see the error column)" if errors else "")
              + f"; model: {predictor.describe()}")
        return 1 if errors else 0
    errors = 0
    if args.json:
        out = [{**r.to_dict(), "model": model} for r in results]
        errors = sum("error" in r for r in out)
        print(json.dumps(out if len(out) != 1 else out[0]))
        return 1 if errors else 0
    print(f"model: {predictor.describe()}")
    for result in results:
        r = result.to_dict()
        if "error" in r:
            errors += 1
            print(f"{r['image']}: error: {r['error']}")
            continue
        note = " (no face found: the whole image was used)" if r["no_face"] else \
            " (a face crop: used whole)" if r["whole_image"] else ""
        print(f"{r['image']}: {len(r['faces'])} face(s){note}")
        for i, face in enumerate(r["faces"], 1):
            box = face["box"]
            where = f"box x={box['x']} y={box['y']} w={box['w']} h={box['h']}" if box else "whole image"
            ranked = sorted(face["probabilities"].items(), key=lambda kv: -kv[1])
            print(f"  face {i} ({where}): {face['label']} {face['confidence']:.1%}  |  "
                  + "  ".join(f"{c} {p:.3f}" for c, p in ranked))
    return 1 if errors else 0


def cmd_builtin(args: argparse.Namespace) -> int:
    from fer_core.runs.builtin import install_from_run, read_card
    if args.from_run is None:
        card = read_card()
        if card is None:
            print("no bundled model: make one with `python -m fer_core builtin --from-run RUN_DIR`")
            return 1
        print(json.dumps(card, indent=2))
        return 0
    card = install_from_run(args.from_run)
    test = card["test"]
    print(f"bundled {card['run_id']} ({card['arch']}, {card['dataset']}): test accuracy {test['accuracy']:.4f}, "
          f"macro-F1 {test['macro_f1']:.4f}; use it as --run builtin")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.int8 or args.data is not None:
        return _export_int8(args)
    from fer_core.inference.export import PARITY_TOLERANCE, export_run
    result = export_run(args.run, args.format, args.out)
    print(f"parity on {result.faces} faces of {result.faces_from}: largest probability difference "
          f"{result.max_abs_diff:.1e} (allowed {PARITY_TOLERANCE:g}); inputs and classes in {result.sidecar}")
    print(result.path)  # last, alone on its line, for scripts
    return 0


def _export_int8(args: argparse.Namespace) -> int:
    """`export --int8`: the int8 model and its parity report against fp32 on the test split."""
    if not args.int8 or args.format != "onnx":
        raise ValueError("--data goes with --int8, and --int8 with --format onnx")
    from fer_core.inference.quantize import export_int8
    result = export_int8(args.run, args.out, data=args.data)
    r = result.report
    print(f"int8 against fp32 on {r['n']} test faces of {r['source']}: accuracy {r['int8']['accuracy']:.4f} vs "
          f"{r['fp32']['accuracy']:.4f} ({-result.accuracy_loss_points:+.2f} points), macro-F1 "
          f"{r['int8']['macro_f1']:.4f} vs {r['fp32']['macro_f1']:.4f}; same top class for "
          f"{r['top1_agreement']:.1%} of faces; calibrated on {r['calibration']['faces']} train faces")
    print(result.path)  # last, alone on its line, for scripts
    return 0


class _FrameProgress:
    """Frames analysed so far, on stderr: one line rewritten in place on a terminal; piped or logged, a line
    at each tenth of the video (every 100 frames when its length is unknown), never "frame 1/30frame 2/30"."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.interactive = stream.isatty()
        self.written = False
        self.last_step = None

    def __call__(self, done: int, total: int) -> None:
        text = f"frame {done}" + (f"/{total}" if total else "")
        if self.interactive:
            self.stream.write(f"\r{text}")
        else:
            step = done * 10 // total if total else done // 100
            if step == self.last_step:
                return
            self.last_step = step
            self.stream.write(text + "\n")
        self.written = True
        self.stream.flush()

    def close(self) -> None:
        """End the rewritten line (nothing to end when nothing was written, or when piped)."""
        if self.interactive and self.written:
            self.stream.write("\n")
            self.stream.flush()


def cmd_video(args: argparse.Namespace) -> int:
    from fer_core.inference.predictor import Predictor
    from fer_core.inference.video import analyse_video, describe_track
    predictor = Predictor.from_run(args.run, device=args.device)
    progress = _FrameProgress()
    try:
        analysis = analyse_video(predictor, args.video, fps=args.fps, out_dir=args.out, progress=progress,
                                 detector=args.detector)
    finally:
        progress.close()
    if args.json:
        print(json.dumps({**analysis.to_dict(), "model": predictor.provenance}))
        return 0
    print(f"{analysis.frames_read} frames analysed ({analysis.fps:g} per second of video, "
          f"{analysis.duration_s:.1f} s) at {analysis.frames_per_second:.1f} frames/s; model: {predictor.describe()}")
    for track in analysis.tracks:
        print(describe_track(track))
    if not analysis.tracks:
        print("no face was found in the sampled frames")
    for what, path in analysis.outputs.items():
        print(f"{what}: {path}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from fer_core.explain import explain_faces, overlay
    from fer_core.inference.faces import find_faces
    from fer_core.inference.predictor import Predictor, read_image_file
    predictor = Predictor.from_run(args.run, device=args.device)
    if not predictor.is_deep:
        raise ValueError(f"run {predictor.run_id} is a classical baseline ({predictor.arch}); "
                         "saliency maps need a deep model run")
    target = None if args.target is None else predictor.class_index(
        int(args.target) if args.target.isdigit() else args.target)
    try:
        search = find_faces(read_image_file(Path(args.image)), detect=not args.no_detect,
                            **({"detector": args.detector} if args.detector else {}))
    except OSError as exc:
        raise ValueError(str(exc)) from None
    faces = np.stack([f.face for f in search.faces])
    result = explain_faces(predictor.model, predictor.card, faces, method=args.method, target=target)
    panels = [overlay(face, heat, size=args.size) for face, heat in zip(faces, result.heatmaps)]
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--out must end in .png or .jpg, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(np.hstack(panels), cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write {out}")
    note = f" ({search.message})" if search.whole_image else ""
    for i, (t, p) in enumerate(zip(result.targets, result.probabilities), 1):
        print(f"face {i}: {args.method} for {predictor.classes[t]} "
              f"(predicted {predictor.classes[int(p.argmax())]} {float(p.max()):.1%}){note}")
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fer_core",
                                     description="Facial expression recognition workbench (FER2013 and similar).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="inspect a dataset").add_subparsers(dest="data_command", required=True,
                                                                             metavar="SUBCOMMAND")
    summary = data.add_parser("summary", help="per-split, per-class image counts")
    _add_data_options(summary)
    summary.set_defaults(func=cmd_data_summary)
    quality = data.add_parser("quality", help="duplicates, cross-split leakage, near-blank images, class balance")
    _add_data_options(quality)
    quality.set_defaults(func=cmd_data_quality)

    train = commands.add_parser("train", help="train one model in the foreground; prints the run folder last",
                                description="Train one model in the foreground. The last line printed is the run folder.")
    _add_train_options(train)
    train.add_argument("--list-archs", action="store_true", help="list the architectures and exit")
    train.add_argument("--list-strategies", action="store_true", help="list the imbalance strategies and exit")
    train.add_argument("--list-recipes", action="store_true", help="list the named recipes and exit")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a failed or cancelled run from its last "
                       "completed epoch, in its folder, with its own config (no other options)")
    train.set_defaults(func=cmd_train)

    evaluate = commands.add_parser("evaluate", help="evaluate a run's best checkpoint on a dataset split")
    evaluate.add_argument("--run", required=True, metavar="RUN_DIR", help="the run folder, or builtin")
    evaluate.add_argument("--data", metavar="PATH", type=_dataset_path,
                          help="dataset (default: the one the run was trained on)")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))
    evaluate.add_argument("--class-set", choices=list(CLASS_SETS), help="default: the run's own")
    _add_vote_options(evaluate)
    evaluate.add_argument("--tta", default="none", choices=TTA_MODES)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--engine", default="torch", choices=("torch", "onnxruntime", "onnxruntime-int8"),
                          help="torch (default), onnxruntime (the run's model.onnx) or onnxruntime-int8 (its "
                               "model.int8.onnx, from `export --int8`), on the CPU")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--photos", metavar="PATH", help="instead of a dataset split: a folder or zip of class "
                          "subfolders of photos (happy/001.jpg), each through the Demo path (detect, turn upright, "
                          "crop, model); saved beside the run for the Runs page")
    evaluate.add_argument("--detector", metavar="NAME", help="face detector (default yunet; see `python -m fer_core detectors`)")
    evaluate.add_argument("--no-save", action="store_true", help="with --photos: do not keep the result")
    evaluate.set_defaults(func=cmd_evaluate)

    sweep = commands.add_parser("sweep", help="queue a grid of runs (architectures x strategies) as background jobs")
    _add_train_options(sweep, multi=True)
    sweep.add_argument("--wait", action="store_true", help="wait for every run to finish and print a table")
    sweep.set_defaults(func=cmd_sweep)

    predict = commands.add_parser("predict", help="find faces in images and print class probabilities")
    predict.add_argument("--run", default="builtin", metavar="RUN_DIR",
                         help="the run folder whose best model to use (default: builtin, the bundled model)")
    predict.add_argument("images", nargs="+", metavar="IMAGE",
                         help="photos or 48x48 face crops, any format; folders and zips of them too")
    predict.add_argument("--out", metavar="FILE.csv", help="write one CSV row per face (or per unreadable image)")
    predict.add_argument("--tta", default="none", choices=TTA_MODES,
                         help="test-time augmentation (ten_crop only for models trained on crops)")
    predict.add_argument("--no-detect", action="store_true", help="skip face detection: each image is one face")
    predict.add_argument("--detector", metavar="NAME", help="face detector (default yunet; see `python -m fer_core detectors`)")
    predict.add_argument("--device", default="cpu")
    predict.add_argument("--engine", default="auto", choices=("auto", "torch", "onnxruntime", "onnxruntime-int8"),
                         help="auto: ONNX Runtime on the CPU (the run's model.onnx: no PyTorch needed) where "
                              "installed, else PyTorch; onnxruntime-int8: the run's int8 model (`export --int8`)")
    predict.add_argument("--json", action="store_true", help="print JSON (an object, or a list for several images)")
    predict.set_defaults(func=cmd_predict)

    explain = commands.add_parser("explain", help="write a saliency overlay (Grad-CAM and friends) for an image")
    explain.add_argument("--run", default="builtin", metavar="RUN_DIR",
                         help="the run folder (a deep model); default: builtin, the bundled model")
    explain.add_argument("image", metavar="IMAGE", help="a photo or a 48x48 face crop")
    explain.add_argument("--method", default="gradcam", help="gradcam, hirescam, gradcam++, xgradcam, layercam, "
                                                             "eigencam, scorecam (default gradcam)")
    explain.add_argument("--target", metavar="CLASS", help="class name or index to explain (default: the predicted one)")
    explain.add_argument("--out", required=True, metavar="FILE.png", help="where to write the overlay")
    explain.add_argument("--size", type=int, default=192, help="overlay size in pixels per face (default 192)")
    explain.add_argument("--no-detect", action="store_true", help="skip face detection: the image is one face")
    explain.add_argument("--detector", metavar="NAME", help="face detector (default yunet; see `python -m fer_core detectors`)")
    explain.add_argument("--device", default="cpu")
    explain.set_defaults(func=cmd_explain)

    builtin = commands.add_parser("builtin", help="show the bundled model's card, or bundle a run as the model "
                                                  "`--run builtin` names")
    builtin.add_argument("--from-run", metavar="RUN_DIR", help="a completed deep run trained on real faces (<= 4 MB)")
    builtin.set_defaults(func=cmd_builtin)

    video = commands.add_parser("video", help="emotions of the faces in a video file, followed as tracks: CSV, "
                                              "summary and an annotated MP4")
    video.add_argument("--run", default="builtin", metavar="RUN_DIR",
                       help="the run folder, or 'builtin' for the bundled model (default)")
    video.add_argument("video", metavar="VIDEO", help="an MP4, AVI, MOV, MKV or WebM file")
    video.add_argument("--fps", type=float, default=5.0, help="frames analysed per second of video (default 5)")
    video.add_argument("--out", metavar="DIR", help="write emotions.csv, summary.json and annotated.mp4 here")
    video.add_argument("--json", action="store_true", help="print the summary as JSON")
    video.add_argument("--detector", metavar="NAME", help="face detector (default yunet; see `python -m fer_core detectors`)")
    video.add_argument("--device", default="cpu")
    video.set_defaults(func=cmd_video)

    export = commands.add_parser("export", help="write a run's model as ONNX or TorchScript, preprocessing "
                                                "included, with a JSON sidecar; checked against PyTorch")
    export.add_argument("--run", default="builtin", metavar="RUN_DIR",
                        help="the run folder, or 'builtin' for the bundled model (default)")
    export.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    export.add_argument("--out", metavar="FILE", help="the model file (default: <run id>.onnx, .int8.onnx or .pt "
                                                     "here); the sidecar is FILE.json")
    export.add_argument("--int8", action="store_true", help="ONNX quantized to int8, calibrated on the run's train "
                        "faces, with accuracy and macro-F1 against fp32 on its test split; kept in the run folder "
                        "too, for --engine onnxruntime-int8")
    export.add_argument("--data", metavar="PATH", type=_dataset_path,
                        help="with --int8: the run's dataset, where its recorded path is not readable here")
    export.set_defaults(func=cmd_export)

    detectors = commands.add_parser("detectors", help="list the face detectors and where each comes from")
    detectors.set_defaults(func=cmd_detectors)

    runs_cmd = commands.add_parser("runs", help="list runs with status and headline metrics")
    runs_cmd.add_argument("--out", metavar="DIR", help="checkpoints folder (default: checkpoints/)")
    runs_cmd.add_argument("--json", action="store_true", help="print a JSON list")
    runs_cmd.set_defaults(func=cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ValueError, RunError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:  # a path that cannot be read or written: say which, without a traceback
        _error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a case nobody handled: one line, never a traceback (FER_DEBUG=1 shows it)
        if os.environ.get("FER_DEBUG"):
            raise
        if missing := missing_package(exc):  # a command's own imports: a package missing from this Python
            _error(missing_package_message(missing))
            return 2
        _error(f"unexpected error ({type(exc).__name__}: {' '.join(str(exc).split())}); run again with "
               "FER_DEBUG=1 for the details, and please report them")
        return 3


def _error(message: str) -> None:
    """One `error:` line on stderr, whatever the message holds (a path may contain a newline)."""
    print("error: " + message.replace("\r", "\\r").replace("\n", "\\n"), file=sys.stderr)
