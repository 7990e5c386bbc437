"""The identity grid: one saved face rendered under many head poses and expressions, as a
dataset folder (PNG per image + grid.csv of the parameters behind each + a contact sheet).

Angles become latent steps through the calibration curves shipped with the directions
(`editing.calibrate`: median measured yaw/pitch change along the direction). An angle beyond
what the generator can draw is clipped to the nearest reachable one and marked so in the CSV;
with `measure=True` the classifier's yaw and pitch of every image are written beside the
requested ones, so the CSV says what the pictures show, not only what was asked.
"""

import csv
import shutil
from pathlib import Path

import numpy as np
from tqdm.std import tqdm  # plain text: reads right in a log and in a stored notebook

from gan_lab import images, latent, paths, recipe, runtime
from gan_lab.runtime.style import editable, space_of
from gan_lab.editing import Hold
from gan_lab.errors import GanLabError
from gan_lab.metrics import face_attributes
from gan_lab.modelfolder import ModelFolder
from gan_lab.pose_plan import EXPRESSIONS, angle_to_step, angles, drawable, latents, plan  # noqa: F401  (the grid's API)

UPSCALER = "face-sr"  # the shipped super-resolution model


def model_folder(face) -> Path:
    """The model folder a recipe names: a path, or a name under the shipped models/."""
    candidates = [Path(face.model)]
    try:
        candidates.append(paths.shipped(face.model))
    except GanLabError:  # no shipped models configured; the recipe must name a folder
        pass
    for candidate in candidates:
        if (candidate / "directions.json").exists():
            return candidate
    raise GanLabError(f"Cannot find model {face.model!r} with its directions.json (looked in "
                      f"{' and '.join(str(c) for c in candidates)}); pass --model FOLDER.")


def upscaled(pictures, method, size):
    """Enlarge uint8 faces: 'bilinear' or 'sr' (the shipped super-resolution model, OpenVINO)."""
    if method == "bilinear":
        return images.bilinear(pictures, size)
    if method == "sr":
        return runtime.load_upscaler(ModelFolder.shipped(UPSCALER).file("sr", "openvino")).upscale(pictures, size)
    raise GanLabError(f"Unknown upscaling {method!r}; choose 'bilinear' or 'sr'.")


def render(face_path, out, yaw=60.0, step=5.0, pitch=(0.0,), expressions=("neutral",), backend="openvino",
           upscale=None, size=256, measure=True, model=None, progress=True, hold=True) -> Path:
    """Write the identity grid of the face saved at `face_path` into `out`; returns grid.csv.
    `hold`: keep the face's locked attributes as the classifier reads them (editing.Hold)."""
    face = recipe.Recipe.load(face_path)
    folder = Path(model) if model else model_folder(face)
    generator = editable(folder, backend)  # in W for a style-based model
    face.check_space(space_of(generator), f"the model {folder.name}")
    directions = latent.Directions.load(folder / "directions.json")
    rows = plan(directions, yaw, step, pitch, expressions)
    held = _hold(folder) if hold and face.locks else None
    z = latents(face, directions, rows, held, generator.sample_latents)
    out = paths.writable_dir(out, "grid folder")
    (out / "images").mkdir(exist_ok=True)
    shutil.copyfile(face_path, out / "face.json")
    small = np.concatenate([generator.generate(z[i:i + 64]) for i in tqdm(range(0, len(z), 64), desc="render",
                                                                         disable=not progress)])
    if measure:
        _measure(small, rows)
    big = upscaled(small, upscale, size) if upscale else small
    for i, (row, picture) in enumerate(zip(rows, big)):
        row["file"] = f"images/{i:04d}_yaw{row['yaw']:+.0f}_pitch{row['pitch']:+.0f}_{row['expression']}.png"
        images.save_png(picture, out / row["file"])
    images.save_png(images.grid(small, cols=len(angles(yaw, step))), out / "contact_sheet.png", scale=2)
    return _write_csv(out / "grid.csv", rows, face, folder, backend, upscale, size if upscale else small.shape[1])


def _hold(folder):
    return Hold.for_model(folder)


def _measure(pictures, rows):
    """The classifier's yaw and pitch of each 64x64 image, next to what was asked."""
    scores = face_attributes.score(pictures, face_attributes.load_classifier())
    for row, y, p in zip(rows, scores["yaw"], scores["pitch"]):
        row["measured_yaw"], row["measured_pitch"] = round(float(y), 2), round(float(p), 2)


def _write_csv(path, rows, face, folder, backend, upscale, size) -> Path:
    common = {"model": folder.name, "seed": face.seed, "truncation": face.truncation, "backend": backend,
              "upscale": upscale or "none", "size": size}
    fields = ["file", *[k for k in rows[0] if k != "file"], *common]
    tmp = paths.temp_beside(path)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({**row, **common} for row in rows)
    tmp.replace(path)  # written last and atomically: a grid.csv means the folder is complete
    return path


def turn(folder, yaw=60.0, step=5.0, people=30, seed=0, classifier=None) -> dict:
    """Turn `people` seeded faces of a model folder from -yaw to +yaw (neutral expression) and
    measure each picture: the yaw the classifier reads, and how far the face's features drift from
    its own frontal picture, in units of the mean distance between two people (1 = a stranger).
    Returns {"asked", "steps" (latent step per angle), "measured" (people x angles), "drift"}."""
    folder = Path(folder)
    directions = latent.Directions.load(folder / "directions.json")
    generator, classifier = editable(folder), classifier or face_attributes.load_classifier()
    rows = plan(directions, yaw, step, (0.0,), ("neutral",))
    measured, drift, frontal = [], [], []
    for s in range(seed, seed + people):
        person = recipe.Recipe(model=folder.name, latent_dim=generator.latent_dim, seed=s, space=space_of(generator))
        scores = face_attributes.score(generator.generate(latents(person, directions, rows, sample=generator.sample_latents)),
                                       classifier)
        centre = scores["features"][len(rows) // 2]
        measured.append(scores["yaw"])
        drift.append(np.linalg.norm(scores["features"] - centre, axis=1))
        frontal.append(centre)
    frontal = np.array(frontal)
    between = np.linalg.norm(frontal - np.roll(frontal, 1, axis=0), axis=1).mean()
    return {"asked": np.array([r["yaw"] for r in rows]), "steps": np.array([r["yaw_step"] for r in rows]),
            "measured": np.array(measured), "drift": np.array(drift) / between}


def turn_summary(result, tolerance=1.0) -> dict:
    """Is the turn monotone? Angles beyond reach share the clipped end step (the same picture), so
    only distinct steps are judged: the median measured yaw must rise at each, and per person, the
    share whose own yaw never falls back by more than `tolerance` degrees."""
    distinct = np.r_[True, np.diff(result["steps"]) > 1e-6]
    median = np.median(result["measured"], axis=0)[distinct]
    rising = np.diff(median) > 0
    own = np.mean([np.all(np.diff(row[distinct]) > -tolerance) for row in result["measured"]])
    return {"distinct_steps": int(distinct.sum()), "median_from": float(median[0]), "median_to": float(median[-1]),
            "rising": int(rising.sum()), "of": int(len(rising)), "monotone": bool(rising.all()),
            "people_monotone": float(own),
            "drift_at_ends": [round(float(d), 2) for d in np.median(result["drift"], axis=0)[[0, -1]]]}
