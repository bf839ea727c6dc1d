"""CPU inference through ONNX Runtime: about 2.7x the faces per second of eager PyTorch for our small
convolutional nets (benchmarks/bench_predict.py).

`OnnxModel(model, input_size)` exports a deep model once, in memory, and then stands in for it wherever
only a forward pass is needed (prediction, evaluation). Saliency maps still use the PyTorch model:
they need gradients.
"""
from __future__ import annotations

import io
import warnings

import torch
import torch.nn as nn

ENGINES = ("auto", "torch", "onnxruntime")


def available() -> bool:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxModel(nn.Module):
    """A forward-only stand-in for `model` that runs in ONNX Runtime on the CPU; takes and returns
    torch tensors (float32 logits), so predict_probabilities can use it unchanged."""

    def __init__(self, model: nn.Module, input_size: int, in_chans: int = 1, threads: int | None = None):
        super().__init__()
        import onnxruntime
        # predict_probabilities asks a model's parameters for its device: this one lives on the CPU.
        self.device_marker = nn.Parameter(torch.empty(0), requires_grad=False)
        buffer = io.BytesIO()
        with warnings.catch_warnings():  # the TorchScript exporter warns that it is the older one
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval().float().cpu(), torch.zeros(1, in_chans, input_size, input_size), buffer,
                              input_names=["x"], output_names=["logits"],
                              dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        # Idle ONNX Runtime threads would otherwise spin, stealing the cores that PyTorch's preprocessing
        # and OpenCV's face detection run on between model calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.detach().float().contiguous().cpu().numpy()
        return torch.from_numpy(self.session.run(None, {"x": batch})[0])


def fast_forward(model: nn.Module, input_size: int, device: torch.device, engine: str = "auto") -> nn.Module | None:
    """An OnnxModel for `model` when `engine` allows and it can run here (CPU, ONNX Runtime installed),
    else None (use the PyTorch model). engine: auto, torch or onnxruntime (an error if unavailable)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown inference engine {engine!r}; valid: {', '.join(ENGINES)}")
    if engine == "torch" or (engine == "auto" and (device.type != "cpu" or not available())):
        return None
    if device.type != "cpu":
        raise ValueError("the onnxruntime engine runs on the CPU only; use --device cpu or --engine torch")
    if not available():
        raise ValueError("the onnxruntime engine needs the onnx and onnxruntime packages "
                         "(pip install -r requirements.txt)")
    try:
        return OnnxModel(model, input_size)
    except Exception:  # an architecture the exporter cannot handle: PyTorch still answers, only slower
        if engine == "onnxruntime":
            raise
        return None
