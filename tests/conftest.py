"""Shared fixtures: tiny datasets generated on the fly in every supported layout."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

# The real FER2013 zip for the real-data tests: $FER2013_ZIP, else ../shared/data/fer2013.zip beside the
# repository (the tests that need it skip themselves where it is absent).
SHARED_ZIP = Path(os.environ.get("FER2013_ZIP")
                  or Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013.zip")

# A few images per class and split, like the Kaggle layout (folder names as Kaggle spells them).
KAGGLE_COUNTS = {"train": {"angry": 6, "disgust": 2, "fear": 5, "happy": 9, "neutral": 6, "sad": 6, "surprise": 4},
                 "test": {"angry": 2, "disgust": 1, "fear": 2, "happy": 3, "neutral": 2, "sad": 2, "surprise": 2}}


def face_pixels(seed: int) -> np.ndarray:
    """A distinct 48x48 uint8 image per seed."""
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


def make_zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive, in memory, of name -> bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def png_bytes(img: np.ndarray) -> bytes:
    """PNG (lossless) so tests can compare decoded pixels exactly."""
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def kaggle_files(prefix: str = "") -> dict[str, np.ndarray]:
    """{relative path: image} for a tiny Kaggle-layout dataset."""
    files, seed = {}, 0
    for split, per_class in KAGGLE_COUNTS.items():
        for cls, n in per_class.items():
            for i in range(n):
                seed += 1
                files[f"{prefix}{split}/{cls}/{split.title()}_{seed:05d}.png"] = face_pixels(seed)
    return files


@pytest.fixture
def kaggle_zip(tmp_path) -> Path:
    path = tmp_path / "fer2013.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, img in kaggle_files().items():
            zf.writestr(rel, png_bytes(img))
    return path


@pytest.fixture
def kaggle_folder(tmp_path) -> Path:
    root = tmp_path / "fer2013"
    for rel, img in kaggle_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), img)
    return root


def write_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["emotion,pixels,Usage"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_row(label: int, usage: str, seed: int) -> tuple[str, str, str]:
    return str(label), " ".join(map(str, face_pixels(seed).ravel())), usage


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    rows, seed = [], 0
    for usage, per_class in (("Training", 8), ("PublicTest", 2), ("PrivateTest", 2)):
        for label in range(7):
            for _ in range(per_class):
                seed += 1
                rows.append(csv_row(label, usage, seed))
    return write_csv(tmp_path / "fer2013.csv", rows)


@pytest.fixture
def colour_folder(tmp_path) -> Path:
    """Users' own data: class folders with colour images of odd sizes and formats."""
    root = tmp_path / "my_faces"
    rng = np.random.default_rng(7)
    specs = [("Happiness", "png", (120, 90), "RGB"), ("Happiness", "jpg", (64, 64), "RGB"),
             ("Happiness", "bmp", (30, 50), "L"), ("sadness", "webp", (100, 100), "RGB"),
             ("sadness", "gif", (48, 48), "P"), ("sadness", "png", (77, 61), "RGBA"),
             ("Surprised", "tiff", (200, 150), "RGB"), ("Surprised", "jpg", (48, 48), "CMYK")]
    for i, (cls, fmt, size, mode) in enumerate(specs * 2):
        (root / cls).mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(root / cls / f"img{i}.{fmt}")
    return root



