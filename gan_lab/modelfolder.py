"""A model folder: generator.keras (+ .onnx, .xml/.bin later) and model.json describing it."""

import json
import os
from pathlib import Path

from gan_lab.errors import GanLabError


def read_info(folder) -> dict:
    path = Path(folder) / "model.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise GanLabError(f"{path} is not valid JSON ({err}); fix or delete it.") from err


def write_info(folder, **info) -> Path:
    """Merge `info` into folder/model.json (written atomically)."""
    path = Path(folder) / "model.json"
    merged = read_info(folder) | info
    tmp = path.with_name(".model.json.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def save_keras(model, path) -> Path:
    """Save a Keras model atomically: a crash mid-write leaves any previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


SHIPPED = ("generator.keras", "generator.onnx", "generator.xml", "generator.bin", "encoder.keras", "model.json")


def ship(run_folder, to, names=SHIPPED) -> list:
    """Copy a run's model files (those of `names` it has) into a shipped model folder, each
    atomically; model.json last, so a folder with model.json is complete."""
    import shutil

    run_folder, to = Path(run_folder), Path(to)
    to.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in sorted(names, key=lambda n: n == "model.json"):
        if (run_folder / name).exists():
            tmp = to / f".{name}.tmp"
            shutil.copyfile(run_folder / name, tmp)
            os.replace(tmp, to / name)
            copied.append(name)
    if not copied:
        raise GanLabError(f"{run_folder} holds none of {', '.join(names)}; nothing to ship.")
    return copied
