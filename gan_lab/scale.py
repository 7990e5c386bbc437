"""Many faces at once: a folder of PNGs plus a CSV, rendered in shards by Ray Data's pool of OpenVINO
actors (or by the same code in this process, to compare).

    job = scale.Job("models/faces-stylegan", n=10_000, seed=0)                 # 10,000 seeded faces
    job = scale.Job("models/faces-stylegan", n=50, kind="people", yaw=60)      # 50 people x the pose grid
    summary = scale.run(job, "datasets/faces", engine="ray")                   # or engine="local"

A shard is a run of consecutive seeds; its CSV (shards/NNNNN.csv) is written last and atomically, so
a shard with a CSV is done. A run that stops resumes with the same job: finished shards are skipped,
an unfinished one is drawn again under the same file names (the same seeds give the same pictures),
so nothing is done twice and no file is duplicated. A folder holding another job's files is refused.
At the end the shards' rows become one CSV (faces.csv or people.csv) in seed order.
"""

import csv
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.std import tqdm

# Nothing here imports TensorFlow: each Ray Data actor imports this module, and a process that only renders
# (OpenVINO) and measures faces (the classifier's IR) starts in about a second.
from gan_lab import cluster, images, latent, modelfolder, paths, pose_plan, recipe
from gan_lab.errors import GanLabError
from gan_lab.runtime import classifier as face_classifier
from gan_lab.runtime import cpu_share
from gan_lab.runtime.style import editable, space_of

VERSION = 1


@dataclass(frozen=True)
class Job:
    """What to render: `n` faces (kind "faces") or `n` people each under the pose/expression grid
    (kind "people", `gan_lab.pose_plan.plan`), from seeds seed..seed+n-1 of a model folder."""

    model: str
    n: int
    seed: int = 0
    kind: str = "faces"
    shard_size: int = 500  # faces per shard ("people": people per shard)
    truncation: float = 1.0
    measure: bool = True  # the face classifier's attributes, yaw and pitch in the CSV
    yaw: float = 60.0
    step: float = 15.0
    pitch: tuple = (0.0,)
    expressions: tuple = ("neutral",)
    version: int = VERSION

    def __post_init__(self):
        if self.kind not in ("faces", "people"):
            raise GanLabError(f"kind is 'faces' or 'people'; got {self.kind!r}.")
        if self.n < 1 or self.shard_size < 1 or self.seed < 0:
            raise GanLabError(f"Need n >= 1, shard_size >= 1 and seed >= 0; got {self.n}, {self.shard_size}, {self.seed}.")
        if not 0.0 <= self.truncation <= 1.0:
            raise GanLabError(f"truncation must be in [0, 1]; got {self.truncation}.")
        if not (Path(self.model) / "generator.xml").exists():
            raise GanLabError(f"{self.model} holds no generator.xml; convert the model first "
                              f"(gan-lab convert MODEL.keras --out {self.model}).")
        object.__setattr__(self, "pitch", tuple(float(p) for p in self.pitch))
        object.__setattr__(self, "expressions", tuple(self.expressions))

    def to_json(self) -> dict:
        return {**asdict(self), "model": Path(self.model).name, "pitch": list(self.pitch),
                "expressions": list(self.expressions)}

    def shards(self) -> list:
        """(index, first seed, count) of every shard."""
        return [(i, self.seed + start, min(self.shard_size, self.n - start))
                for i, start in enumerate(range(0, self.n, self.shard_size))]


