"""The end of every face notebook, one sequence in one place: judge the run's generator beside
the shipped one on the same judge, convert it through the parity-gated pipeline, time one face
through OpenVINO, write the run's card, and ship it only if it beats the shipped model.

    compared = release.judge_beside_shipped(result.out, "../models/faces-dcgan", n=1000)
    exported = release.convert_and_time(result.out, seed=0)
    decision = release.finish(result.out, "../models/faces-dcgan", compared["this run"], exported, made_by={...})

`ship_run` is the same sequence from the shell (`gan-lab ship RUN --epoch N`): a long background run's
chosen epoch becomes a model folder inside the run, and is shipped only if it beats the shipped model.
"""

import csv
import shutil
from pathlib import Path

import numpy as np

from gan_lab import bench, convert, modelfolder, paths, style_space
from gan_lab.errors import GanLabError
from gan_lab.metrics import face_attributes, two_sample
from gan_lab.runtime import load_generator
from gan_lab.training import runs


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
    return {"report": report} | time_one_face(run_folder, seed, seconds)


def time_one_face(folder, seed=0, seconds=3.0) -> dict:
    """One face at a time through the folder's generator.xml: {"generator", "median_ms", "p95_ms", "calls"}."""
    generator = load_generator(Path(folder) / "generator.xml")
    _, latencies = bench.time_requests(generator.generate, lambda: generator.sample_latents(1, seed), seconds=seconds)
    return {"generator": generator, "median_ms": float(np.median(latencies)),
            "p95_ms": float(np.percentile(latencies, 95)), "calls": len(latencies)}


def finish(run_folder, ship_to, quality, exported, made_by, **info) -> dict:
    """Write the run's card (quality summary, judge, OpenVINO latency, who made it, `info`), then,
    when `ship_to` is set, ship it only if it beats the model there on the judge that measured
    `quality` (same samples, seed and data; both folders scored now). Returns modelfolder.ship_if_better's decision, or {"shipped": False,
    "reason": ...} when nothing is to be shipped (a quick run)."""
    modelfolder.write_info(run_folder, quality=face_attributes.card_quality(quality), judge=quality["judge"],
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


def ship_run(run, epoch=None, to=None, note=None, **judge) -> dict:
    """Release a face training run: its final generator, or the averaged generator of its kept checkpoint
    `epoch`, becomes the model folder RUN/releases/epoch-N (judged, exported with parity gates, timed,
    its card naming the run's commands, the epoch and `note`), shipped to `to` (default: the shipped
    folder of the run's architecture) only if it beats the model there. `judge`: `face_attributes.judge`
    options (default: the shipped models' judge). Returns finish()'s decision with "folder" and "summary"."""
    run = Path(run)
    card = modelfolder.read_info(run)
    if card.get("architecture") not in ("dcgan", "stylegan", "vae") or card.get("image_shape") != [64, 64, 3]:
        raise GanLabError(f"{run} is not a finished face training run (its model.json names no 64x64 face "
                          "architecture; the judge reads those); give the --out folder of `gan-lab train "
                          "dcgan|stylegan|vae`.")
    epoch = int(card["epochs"] if epoch is None else epoch)
    final = epoch == card["epochs"] and (run / "generator.keras").exists()
    model = None if final else runs.checkpoint_generator(run, epoch)  # refused before anything is written
    out = run / "releases" / f"epoch-{epoch}"
    out.mkdir(parents=True, exist_ok=True)
    if final:  # the run's own files (a VAE ships its encoder too)
        for name in ("generator.keras", "encoder.keras"):
            if (run / name).exists():
                shutil.copyfile(run / name, out / name)
    else:
        modelfolder.save_keras(model, out / "generator.keras")
    seconds = _seconds_until(run, epoch, card)
    dropped = ("commands", "quality", "judge", "two_sample", "made_by")  # the run's, not this release's
    modelfolder.write_info(out, **{k: v for k, v in card.items() if k not in dropped} | {
        "epochs": epoch, "train_seconds": seconds, "total_train_seconds": seconds})
    generator = load_generator(out / "generator.keras")
    quality = face_attributes.judge(generator.generate, generator.latent_dim, **judge)
    precision = _export(out, card.get("style_based", False))
    made_by = {"commands": card.get("commands", []), "run": paths.shown(run), "epoch": epoch,
               "train_minutes": round(seconds / 60, 1), "budget_minutes": card.get("budget_minutes")}
    made_by |= {"note": note} if note else {}
    ship_to = to or paths.shipped(f"faces-{card['architecture']}")
    decision = finish(out, str(ship_to), quality, time_one_face(out), made_by=made_by, ir_weights=precision)
    return decision | {"folder": out, "epoch": epoch, "summary": face_attributes.summary(quality)}


def _seconds_until(run, epoch, card) -> float:
    """Training seconds of the run's epochs up to `epoch`, from its history.csv (the card's total without one)."""
    history = Path(run) / "history.csv"
    if not history.exists():
        return float(card.get("total_train_seconds", card.get("train_seconds", 0.0)))
    with open(history, newline="") as f:
        return round(sum(float(r["seconds"]) for r in csv.DictReader(f) if int(r["epoch"]) <= epoch), 1)


def _export(folder, style_based) -> str:
    """Convert the folder's generator (a style-based one as its three networks); FP16 IR weights unless
    a network misses the parity gate, then FP32 for that network (a generator whose raw outputs reach
    beyond [-1, 1]). Returns the generator IR's precision."""
    keras_file = Path(folder) / "generator.keras"
    if not style_based:
        return convert.convert(keras_file, folder, fp32_fallback=True, verbose=False)["ir_precision"]
    try:
        reports = style_space.export(keras_file, folder, fp32_fallback=True, verbose=False)
    except GanLabError as err:  # mapping -> synthesis missed the chain's FP16 tolerance
        print(f"{err}; exporting every network with FP32 weights.")
        reports = style_space.export(keras_file, folder, fp32=True, verbose=False)
    return reports["generator"]["ir_precision"]
