"""What to say when a package the project needs is not installed (run with the wrong Python, or an
install that stopped half-way): its pip name and the install command, in one line."""
from __future__ import annotations

# import name -> pip name, where they differ (requirements.txt pins each)
PIP_NAMES = {"cv2": "opencv-python-headless", "PIL": "pillow", "sklearn": "scikit-learn",
             "pytorch_grad_cam": "grad-cam", "yaml": "pyyaml", "streamlit_webrtc": "streamlit-webrtc"}


def missing_package(exc: ImportError) -> str | None:
    """The top-level module a ModuleNotFoundError is about, or None when it is not a missing third-party
    package (a missing module of our own is a bug, not an installation problem)."""
    name = getattr(exc, "name", None)
    if not isinstance(exc, ModuleNotFoundError) or not name:
        return None
    top = name.split(".")[0]
    return None if top == "fer_core" else top


def missing_package_message(module: str) -> str:
    pip_name = PIP_NAMES.get(module, module)
    return (f"the Python package '{pip_name}' (module {module}) is not installed for this Python; use the "
            "project's virtual environment (`.venv/bin/python -m fer_core ...`, or `source .venv/bin/activate` "
            "first), or install the requirements: `.venv/bin/pip install -r requirements.txt`")
