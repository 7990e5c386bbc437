"""The end of every face notebook, one sequence in one place: judge the run's generator beside
the shipped one on the same judge, convert it through the parity-gated pipeline, time one face
through OpenVINO, write the run's card, and ship it only if it beats the shipped model.

    compared = release.judge_beside_shipped(result.out, "../models/faces-dcgan", n=1000)
    exported = release.convert_and_time(result.out, seed=0)
    decision = release.finish(result.out, "../models/faces-dcgan", compared["this run"], exported, made_by={...})
"""

from pathlib import Path

import numpy as np

from gan_lab import bench, convert, modelfolder
from gan_lab.metrics import face_attributes, two_sample
from gan_lab.runtime import load_generator


def judge_beside_shipped(run_folder, shipped_folder, **judge) -> dict:
    """The face judge (`face_attributes.judge`, same samples and seed) on the run's generator.keras
    and on the shipped one, if there is one: {"this run": figures, "shipped model": figures}."""
    out = {}
    for label, folder in (("this run", Path(run_folder)), ("shipped model", Path(shipped_folder))):
        if (folder / "generator.keras").exists():
            generator = load_generator(folder / "generator.keras")
            out[label] = face_attributes.judge(generator.generate, generator.latent_dim, **judge)
    return out


def convert_and_time(run_folder, seed=0, seconds=3.0) -> dict:
    """Convert the run's generator.keras to ONNX and OpenVINO IR beside it (each step gated on
    parity), then time one face at a time through OpenVINO: {"report", "generator" (the
    OpenVINO one), "median_ms", "p95_ms", "calls"}."""
    run_folder = Path(run_folder)
    report = convert.convert(run_folder / "generator.keras", run_folder, seed=seed)
    generator = load_generator(run_folder / "generator.xml")
    _, latencies = bench.time_requests(generator.generate, lambda: generator.sample_latents(1, seed), seconds=seconds)
    return {"report": report, "generator": generator, "median_ms": float(np.median(latencies)),
            "p95_ms": float(np.percentile(latencies, 95)), "calls": len(latencies)}


def finish(run_folder, ship_to, quality, exported, made_by, **info) -> dict:
    """Write the run's card (quality summary, judge, OpenVINO latency, who made it, `info`), then,
    when `ship_to` is set, ship it only if it beats the model there on the judge that measured
    `quality` (same samples, seed and data; both folders scored now). Returns modelfolder.ship_if_better's decision, or {"shipped": False,
    "reason": ...} when nothing is to be shipped (a quick run)."""
    modelfolder.write_info(run_folder, quality=face_attributes.summary(quality), judge=quality["judge"],
                           openvino_latency_ms={"median": round(exported["median_ms"], 3), "p95": round(exported["p95_ms"], 3)},
                           made_by=made_by, **_two_sample(run_folder, quality["judge"]), **info)
    if not ship_to:
        return {"shipped": False, "reason": "not shipped: this run ships nowhere (a quick run never touches models/)"}
    same = {k: quality["judge"][k] for k in ("n", "seed", "data", "n_faces")}
    return modelfolder.ship_if_better(run_folder, ship_to, lambda folder: face_attributes.judge_folder(folder, **same))


def _two_sample(run_folder, judge) -> dict:
    """{"two_sample": the share of the run's faces a classifier two-sample test catches, on the judge's
    faces}, for its card; {} when the judge drew too few faces to train the detector (a quick run)."""
    if judge["n"] < two_sample.MIN_IMAGES:
        return {}
    generator = load_generator(Path(run_folder) / "generator.keras")
    result = two_sample.judge(generator.generate, generator.latent_dim, judge["n"], judge["seed"], judge["data"],
                              judge["n_faces"])
    return {"two_sample": two_sample.card(result)}
