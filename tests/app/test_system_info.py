"""The device line: torch's view of CUDA / MPS / CPU, asked in a subprocess."""
from __future__ import annotations

import subprocess

from fer_core.app import system_info
from fer_core.app.system_info import DeviceInfo, GpuInfo, device_info


def test_this_cpu_machine_is_described_as_cpu(monkeypatch):
    monkeypatch.setattr(system_info, "gpu_impossible", lambda: False)
    line = device_info().describe()  # the real probe, in a subprocess
    assert "CPU" in line and "torch 2." in line and "no CUDA or MPS" in line
    info = device_info(in_subprocess=False)
    assert info.device == "cpu" and info.headline == "CPU" and info.error is None
    assert info.cpu_count >= 1 and info.gpus == ()


def test_gpus_and_mps_are_named():
    one = DeviceInfo(cpu_count=16, torch_version="2.14.1", cuda_version="12.8",
                     gpus=(GpuInfo("NVIDIA H200", 139.8),))
    assert one.device == "cuda" and one.headline == "NVIDIA H200"
    assert one.describe() == "GPU: NVIDIA H200 (139.8 GiB), CUDA 12.8, torch 2.14.1"
    two = DeviceInfo(cpu_count=8, torch_version="2.14.1", cuda_version="12.8",
                     gpus=(GpuInfo("A", 24.0), GpuInfo("B", 24.0)))
    assert two.headline == "2 GPUs" and two.describe().startswith("2 GPUs: A (24.0 GiB), B (24.0 GiB)")
    mps = DeviceInfo(cpu_count=8, torch_version="2.14.1", mps_available=True)
    assert mps.device == "mps" and mps.describe() == "Apple GPU (MPS), torch 2.14.1"


def test_without_gpu_device_files_the_cpu_is_the_answer_without_starting_torch(monkeypatch, tmp_path):
    monkeypatch.setattr(system_info.sys, "platform", "linux")
    assert system_info.gpu_impossible([str(tmp_path / "nvidia0")])
    (tmp_path / "nvidia0").touch()
    assert not system_info.gpu_impossible([str(tmp_path / "nvidia0")])
    monkeypatch.setattr(system_info.sys, "platform", "darwin")  # MPS is asked for on a Mac
    assert not system_info.gpu_impossible([str(tmp_path / "missing")])

    def no_subprocess(*args, **kwargs):
        raise AssertionError("the probe ran")
    monkeypatch.setattr(system_info, "gpu_impossible", lambda: True)
    monkeypatch.setattr(system_info.subprocess, "run", no_subprocess)
    info = device_info()
    assert info.device == "cpu" and info.error is None and info.torch_version.startswith("2.")
    assert info.describe() == device_info(in_subprocess=False).describe()  # what torch itself says here


def test_a_failed_probe_falls_back_to_the_cpu_with_the_reason(monkeypatch):
    monkeypatch.setattr(system_info, "gpu_impossible", lambda: False)
    def too_slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs.get("timeout"))
    monkeypatch.setattr(system_info.subprocess, "run", too_slow)
    info = device_info(timeout=3)
    assert info.device == "cpu" and "did not answer within 3 s" in info.error
    assert info.describe().startswith("CPU only") and "could not ask torch" in info.describe()

    def crashed(*args, **kwargs):
        return subprocess.CompletedProcess(args[0], 1, stdout="", stderr="Traceback...\nImportError: boom")
    monkeypatch.setattr(system_info.subprocess, "run", crashed)
    assert device_info().error == "the probe failed (ImportError: boom)"
