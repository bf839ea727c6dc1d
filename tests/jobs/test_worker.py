"""The background job process: what it imports before training starts (the Train page's wait)."""
from __future__ import annotations

import subprocess
import sys

from fer_core.common.paths import PROJECT_ROOT
from fer_core.runs.store import create_run
from fer_core.training.config import TrainConfig

CHECK = """
import sys
from fer_core.jobs.worker import execute
status = execute(sys.argv[1])
print(status, *(name for name in ("timm", "torchvision") if name in sys.modules))
"""


def test_a_scratch_run_trains_without_importing_timm_or_torchvision(tmp_path):
    """They cost a worker about 1.7 s of its 4.4 s start-up on a 2-core VM; a scratch net without
    EMA uses neither (a timm net or EMA imports timm when it is built)."""
    config = TrainConfig(arch="simple_cnn", epochs=1, synthetic_size=70, input_size=32, batch_size=32).validate()
    run_dir = create_run(config, tmp_path)
    done = subprocess.run([sys.executable, "-c", CHECK, str(run_dir)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["completed"], done.stdout  # completed, and neither module named
