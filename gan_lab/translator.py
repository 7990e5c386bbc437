"""What a CycleGAN adds to the lab's tools: both directions exported, judged against the truth, files
translated.

    translator.export("runs/faces-cyclegan", "runs/faces-cyclegan")   # a2b.*, b2a.* with parity gates
    figures = translator.judge("runs/faces-cyclegan")                  # on held-out procedural people
    translator.translate_files("models/faces-cyclegan", ["me.jpg"], to="b", out="translated/")

The judge draws people that training never saw (`translation.HELDOUT_SEED`), each in both domains, so
a translation A -> B is compared with the true same person in B. The lab's face classifier reads
the domain a translation landed in, and its features say whether the person stayed the same.
"""

from pathlib import Path

import numpy as np

from gan_lab import backends, bench, convert, images, modelfolder
from gan_lab.data import domains, imagefiles
from gan_lab.errors import GanLabError
from gan_lab.metrics import face_attributes
from gan_lab.models.io import load_keras
from gan_lab.runtime import load_translator
from gan_lab.training.translation import HELDOUT_SEED

STEMS = ("a2b", "b2a")
SHIPPED = tuple(f"{stem}{suffix}" for stem in STEMS for suffix in (".keras", ".onnx", ".xml", ".bin")) + ("model.json",)


def attribute_of(folder) -> str:
    """The procedural toggle a translator was trained on (model.json), or a clear error."""
    source = modelfolder.read_info(folder).get("domains", {})
    if "procedural" not in source:
        raise GanLabError(f"{folder} was trained on folders {source}: no true pairs to judge it against; "
                          "judge takes a translator trained on procedural domains.")
    return source["procedural"]


def heldout(attribute, n=500, size=64) -> dict:
    """`n` people training never saw, each drawn in both domains (`domains.pairs`)."""
    return domains.pairs(n, attribute, size, seed=HELDOUT_SEED)


def psnr(x, y) -> np.ndarray:
    """Per-image PSNR in dB between uint8 batches."""
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))


def closer_than_others(features, truth, others=10, seed=0) -> np.ndarray:
    """For each i: is features[i] nearer (Euclidean) to truth[i] than to each of `others` other people's
    truth[j], j drawn at random?"""
    rng = np.random.default_rng(seed)
    n = len(features)
    picks = np.stack([rng.choice(np.delete(np.arange(n), i), others, replace=False) for i in range(n)])
    own = np.linalg.norm(features - truth, axis=1)
    rivals = np.linalg.norm(features[:, None] - truth[picks], axis=2).min(axis=1)
    return own < rivals


def translations(folder, pictures_a, pictures_b, backend="keras") -> dict:
    """a->b, b->a and both round trips (uint8) through `folder`'s two networks on `backend`."""
    suffix = backends.named(backend).suffix
    a2b, b2a = (load_translator(Path(folder) / f"{stem}{suffix}") for stem in STEMS)
    ab, ba = a2b.translate(pictures_a), b2a.translate(pictures_b)
    return {"ab": ab, "ba": ba, "aba": b2a.translate(ab), "bab": a2b.translate(ba)}


def judge(folder, n=500, backend="keras", classifier=None, others=10, seed=0) -> dict:
    """The translator's figures on `n` held-out procedural people (see the module docstring)."""
    attribute = attribute_of(folder)
    size = int(modelfolder.read_info(folder).get("image_shape", [64])[0])
    truth = heldout(attribute, n, size)
    out = translations(folder, truth["a"], truth["b"], backend)
    classifier = classifier or face_attributes.load_classifier()
    read = {k: face_attributes.score(v, classifier) for k, v in
            (("ab", out["ab"]), ("ba", out["ba"]), ("a", truth["a"]), ("b", truth["b"]))}
    cycle = lambda x, y: float(np.mean(np.abs(x.astype(np.float64) - y.astype(np.float64))))  # noqa: E731
    return {
        "attribute": attribute, "n": n, "backend": backend, "heldout_seed": HELDOUT_SEED,
        "a2b_read_as_b": float(domains.in_domain(read["ab"]["attributes"], attribute, "b").mean()),
        "b2a_read_as_a": float(domains.in_domain(read["ba"]["attributes"], attribute, "a").mean()),
        "real_b_read_as_b": float(domains.in_domain(read["b"]["attributes"], attribute, "b").mean()),
        "real_a_read_as_a": float(domains.in_domain(read["a"]["attributes"], attribute, "a").mean()),
        "a2b_identity_kept": float(closer_than_others(read["ab"]["features"], read["b"]["features"], others, seed).mean()),
        "b2a_identity_kept": float(closer_than_others(read["ba"]["features"], read["a"]["features"], others, seed).mean()),
        "a2b_psnr": float(psnr(out["ab"], truth["b"]).mean()), "a2b_psnr_no_change": float(psnr(truth["a"], truth["b"]).mean()),
        "b2a_psnr": float(psnr(out["ba"], truth["a"]).mean()), "b2a_psnr_no_change": float(psnr(truth["b"], truth["a"]).mean()),
        "cycle_aba_mae_255": cycle(out["aba"], truth["a"]), "cycle_bab_mae_255": cycle(out["bab"], truth["b"]),
    }


