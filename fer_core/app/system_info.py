"""What hardware training would use, as torch sees it: CUDA GPUs, Apple MPS, or the CPU.

`device_info()` asks torch in a short-lived subprocess by default, so the caller (the Streamlit
server) neither pays torch's import time nor holds a CUDA context and its GPU memory. On a Linux
machine with no GPU driver's device files there is nothing to ask: the answer is the CPU at once
(the probe's torch import cost a cold Home page 2-3 s on a 2-core VM).
`python -m fer_core.app.system_info` prints the same facts as JSON.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fer_core.common.paths import PROJECT_ROOT

PROBE_TIMEOUT_S = 120.0  # torch's first import on a cold, busy machine can take a while
# What a GPU torch could use leaves on Linux: NVIDIA's device files and driver, AMD ROCm's /dev/kfd,
# WSL2's /dev/dxg. Without any of them torch.cuda.is_available() is False.
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_gib: float


@dataclass(frozen=True)
class DeviceInfo:
    """torch's view of the machine; `error` is set when torch could not be asked."""

    cpu_count: int
    torch_version: str | None = None
    cuda_version: str | None = None
    gpus: tuple[GpuInfo, ...] = field(default_factory=tuple)
    mps_available: bool = False
    error: str | None = None

    @property
    def device(self) -> str:
        """The device `device="auto"` trains on: 'cuda', 'mps' or 'cpu'."""
        return "cuda" if self.gpus else "mps" if self.mps_available else "cpu"

    @property
    def headline(self) -> str:
        """A few words: the GPU's name, 'N GPUs', 'Apple GPU (MPS)' or 'CPU'."""
        if self.gpus:
            return self.gpus[0].name if len(self.gpus) == 1 else f"{len(self.gpus)} GPUs"
        return "Apple GPU (MPS)" if self.mps_available else "CPU"

    def describe(self) -> str:
        """One line for people, e.g. 'GPU: NVIDIA H200 (139.8 GiB), CUDA 12.8, torch 2.14.1'."""
        torch_part = f"torch {self.torch_version}" if self.torch_version else "torch not available"
        if self.gpus:
            names = ", ".join(f"{g.name} ({g.memory_gib:.1f} GiB)" for g in self.gpus)
            label = "GPU" if len(self.gpus) == 1 else f"{len(self.gpus)} GPUs"
            return f"{label}: {names}, CUDA {self.cuda_version or '?'}, {torch_part}"
        if self.mps_available:
            return f"Apple GPU (MPS), {torch_part}"
        cpu = f"CPU only ({self.cpu_count} core{'s' if self.cpu_count != 1 else ''})"
        if self.error:
            return f"{cpu}; could not ask torch about GPUs: {self.error}"
        return f"{cpu}, {torch_part}: no CUDA or MPS device visible"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use, not the machine's total
    except AttributeError:
        return os.cpu_count() or 1


def gpu_impossible(device_files=GPU_DEVICE_FILES) -> bool:
    """True on Linux when no GPU driver's device file exists (MPS is macOS only): the CPU, surely."""
    return sys.platform.startswith("linux") and not any(Path(f).exists() for f in device_files)


def _cpu_without_asking() -> DeviceInfo:
    try:
        version = importlib.metadata.version("torch").split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        return DeviceInfo(cpu_count=_cpu_count(), error="torch is not installed")
    return DeviceInfo(cpu_count=_cpu_count(), torch_version=version)


def probe() -> DeviceInfo:
    """Ask torch in this process (imports torch; initialises CUDA if a GPU is present)."""
    try:
        import torch
    except ImportError as exc:
        return DeviceInfo(cpu_count=_cpu_count(), error=f"torch is not installed ({exc})")
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append(GpuInfo(props.name, round(props.total_memory / 1024**3, 1)))
    mps = getattr(torch.backends, "mps", None)
    return DeviceInfo(cpu_count=_cpu_count(), torch_version=torch.__version__.split("+")[0],
                      cuda_version=torch.version.cuda, gpus=tuple(gpus),
                      mps_available=bool(mps and mps.is_available()))


def _from_dict(d: dict) -> DeviceInfo:
    return DeviceInfo(cpu_count=d["cpu_count"], torch_version=d.get("torch_version"),
                      cuda_version=d.get("cuda_version"), gpus=tuple(GpuInfo(**g) for g in d.get("gpus", ())),
                      mps_available=bool(d.get("mps_available")), error=d.get("error"))


def device_info(in_subprocess: bool = True, timeout: float = PROBE_TIMEOUT_S) -> DeviceInfo:
    """torch's view of CUDA / MPS / CPU. Never raises: a failed probe gives `error` and the CPU."""
    if not in_subprocess:
        return probe()
    if gpu_impossible():
        return _cpu_without_asking()
    try:
        done = subprocess.run([sys.executable, "-m", "fer_core.app.system_info"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return DeviceInfo(cpu_count=_cpu_count(), error=f"torch did not answer within {timeout:.0f} s")
    except OSError as exc:
        return DeviceInfo(cpu_count=_cpu_count(), error=f"could not start Python ({exc})")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return DeviceInfo(cpu_count=_cpu_count(), error=f"the probe failed ({last})")
    try:
        return _from_dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return DeviceInfo(cpu_count=_cpu_count(), error=f"unreadable probe output ({exc})")


if __name__ == "__main__":
    print(json.dumps(asdict(probe())))
