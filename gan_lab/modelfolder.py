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
