"""A run's trained model on disk, deep or classical: saved atomically, loaded without running code.

* Deep runs: best.pt holds {format, card, state_dict, info}, loaded with `weights_only=True` and
  checked against its card before any weights are trusted.
* Classical runs: model.skops holds the fitted scikit-learn pipeline and model_card.json its card.
  skops rebuilds objects without running pickled code, and a file is loaded only if every type it
  names that skops does not trust by itself is on `classical.TRUSTED_TYPES`. Runs made before
  2026-11-26 hold a pickle, model.joblib, refused unless FER_TRUST_PICKLED_MODELS=1.

`load_model(run_dir)` gives either kind as a TrainedModel, dispatching on the card the folder holds.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from fer_core.common.files import atomic_write_bytes, atomic_write_json
from fer_core.models import build_model
from fer_core.models.classical import TRUST_PICKLES_ENV, TRUSTED_TYPES, predict_proba_classical
from fer_core.models.classical_check import UnsafeModelError, check_pipeline
from fer_core.models.runtime import predict_probabilities, resolve_device, unwrap
from fer_core.runs.card import CARD_FORMAT, ModelCard
from fer_core.runs.store import (CHECKPOINT, CLASSICAL_CARD, CLASSICAL_MODEL, LEGACY_CLASSICAL_MODEL, RunError,
                                 check_regular, read_json)

CHECKPOINT_FORMAT = 1
# Where our own types lived before the 2026-11-26 redesign, as old model.skops files name them.
LEGACY_MODULES = {"fer_core.classical": "fer_core.models.classical"}


@dataclass
class TrainedModel:
    """A run's model, ready to score faces: a torch module (deep) or a fitted pipeline (classical)."""

    card: ModelCard
    module: nn.Module | None = None
    pipeline: object | None = None

    def probabilities(self, faces: np.ndarray, tta: str = "none", batch_size: int = 512) -> np.ndarray:
        """Probabilities (N, C) in `card.class_names` order for uint8 faces (N, 48, 48)."""
        if not self.card.is_deep:
            if tta != "none":
                raise ValueError(f"{self.card.arch} is a classical baseline: it has no test-time augmentation "
                                 "(use tta 'none')")
            return predict_proba_classical(self.pipeline, faces)
        images = torch.from_numpy(np.ascontiguousarray(faces)).unsqueeze(1)
        return predict_probabilities(self.module, images, self.card.augment_config, batch_size=batch_size,
                                     tta=tta).float().cpu().numpy()


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> TrainedModel:
    """The run's trained model, of whichever kind its folder holds; RunError saying why when it has none."""
    run_dir = Path(run_dir)
    if (run_dir / CLASSICAL_CARD).exists():
        pipeline, card = load_classical(run_dir)
        return TrainedModel(card, pipeline=pipeline)
    device = resolve_device(device) if isinstance(device, str) else device
    module, card, _ = load_checkpoint(run_dir / CHECKPOINT, device)
    return TrainedModel(card, module=module)


# ---------------------------------------------------------------- deep: best.pt

def save_checkpoint(path: Path, model: nn.Module, card: ModelCard, **info) -> None:
    """Atomically write {format, card, state_dict, info} (loadable with weights_only=True)."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "card": card.to_dict(), "state_dict": state, "info": info}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _first_line(exc: Exception, limit: int = 200) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard, dict]:
    """Rebuild the model from a checkpoint safely (weights_only: a file cannot run code)."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path} is missing: the run has no checkpoint (it may have failed before its first epoch)")
    check_regular(path)  # a FIFO would block torch.load for ever
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        card = ModelCard.from_dict(blob["card"])
        state = blob["state_dict"]
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # weights_only refused an object: loading it could run its code
            raise RunError(f"{path} is not a checkpoint this tool wrote: it holds Python objects other than "
                           "tensors and plain values, so it was not loaded (loading such a file can run code)") from None
        raise RunError(f"{path} is not a readable checkpoint (it is damaged: UnpicklingError)") from None
    except Exception as exc:  # truncated, damaged, not a torch file, a card or state dict missing
        raise RunError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})") from None
    try:
        if not card.is_deep:
            raise ValueError(f"its card is of kind {card.kind!r}, not a deep model's")
        card.augment_config  # noqa: B018 (refuses preprocessing this version no longer has)
        _check_card_bounds(card)
    except ValueError as exc:
        raise RunError(f"{path} cannot be used: {exc}") from None
    try:
        model = build_model(card.arch, card.num_classes, in_chans=card.in_chans, drop_rate=card.drop_rate)
        model.load_state_dict(state)
    except Exception as exc:  # an unknown arch, or weights of another shape than the card describes
        detail = " ".join(str(exc).split())  # torch's message spans lines: one line, the start of it
        raise RunError(f"{path} does not match its own model card ({card.arch}, {card.num_classes} classes): "
                       f"{type(exc).__name__}: {detail[:300]}") from None
    return model.to(device).eval(), card, blob.get("info", {})


MAX_CLASSES, MAX_INPUT_SIZE, MAX_IN_CHANS = 1000, 1024, 4


def _check_card_bounds(card: ModelCard) -> None:
    """Refuse a card whose sizes would make building the model allocate absurd amounts (a tampered file)."""
    if not isinstance(card.class_names, list) or not 1 <= len(card.class_names) <= MAX_CLASSES:
        raise ValueError(f"its card lists {len(card.class_names) if isinstance(card.class_names, list) else '?'} "
                         f"classes; between 1 and {MAX_CLASSES} are allowed")
    if not isinstance(card.in_chans, int) or not 1 <= card.in_chans <= MAX_IN_CHANS:
        raise ValueError(f"its card says {card.in_chans!r} input channels; 1 to {MAX_IN_CHANS} are allowed")
    if card.augment_config.input_size > MAX_INPUT_SIZE:
        raise ValueError(f"its card says input size {card.augment_config.input_size}; at most {MAX_INPUT_SIZE}")