@pytest.fixture(autouse=True)
def isolated_project_dirs(tmp_path_factory, monkeypatch):
    """Keep every test's caches and run folders out of the repository's data/ and checkpoints/."""
    root = tmp_path_factory.mktemp("project")
    monkeypatch.setenv("FER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("FER_CHECKPOINTS_DIR", str(root / "checkpoints"))
    # No bundled model unless a test asks for it (`bundled_model`): pages then behave as they do for runs alone.
    monkeypatch.setenv("FER_BUILTIN_DIR", str(root / "no-builtin"))
    return root


@pytest.fixture
def bundled_model(monkeypatch) -> Path:
    """The package's bundled model, visible as `builtin` (read it, never write to it)."""
    from fer_core.common.paths import PACKAGED_BUILTIN
    monkeypatch.setenv("FER_BUILTIN_DIR", str(PACKAGED_BUILTIN))
    return PACKAGED_BUILTIN


@pytest.fixture(scope="session")
def real_fer2013():
    """The real FER2013 zip decoded once per test session (skips where the zip is absent)."""
    if not SHARED_ZIP.exists():
        pytest.skip(f"{SHARED_ZIP} not present")
    from fer_core.data import read_source
    return read_source(SHARED_ZIP, use_cache=False)


# A small run trained once per session: ~12 s on 2 CPU cores, about 95% test accuracy on the
# synthetic faces. Input 32 px keeps it fast while the Grad-CAM map stays 4x4 or larger.
TRAINED_RUN_CONFIG = dict(synthetic_size=1500, epochs=6, batch_size=64, lr=3e-3, scheduler="onecycle",
                          augment="light", device="cpu", input_size=32, seed=0,
                          torch_threads=1)


def in_threads(call, threads: int, repeats: int = 1) -> list:
    """`call()` `repeats` times in each of `threads` threads at once; every result, in no given order.
    An exception in any thread is raised here (a thread's exception would otherwise vanish)."""
    import threading

    results, errors = [], []

    def work():
        try:
            for _ in range(repeats):
                results.append(call())
        except Exception as exc:
            errors.append(exc)

    started = [threading.Thread(target=work) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    if errors:
        raise errors[0]
    return results


def stop_background_jobs(root: Path) -> None:
    """Stop whatever a test started in a checkpoints folder: its scheduler first (so it starts nothing
    more), then every run still queued or running, then wait for the processes this process spawned."""
    import os
    import signal
    import time

    from fer_core import runs
    from fer_core.jobs import queue
    pid = queue.scheduler_pid(root)
    if pid:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while queue.scheduler_running(root) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not queue.scheduler_running(root), "the scheduler did not stop"
    for status_file in Path(root).glob(f"*/{runs.STATUS}"):
        if runs.read_json(status_file).get("status") in runs.ACTIVE:
            queue.cancel(status_file.parent, timeout=5)
    for proc in queue._spawned:
        proc.wait(timeout=10)


def train_here(config, root) -> Path:
    """Create a run folder under `root` and execute it in this process, as `python -m fer_core train` does;
    the folder whatever the outcome (its status.json says how it ended)."""
    from fer_core import runs
    from fer_core.jobs.worker import execute
    run_dir = runs.create_run(config, root)
    execute(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A completed simple_cnn run folder on the synthetic faces. Shared: treat it as read-only
    (use `run_in_checkpoints` for a private copy in the test's checkpoints folder)."""
    from fer_core.training.config import TrainConfig
    root = tmp_path_factory.mktemp("trained_runs")
    run_dir = train_here(TrainConfig(**TRAINED_RUN_CONFIG), root=root)
    from fer_core.runs.store import load_run
    assert load_run(run_dir).state == "completed"
    return Path(run_dir)


@pytest.fixture
def run_in_checkpoints(trained_run, isolated_project_dirs) -> Path:
    """A private copy of `trained_run` inside this test's checkpoints folder (what the app lists)."""
    import shutil
    target = isolated_project_dirs / "checkpoints" / trained_run.name
    shutil.copytree(trained_run, target)
    return target


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a test module: on a busy shared CPU, two spinning threads run
    several times slower. Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# What `-m "not slow"` leaves out, for a quick check while editing (README gives both durations): the
# browser and real-data tests, the pages driven through AppTest (each run imports and draws a whole page),
# the command line run as a process (each one imports torch afresh), the memory probes, and every test
# that trains a model or loads the shared trained run.
SLOW_FIXTURES = {"trained_run", "run_in_checkpoints", "real_fer2013"}
SLOW_FOLDERS = {"app_pages", "jobs", "training"}
SLOW_FILES = {"test_cli.py", "test_paths.py", "test_memory.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        file = Path(str(item.fspath))
        if (item.get_closest_marker("browser") or item.get_closest_marker("real_data")
                or file.parent.name in SLOW_FOLDERS or file.name in SLOW_FILES
                or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)


VOTE_HEADER = "image,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def vote_row(label: str, i: int) -> list[int]:
    """Ten votes for a face labelled `label` (a canonical name), varied by `i` the way FER+ varies:
    most faces agree (8 of 10), some flip to another class (i % 10 == 6), split with no majority (7),
    'unknown' (8), or contempt (9)."""
    from fer_core.data.votes import VOTE_CLASSES
    own = VOTE_CLASSES.index(label)
    other = (own + 1) % 7
    votes = [0] * 10
    kind = i % 10
    if kind == 6:
        votes[other], votes[own] = 6, 4
    elif kind == 7:
        votes[own], votes[other], votes[(own + 2) % 7] = 4, 3, 3
    elif kind == 8:
        votes[8], votes[own] = 7, 3
    elif kind == 9:
        votes[7], votes[own] = 6, 4
    else:
        votes[own], votes[other], votes[9] = 8, 1, 1
    return votes


def write_votes(path: Path, ids, label_names, skip: int = 0) -> Path:
    """A FER+-style votes file for these images (the last `skip` left without a row)."""
    lines = [VOTE_HEADER] + [",".join([str(i), *map(str, vote_row(lab, n))])
                             for n, (i, lab) in enumerate(zip(list(ids)[:len(ids) - skip], label_names))]
    path.write_text("\n".join(lines) + "\n")
    return path


def synthetic_votes(path: Path, size: int, seed: int = 0, skip: int = 0) -> Path:
    """A votes file for `load_dataset(None, synthetic_size=size, seed=seed)`'s faces."""
    from fer_core.data.synthetic import generate_synthetic
    ds = generate_synthetic(size, seed=seed)
    return write_votes(path, ds.ids, [ds.classes[k] for k in ds.labels], skip=skip)