def prepare(job: Job, out) -> Path:
    """The output folder for `job`: new, or holding this same job (resumed); any other content is refused."""
    if job.kind == "people":  # the pose grid's directions and expressions, checked before any work
        directions = Path(job.model) / "directions.json"
        if not directions.exists():
            raise GanLabError(f"{job.model} has no directions.json; the pose grid needs its yaw and pitch directions "
                              "(notebook 08 finds them).")
        pose_plan.plan(latent.Directions.load(directions), job.yaw, job.step, job.pitch, job.expressions)
    out = paths.writable_dir(out, "output folder")
    recorded = out / "job.json"
    if recorded.exists():
        theirs = json.loads(recorded.read_text())
        if theirs != job.to_json():
            changed = sorted(k for k in set(theirs) | set(job.to_json()) if theirs.get(k) != job.to_json().get(k))
            raise GanLabError(f"{paths.shown(out)} holds another run's files (its job.json differs in {changed}); "
                              "resume with the same settings, or choose a new folder.")
        return out
    if any(out.iterdir()):
        raise GanLabError(f"{paths.shown(out)} is not empty and holds no job.json: choose an empty folder, so "
                          "this run's files are not mixed with others.")
    tmp = paths.temp_beside(recorded)
    tmp.write_text(json.dumps(job.to_json(), indent=2) + "\n")
    os.replace(tmp, recorded)
    return out


def done(out, job) -> set:
    """Indices of the shards whose CSV is written (complete)."""
    return {i for i, _, _ in job.shards() if (Path(out) / "shards" / f"{i:05d}.csv").exists()}


class ShardWriter:
    """Renders shards of a job into its folder: the model and the face classifier (both OpenVINO) open once,
    in the constructor, so that as a Ray Data actor each process loads them once. Called with a batch
    {"shard": [indices]}, it returns {"shard", "images"} of the shards it wrote."""

    def __init__(self, job: dict, model: str, out: str, threads=None):
        self.job, self.out = Job(**{**job, "model": model}), Path(out)
        config = cpu_share(threads)
        self.generator = editable(model, "openvino", config=config)  # W for a style-based model
        self.classifier = face_classifier.FaceClassifier(classifier_folder(), config) if self.job.measure else None
        self.plan, self.directions = self.open_plan() if self.job.kind == "people" else ([None], None)

    def open_plan(self):
        directions = latent.Directions.load(Path(self.job.model) / "directions.json")
        rows = pose_plan.plan(directions, self.job.yaw, self.job.step, self.job.pitch, self.job.expressions)
        return rows, directions

    def __call__(self, batch: dict) -> dict:
        shards = [int(i) for i in batch["shard"]]
        written = [self.write(i) for i in shards]
        return {"shard": np.asarray(shards), "images": np.asarray(written)}

    def write(self, index) -> int:
        """Render shard `index`: its PNGs, then its CSV (atomically, last). Returns its number of images."""
        _, first, count = self.job.shards()[index]
        rows, z = self.latents(first, count)
        pictures = np.concatenate([self.generator.generate(z[i:i + 64]) for i in range(0, len(z), 64)])
        if self.classifier is not None:
            self.measure(pictures, rows)
        for row, picture in zip(rows, pictures):
            images.save_png(picture, self.out / row["file"])
        write_csv(self.out / "shards" / f"{index:05d}.csv", rows)
        return len(rows)

    def latents(self, first, count) -> tuple:
        """The CSV rows (file, seed, ...) and latents of `count` faces or people from seed `first`."""
        seeds = range(first, first + count)
        common = {"model": Path(self.job.model).name, "truncation": self.job.truncation}
        if self.job.kind == "faces":
            z = np.concatenate([self.generator.sample_latents(1, s) for s in seeds])
            rows = [{"file": f"images/{s:08d}.png", "seed": s, **common} for s in seeds]
            return rows, latent.truncate(z, self.job.truncation)
        rows, z = [], []
        for s in seeds:
            person = recipe.Recipe(model=common["model"], latent_dim=self.generator.latent_dim, seed=s,
                                   truncation=self.job.truncation, space=space_of(self.generator))
            z.append(pose_plan.latents(person, self.directions, self.plan, sample=self.generator.sample_latents))
            rows += [{"file": f"images/{s:08d}/{k:03d}_yaw{r['yaw']:+.0f}_pitch{r['pitch']:+.0f}_{r['expression']}.png",
                      "seed": s, **{key: r[key] for key in ("yaw", "pitch", "expression", "reachable")}, **common}
                     for k, r in enumerate(self.plan)]
        return rows, np.concatenate(z)

    def measure(self, pictures, rows):
        scores = self.classifier.score(pictures)
        for k, row in enumerate(rows):
            row["measured_yaw"], row["measured_pitch"] = round(float(scores["yaw"][k]), 2), round(float(scores["pitch"][k]), 2)
            row.update({name: round(float(p), 3) for name, p in zip(self.classifier.names, scores["attributes"][k])})


