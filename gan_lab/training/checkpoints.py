"""Checkpoints that survive a crash: each is written to a temporary folder and then
renamed into place in one atomic step, so a write cut off midway leaves the previous
checkpoint as it was, and a reader never sees half a checkpoint.

A checkpoint folder `ckpt-000020/` holds one `.keras` file per model (weights and
architecture, loadable with safe_mode), `optimizers.npz` (optimizer slots, RNG state)
and `state.json` (epoch and the run's configuration), written last.
"""

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from gan_lab.errors import GanLabError

PREFIX = "ckpt-"


def _fsync_tree(folder: Path) -> None:
    for path in list(folder.iterdir()) + [folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(folder, epoch: int, models: dict, optimizers: dict, config: dict, rng_state=None, keep: int = 3,
         **state) -> Path:
    """Write checkpoint `epoch` under `folder` atomically; keep the newest `keep`. `state`: more
    of the run's state for state.json (e.g. the training seconds spent so far)."""
    folder = Path(folder)
    final = folder / f"{PREFIX}{epoch:06d}"
    tmp = folder / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, model in models.items():
        model.save(tmp / f"{name}.keras")
    arrays = {f"{name}/{i}": np.asarray(v) for name, opt in optimizers.items() for i, v in enumerate(opt.variables)}
    if rng_state is not None:
        arrays["rng_state"] = np.asarray(rng_state)
    np.savez(tmp / "optimizers.npz", **arrays)
    (tmp / "state.json").write_text(json.dumps({"epoch": epoch, "config": config, **state}, indent=2))
    _fsync_tree(tmp)
    if final.exists():  # re-saving the same epoch: move the old one aside first
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_tree(folder)
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(folder) -> list:
    """Complete checkpoints under `folder`, oldest first (temporary folders are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def latest(folder):
    found = list_checkpoints(folder)
    return found[-1] if found else None


def read_state(ckpt) -> dict:
    try:
        return json.loads((Path(ckpt) / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise GanLabError(f"Checkpoint {ckpt} is corrupt (state.json: {err}); delete that folder "
                          "to resume from the one before it.") from err


def check_config(ckpt, config: dict) -> None:
    """Refuse to resume a run whose architecture differs from the checkpoint's."""
    saved = read_state(ckpt)["config"]
    now = json.loads(json.dumps(config))  # as saved: tuples become lists
    keys = ("model", "arch", "latent_dim", "g_widths", "d_widths", "base", "d_base", "loss", "image_shape",
            "upsample", "d_norm", "image_size", "width", "blocks", "d_width", "d_layers", "skip")
    diff = {k: (saved.get(k), now.get(k)) for k in keys if k in saved and saved[k] != now.get(k)}
    if diff:
        said = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise GanLabError(f"Cannot resume from {ckpt}: it was trained with a different setup ({said}). "
                          "Use the checkpoint's settings, or a new --out folder.")


def restore(ckpt, models: dict, optimizers: dict) -> dict:
    """Load weights and optimizer slots from `ckpt` into live, built objects; return its state."""
    ckpt = Path(ckpt)
    state = read_state(ckpt)
    try:
        for name, model in models.items():
            saved = keras.saving.load_model(ckpt / f"{name}.keras", safe_mode=True, compile=False)
            model.set_weights(saved.get_weights())
        with np.load(ckpt / "optimizers.npz", allow_pickle=False) as arrays:
            for name, opt in optimizers.items():
                _assign_optimizer(opt, [arrays[f"{name}/{i}"] for i in range(_count(arrays, name))])
            state["rng_state"] = arrays["rng_state"] if "rng_state" in arrays.files else None
    except GanLabError:
        raise
    except Exception as err:
        raise GanLabError(f"Checkpoint {ckpt} is corrupt or does not match this model ({err}); delete that "
                          "folder to resume from the one before it.") from err
    return state


def _count(arrays, name) -> int:
    return sum(1 for k in arrays.files if k.startswith(f"{name}/"))


def _assign_optimizer(opt, values) -> None:
    """Restore `opt`'s step and moments; its learning rate stays the one this run was built with.
    Keras keeps a constant rate as the variable after `iteration` and a schedule as no variable, so
    a run may resume with another --lr, or switch --lr-decay, from the same checkpoint."""
    variables = [v for v in opt.variables if not v.path.endswith("/learning_rate")]
    if len(values) == len(variables) + 1:  # the checkpoint's constant rate: [iteration, rate, moments...]
        values = values[:1] + values[2:]
    _assign(variables, values)


def _assign(variables, values) -> None:
    if len(variables) != len(values):
        raise GanLabError(f"the optimizer has {len(variables)} slots, the checkpoint {len(values)}")
    for var, value in zip(variables, values):
        var.assign(value)