def export(run, out=None, parity_pictures=64, verbose=True) -> dict:
    """Convert the run's a2b.keras and b2a.keras to ONNX and IR in `out` (default the run folder), each
    checked on pictures of its own input domain (held-out procedural people, or the run's folders)."""
    run = Path(run)
    out = Path(out or run)
    info = modelfolder.read_info(run)
    size = int(info.get("image_shape", [64])[0])
    source = info.get("domains", {})
    if "procedural" in source:
        truth = heldout(source["procedural"], parity_pictures, size)
        inputs = {"a2b": truth["a"], "b2a": truth["b"]}
    else:
        a, b = domains.read(source["a"], source["b"], size, verbose=False)
        inputs = {"a2b": a.images[:parity_pictures], "b2a": b.images[:parity_pictures]}
    reports = {}
    for stem in STEMS:
        if out != run:
            modelfolder.save_keras(load_keras(run / f"{stem}.keras"), out / f"{stem}.keras")
        reports[stem] = convert.convert(run / f"{stem}.keras", out, stem=stem, images=inputs[stem],
                                        image_size=size, verbose=verbose)
    return reports


def translate_files(folder, files, to="b", out="translated", backend="openvino") -> list:
    """Translate image files (any size, read as the folder reader reads them) into domain `to`, written
    as PNGs of the model's size in `out`, one per input, named after it. Returns the written paths."""
    if to not in ("a", "b"):
        raise GanLabError(f"--to must be 'a' or 'b' (the target domain), not {to!r}.")
    stem = "a2b" if to == "b" else "b2a"
    translator = load_translator(Path(folder) / f"{stem}{backends.named(backend).suffix}")
    size = int(translator.image_shape[0])
    paths = [Path(f) for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise GanLabError(f"No such image file(s): {', '.join(missing)}.")
    decoded = imagefiles.read_files(paths, size, cache=False)
    for index, reason in decoded.skipped:
        print(f"skipped {paths[index]}: {reason}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, picture in zip(decoded.kept, translator.translate(decoded.images) if len(decoded.kept) else []):
        written.append(images.save_png(picture, out / f"{paths[index].stem}-to-{to}.png"))
    return written


TARGETS = {"read_as_target": 0.90, "identity_kept": 0.90, "cycle_mae_255": 8.0}  # issue 16's targets


def ship_score(figures) -> float:
    """One number to rank translators (lower is better; <= 1 means every target is met): the worst
    ratio of a figure to its target, over both directions' domain reading and identity and the
    A -> B -> A cycle error."""
    t = TARGETS
    return max(t["read_as_target"] / max(figures["a2b_read_as_b"], 1e-6),
               t["read_as_target"] / max(figures["b2a_read_as_a"], 1e-6),
               t["identity_kept"] / max(figures["a2b_identity_kept"], 1e-6),
               t["identity_kept"] / max(figures["b2a_identity_kept"], 1e-6),
               figures["cycle_aba_mae_255"] / t["cycle_mae_255"])


def judge_folder(folder, **judge_options) -> float:
    """`ship_score` of a translator folder, judged now (for `modelfolder.ship_if_better`)."""
    return ship_score(judge(folder, **judge_options))


def speed(folder, stem="a2b", batches=(1, 16), seconds=1.0, repeats=3, size=64) -> list:
    """Images/s and median latency of `stem` on each backend whose file is in `folder`, at each batch
    size; backends interleaved repeat by repeat (so a busy moment hurts them alike), median kept."""
    pictures = heldout(domains.DEFAULT_ATTRIBUTE, max(batches), size)["a"]
    runners = {b.label: load_translator(Path(folder) / f"{stem}{b.suffix}") for b in backends.BACKENDS
               if (Path(folder) / f"{stem}{b.suffix}").exists()}
    rows = []
    for batch in batches:
        x = images.to_float(pictures[:batch])
        runs = {name: ([], []) for name in runners}
        for _ in range(repeats):
            for name, t in runners.items():
                rate, latencies = bench.time_requests(t.translate_raw, lambda: x, seconds)
                runs[name][0].append(rate)
                runs[name][1].extend(latencies)
        rows += [{"backend": name, "batch": batch, "images_per_s": round(float(np.median(rates)), 1),
                  "latency_ms_p50": round(float(np.median(lat)), 2)} for name, (rates, lat) in runs.items()]
    return rows
