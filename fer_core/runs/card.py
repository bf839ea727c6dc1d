"""The model card: what a trained model needs to be used alone, for deep and classical runs alike.

A deep run keeps its card inside best.pt; a classical run keeps it as model_card.json next to its
pipeline. Code that uses a model dispatches on `card.kind`, never on architecture names.
`ModelCard.from_dict` also reads the two shapes written before cards had a kind (2026-11-26).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from fer_core.transforms.config import AugmentConfig

KINDS = ("deep", "classical")
CARD_FORMAT = 2  # model_card.json: 1 = the classical-only dict with "classes"; 2 = a ModelCard


@dataclass
class ModelCard:
    """The facts needed to use a trained model alone."""

    arch: str
    class_names: list[str]
    preprocess: dict = field(default_factory=dict)  # deep: AugmentConfig.to_dict() (input size, crop, normalisation)
    in_chans: int = 1
    drop_rate: float | None = None
    trained_on: str = ""  # the dataset's source
    extra: dict = field(default_factory=dict)  # e.g. the recipe; classical: features, classifier, options, fit sizes
    kind: str = "deep"  # "deep": a torch module in best.pt; "classical": a scikit-learn pipeline in model.skops

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; valid: {', '.join(KINDS)}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_deep(self) -> bool:
        return self.kind == "deep"

    @property
    def augment_config(self) -> AugmentConfig:
        """A deep model's exact eval preprocessing (ValueError for a classical one: its pipeline has its own)."""
        if not self.is_deep:
            raise ValueError(f"{self.arch} is a classical baseline: its pipeline does its own preprocessing")
        return AugmentConfig.from_dict(self.preprocess)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        """A card from its dict, including the shapes older versions wrote; ValueError when it is not one."""
        if not isinstance(d, dict):
            raise ValueError("the model card is not a JSON object")
        d = {k: v for k, v in d.items() if k != "format"}
        if "classes" in d and "class_names" not in d:
            d = _from_classical_v1(d)
        known = {f.name for f in fields(cls)}
        card = {k: v for k, v in d.items() if k in known}
        unknown = {k: v for k, v in d.items() if k not in known}
        extra = {**(card.pop("extra", None) or {}), **unknown}  # facts this version does not model are kept
        try:
            return cls(**card, extra=extra)
        except TypeError as exc:  # a required field missing
            raise ValueError(f"the model card is incomplete ({exc})") from None


def _from_classical_v1(d: dict) -> dict:
    """The classical card before kinds: {"kind": "classical", "arch", "classes", "data", ...the fit's facts}."""
    rest = {k: v for k, v in d.items() if k not in ("kind", "arch", "classes", "data")}
    return {"kind": "classical", "arch": d.get("arch"), "class_names": list(d["classes"]),
            "trained_on": d.get("data", ""), "extra": rest}
