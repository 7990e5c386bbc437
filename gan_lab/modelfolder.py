"""A model folder: per network a stem (generator, mapping, synthesis, a2b, b2a, sr, encoder,
classifier) with `.keras`, `.onnx` and `.xml` + `.bin`, named variants (`generator-int8.xml`),
`model.json` describing it all, and `directions.npz`/`.json` for an editable generator.

    folder = ModelFolder(paths.shipped("mnist"))
    folder.file("generator", "openvino")            # .../generator.xml
    folder.file("generator", "openvino", "int8")    # .../generator-int8.xml
    folder.conversion("generator")["parity"]
"""

import json
import os
import shutil
from pathlib import Path

from gan_lab import paths
from gan_lab.errors import GanLabError
from gan_lab import backends

SHIPPED = (*(f"{stem}{suffix}" for stem in ("generator", "mapping", "synthesis")
             for suffix in (".keras", ".onnx", ".xml", ".bin")), "encoder.keras", "model.json")


def read_info(folder) -> dict:
    """model.json of `folder`, or {} when there is none (a bare model file); a corrupt one is an error."""
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
    tmp = paths.temp_beside(path)
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def save_keras(model, path) -> Path:
    """Save a Keras model atomically: a crash mid-write leaves any previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.temp_beside(path, ".keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def ship(run_folder, to, names=SHIPPED) -> list:
    """Copy a run's model files (those of `names` it has) into a shipped model folder, each
    atomically; model.json last, so a folder with model.json is complete. A new generator drops
    the old one's files that the run does not replace: its INT8 IR (`gan-lab convert --int8`
    makes a new one) and its edit directions (notebook 08 finds new ones)."""
    run_folder, to = Path(run_folder), Path(to)
    to.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in sorted(names, key=lambda n: n == "model.json"):
        if (run_folder / name).exists():
            tmp = paths.temp_beside(to / name)
            shutil.copyfile(run_folder / name, tmp)
            os.replace(tmp, to / name)
            copied.append(name)
    if not copied:
        raise GanLabError(f"{run_folder} holds none of {', '.join(names)}; nothing to ship.")
    if "generator.keras" in copied:  # the old generator's other files (INT8 IR, edit directions) go with it
        for stale in [*to.glob("generator*"), *to.glob("mapping*"), *to.glob("synthesis*"), *to.glob("directions.*")]:
            if stale.name not in copied:
                stale.unlink()
    return copied


def classifier_dir(name) -> Path:
    """A judge's folder (e.g. "digit-classifier"): the shipped one when there is one, else the cache."""
    try:
        shipped = paths.shipped(name)
    except GanLabError:  # no shipped models here (a wheel without GAN_LAB_MODELS): the cache
        shipped = None
    return shipped if shipped and (shipped / "classifier.keras").exists() else paths.cache_dir() / name


class ModelFolder:
    """One model folder on disk (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def shipped(cls, name, models=None) -> "ModelFolder":
        """A shipped model by name, under `models` or `paths.models_dir()`."""
        folder = cls(paths.shipped(name, models))
        folder.info  # noqa: B018 -- refuse a missing or broken folder now, with the reason
        return folder

    def __repr__(self):
        return f"ModelFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def info(self) -> dict:
        """model.json, which a model folder must have."""
        if not self.path.is_dir():
            raise GanLabError(f"{self.path} is not a model folder (no such folder).")
        if not (self.path / "model.json").exists():
            raise GanLabError(f"{self.path} has no model.json, so it is not a complete model folder; convert or "
                              "ship the model again (gan-lab convert MODEL.keras --out FOLDER writes it).")
        return read_info(self.path)

    def write_info(self, **info) -> Path:
        return write_info(self.path, **info)

    def file(self, stem="generator", backend="openvino", precision=None) -> Path:
        """The file of network `stem` for `backend` (name or label), e.g. generator-int8.xml."""
        suffix = backends.named(backend).suffix
        return self.path / f"{stem}{'-' + precision if precision else ''}{suffix}"

    def files(self, stem="generator") -> dict:
        """{variant: path} of the formats present: keras, onnxruntime, openvino, openvino-int8."""
        found = {b.name: self.file(stem, b.name) for b in backends.BACKENDS}
        found["openvino-int8"] = self.file(stem, "openvino", "int8")
        return {k: v for k, v in found.items() if v.exists()}

    def backends(self, stem="generator") -> list:
        """The registry's backends that can open network `stem` here."""
        return [b for b in backends.BACKENDS if self.file(stem, b.name).exists()]

    @property
    def stems(self) -> list:
        return sorted({p.name.split(".")[0].split("-")[0] for p in self.path.glob("*")
                       if p.suffix in backends.SUFFIXES})

    @property
    def directions(self) -> Path:
        return self.path / "directions.json"

    def ablation(self) -> dict:
        """ablation.json: the recorded runs that chose the shipped training settings (same budget,
        with and without each part of the toolkit), as notebooks 01 and 05 show them."""
        path = self.path / "ablation.json"
        if not path.exists():
            raise GanLabError(f"{path} does not exist: no ablation was recorded for {self.name}.")
        return json.loads(path.read_text())

    def conversion(self, stem="generator") -> dict:
        """The conversion report of network `stem` (parity figures, sizes, the ovc command)."""
        info = self.info
        report = info.get("conversions", {}).get(stem)
        if report is None:
            raise GanLabError(f"{self.path}/model.json records no conversion of {stem!r}; "
                              f"run gan-lab convert {stem}.keras --out {self.path} --stem {stem}.")
        return report

    def record_conversion(self, stem, report, value_range=None, num_classes=None, shapes=None) -> Path:
        """Merge a conversion report (and, for a generator or upscaler, its shapes) into model.json."""
        info = read_info(self.path)
        extra = {"conversions": info.get("conversions", {}) | {stem: report}}
        if stem in ("generator", "sr"):
            extra |= {"value_range": value_range, **(shapes or {})}
        if num_classes:
            extra["num_classes"] = num_classes
        return write_info(self.path, **extra)


def ship_if_better(run_folder, to, judge, lower_is_better=True, names=SHIPPED) -> dict:
    """Ship the run's model into `to` only when it beats what is shipped there on the same judge,
    or when nothing is shipped yet. `judge(folder) -> float` scores a model folder; both folders
    are scored now, by the same call, so figures recorded under another judge never decide.
    Returns {"shipped", "run", "shipped_before", "reason"} for the notebook to print and record."""
    run_score = float(judge(Path(run_folder)))
    before = float(judge(Path(to))) if (Path(to) / "model.json").exists() else None
    better = before is None or (run_score < before if lower_is_better else run_score > before)
    if better:
        ship(run_folder, to, names)
    word = "lower" if lower_is_better else "higher"
    reason = ("nothing was shipped yet" if before is None else
              f"{run_score:.4g} vs the shipped {before:.4g} ({word} is better)")
    return {"shipped": better, "run": run_score, "shipped_before": before,
            "reason": ("shipped: " if better else "kept the shipped model: ") + reason}
