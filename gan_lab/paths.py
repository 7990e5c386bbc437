"""Where things live: the shipped models, run folders and the cache.

Shipped models are found through `GAN_LAB_MODELS` (or an explicit argument), and only when that
is unset, in the `models/` folder of the source checkout this package runs from; a wheel
installed elsewhere therefore works as soon as `GAN_LAB_MODELS` names a models folder.
"""

import contextlib
import os
from pathlib import Path

from filelock import FileLock

from gan_lab.errors import GanLabError

CHECKOUT = Path(__file__).resolve().parents[1]  # the repository, when running from a source checkout


def models_dir(folder=None) -> Path:
    """The shipped-models folder: `folder`, else `$GAN_LAB_MODELS`, else the checkout's models/."""
    chosen = folder or os.environ.get("GAN_LAB_MODELS")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            source = "the folder given" if folder else "GAN_LAB_MODELS"
            raise GanLabError(f"{source} points at {path}, which is not a folder; set it to the models/ folder "
                              "of a gan_lab checkout (or wherever you keep shipped models).")
        return path
    if (CHECKOUT / "models").is_dir() and (CHECKOUT / "pyproject.toml").exists():
        return CHECKOUT / "models"
    raise GanLabError("No shipped models found: set GAN_LAB_MODELS to a models/ folder (the one in the gan_lab "
                      "repository holds the trained generators and classifiers).")


def shipped(name, folder=None) -> Path:
    """The shipped model folder `name` (e.g. "face-classifier")."""
    return models_dir(folder) / name


def shown(path) -> str:
    """`path` as a reader should see it in a message or a stored notebook: relative to the
    repository when inside it, under ~ when in the home folder, never the machine's absolute path."""
    path = Path(path).expanduser().resolve()
    for base, prefix in ((CHECKOUT, ""), (Path.home().resolve(), "~/")):
        if path.is_relative_to(base) and (base != CHECKOUT or (CHECKOUT / "pyproject.toml").exists()):
            return prefix + str(path.relative_to(base)) if path != base else (prefix.rstrip("/") or ".")
    return str(path)


def runs_dir() -> Path:
    """Run folders of notebooks: `$GAN_LAB_RUNS`, else runs/ in the checkout (git-ignored), else ./runs."""
    chosen = os.environ.get("GAN_LAB_RUNS")
    if chosen:
        return Path(chosen).expanduser()
    return CHECKOUT / "runs" if (CHECKOUT / "pyproject.toml").exists() else Path("runs").resolve()


def cache_dir() -> Path:
    """Downloads and derived artifacts: `$GAN_LAB_CACHE`, else `~/.cache/gan_lab`."""
    path = Path(os.environ.get("GAN_LAB_CACHE", Path.home() / ".cache" / "gan_lab"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def cache_lock(name):
    """Hold the cache entry `name` while it is checked and built, so that two processes asking for it
    at once (two test workers, a notebook beside a command) build it once; the other waits, then reads."""
    with FileLock(str(cache_dir() / f".{name}.lock")):
        yield cache_dir() / name


def temp_beside(path, suffix="") -> Path:
    """A temporary name next to `path` for an atomic write (then `os.replace`): hidden and unique
    to this process, so two processes writing the same file never write into one temporary file."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")


def writable_dir(path, what="output folder") -> Path:
    """Create `path` as a folder or raise a GanLabError that says why it cannot be."""
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