def classifier_folder() -> Path:
    return modelfolder.classifier_dir(face_classifier.NAME)




def write_csv(path, rows) -> Path:
    """Rows -> CSV, atomically (a crash mid-write leaves no CSV, so the shard counts as not done)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.temp_beside(path)
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def merge(out, job) -> Path:
    """The shards' CSVs, in order, as one CSV (faces.csv or people.csv)."""
    rows = []
    for index, _, _ in job.shards():
        with open(Path(out) / "shards" / f"{index:05d}.csv", newline="") as f:
            rows += list(csv.DictReader(f))
    return write_csv(Path(out) / f"{job.kind}.csv", rows)


def run(job: Job, out, engine="ray", actors=None, progress=True, address=None) -> dict:
    """Render `job` into `out` (resuming what a stopped run left). engine "ray": Ray Data's map_batches
    over a pool of `actors` ShardWriter actors (default: one per core, each with one OpenVINO thread);
    "local": the same ShardWriter in this process, with every core. Returns what was done and how long."""
    out = prepare(job, out)
    if job.measure:  # the actors' judge, checked here rather than in every actor
        face_classifier.check_ir(classifier_folder())
    todo = [i for i, _, _ in job.shards() if i not in done(out, job)]
    start, images_written = time.perf_counter(), 0
    bar = tqdm(total=len(job.shards()), initial=len(job.shards()) - len(todo), desc=f"{job.kind} shards",
               disable=not progress)
    if todo and engine == "local":
        writer = ShardWriter(job.to_json(), str(job.model), str(out))
        for i in todo:
            images_written += writer.write(i)
            bar.update()
    elif todo and engine == "ray":
        for row in ray_shards(job, out, todo, actors, address):
            images_written += int(row["images"])
            bar.update()
    elif todo:
        raise GanLabError(f"engine is 'ray' or 'local'; got {engine!r}.")
    bar.close()
    csv_path = merge(out, job)
    return {"engine": engine, "shards": len(job.shards()), "resumed_from": len(job.shards()) - len(todo),
            "images_written": images_written, "seconds": round(time.perf_counter() - start, 2), "csv": paths.shown(csv_path)}


def ray_shards(job, out, todo, actors=None, address=None):
    """Yield {"shard", "images"} as Ray Data's actor pool finishes each shard."""
    ray = cluster.init(address=address)
    actors = actors or int(ray.available_resources().get("CPU", 1))
    threads = max(1, (os.cpu_count() or 1) // actors) if not address else None
    data = ray.data.from_items([{"shard": i} for i in todo])
    with warnings.catch_warnings():  # max_restarts=0: a lost actor fails the run, which then resumes from its
        warnings.simplefilter("ignore")  # finished shards (Ray 2.60 deprecates passing it here, for 2.64)
        written = data.map_batches(ShardWriter, batch_size=1, compute=ray.data.ActorPoolStrategy(size=actors),
                                   num_cpus=1, max_restarts=0,
                                   fn_constructor_args=(job.to_json(), str(Path(job.model).resolve()),
                                                        str(Path(out).resolve()), threads))
    yield from written.iter_rows()


@dataclass
class Figures:
    """Files found in a finished folder: what a resumed run must reproduce exactly."""

    files: list = field(default_factory=list)
    rows: int = 0
    unique_seeds: int = 0


def inspect(out, job) -> Figures:
    """The PNGs under `out`/images and the rows of its merged CSV."""
    out = Path(out)
    files = sorted(str(p.relative_to(out)) for p in (out / "images").rglob("*.png"))
    with open(out / f"{job.kind}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return Figures(files=files, rows=len(rows), unique_seeds=len({r["seed"] for r in rows}))
