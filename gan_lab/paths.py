"""Where things live: the repository's shipped models, run folders and the cache."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "models"
RUNS_DIR = REPO_ROOT / "runs"


def cache_dir() -> Path:
    """Downloads and derived artifacts: `$GAN_LAB_CACHE`, else `~/.cache/gan_lab`."""
    path = Path(os.environ.get("GAN_LAB_CACHE", Path.home() / ".cache" / "gan_lab"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def writable_dir(path, what="output folder") -> Path:
    """Create `path` as a folder or raise a GanLabError that says why it cannot be."""
    from gan_lab.errors import GanLabError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GanLabError(f"The {what} {path} is a file; give a folder path instead.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GanLabError(f"Cannot create the {what} {path}: {err.strerror}.") from err
    if not os.access(path, os.W_OK):
        raise GanLabError(f"The {what} {path} is not writable; choose another path.")
    return path