# ---------------------------------------------------------------- classical: model.skops + model_card.json

def save_classical(run_dir: str | os.PathLike, pipeline, card: ModelCard) -> None:
    """Write the fitted pipeline (skops, compressed: forests are large) and its card, each atomically."""
    import skops.io

    run_dir = Path(run_dir)
    atomic_write_bytes(run_dir / CLASSICAL_MODEL, skops.io.dumps(pipeline, compression=zipfile.ZIP_DEFLATED,
                                                                  compresslevel=6))
    atomic_write_json(run_dir / CLASSICAL_CARD, {"format": CARD_FORMAT, **card.to_dict()})


def _read_classical_card(run_dir: Path) -> ModelCard:
    try:
        card = ModelCard.from_dict(read_json(run_dir / CLASSICAL_CARD))
    except ValueError as exc:
        raise RunError(f"{run_dir / CLASSICAL_CARD} is unreadable ({exc})") from None
    if card.kind != "classical":
        raise RunError(f"{run_dir / CLASSICAL_CARD} describes a {card.kind} model, not a classical one")
    return card


def load_classical(run_dir: str | os.PathLike) -> tuple[object, ModelCard]:
    """The fitted pipeline and card of a classical run, loaded without running stored code."""
    run_dir = Path(run_dir)
    card = _read_classical_card(run_dir)
    path = run_dir / CLASSICAL_MODEL
    if path.exists():
        pipeline = _load_skops(path)
    elif (run_dir / LEGACY_CLASSICAL_MODEL).exists():
        pipeline = _load_legacy_pickle(run_dir / LEGACY_CLASSICAL_MODEL)
    else:
        raise RunError(f"{path} is missing: the run has no fitted classical model")
    if list(getattr(pipeline, "fer_classes_", ())) != list(card.class_names):
        raise RunError(f"{path} does not match its model card (class lists differ)")
    try:
        check_pipeline(pipeline, card.arch, len(card.class_names))
    except UnsafeModelError as exc:
        raise RunError(f"{path} was not used: {exc}; it is not a model this tool wrote, or it was altered") from None
    return pipeline, card


def _with_current_module_names(data: bytes) -> bytes:
    """A model.skops file's bytes with the module names of our types as they are today (LEGACY_MODULES)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            schema = zf.read("schema.json").decode()
            old = [m for m in LEGACY_MODULES if json.dumps(m) in schema]
            if not old:
                return data
            for module in old:
                schema = schema.replace(f'"__module__": {json.dumps(module)}',
                                        f'"__module__": {json.dumps(LEGACY_MODULES[module])}')
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as new:
                for info in zf.infolist():
                    new.writestr(info.filename, schema if info.filename == "schema.json" else zf.read(info))
            return out.getvalue()
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError):
        return data  # not a skops file: skops itself says so, in the caller's message


MAX_CLASSICAL_MODEL_BYTES = 2 * 1024**3  # a 200-tree forest fitted on all of FER2013 is far below this


def _load_skops(path: Path):
    import skops.io
    from sklearn.pipeline import Pipeline
    check_regular(path)
    if path.stat().st_size > MAX_CLASSICAL_MODEL_BYTES:
        raise RunError(f"{path} is over {MAX_CLASSICAL_MODEL_BYTES / 1024**3:.0f} GB: "
                       "not a classical model this tool wrote")
    try:
        data = _with_current_module_names(path.read_bytes())
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            inflated = sum(i.file_size for i in zf.infolist())
        if inflated > MAX_CLASSICAL_MODEL_BYTES:
            raise RunError(f"{path} inflates to {inflated / 1024**3:.1f} GB, over the "
                           f"{MAX_CLASSICAL_MODEL_BYTES / 1024**3:.0f} GB a classical model may take")
        named = set(skops.io.get_untrusted_types(data=data))
        foreign = sorted(named - TRUSTED_TYPES)
        if foreign:
            raise RunError(f"{path} names types a classical baseline is not made of ({', '.join(foreign[:5])}); "
                                "it was not loaded")
        pipeline = skops.io.loads(data, trusted=sorted(named))
    except RunError:
        raise
    except Exception as exc:  # a truncated or foreign file can fail in many ways
        raise RunError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(pipeline, Pipeline):
        raise RunError(f"{path} does not hold a scikit-learn pipeline")
    return pipeline


def _load_legacy_pickle(path: Path):
    """A run saved before skops: a pickle, which can run code, so only on the user's explicit say-so."""
    if os.environ.get(TRUST_PICKLES_ENV) != "1":
        raise RunError(f"{path} is a pickle from an older version, and loading a pickle can run any code "
                            f"it holds. If you made this run yourself, set {TRUST_PICKLES_ENV}=1 to load it; "
                            "better, train the run again (it is then saved safely)")
    import joblib
    try:
        return joblib.load(path)
    except Exception as exc:  # a truncated or foreign file can fail in many ways
        if "SharpnessCap" in str(exc):
            raise RunError(f"{path} was fitted with the sharpness cap, which was removed on 2026-11-26 with the "
                                "blurred copy of FER2013 it was made for; train the run again") from None
        raise RunError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None
