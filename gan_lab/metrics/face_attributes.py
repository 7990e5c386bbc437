"""Quality figures for generated faces, through an attribute classifier gan_lab trains itself.

The classifier (`models.classifiers.face_attribute_cnn`) reads a face and returns the 40
CelebA attribute probabilities, the head's yaw and pitch, and a 256-d feature vector. From it:
- the Fréchet distance between generated and real faces in its feature space, always beside
  the real-vs-real reference (two disjoint real sets of the same size): the floor a perfect
  generator would reach with that many samples;
- per-attribute rates (share with p >= 0.5) of generated faces against the real ones.
"""

import time
from pathlib import Path

import keras
import numpy as np

from gan_lab import convert, modelfolder, paths
from gan_lab.errors import GanLabError
from gan_lab.images import to_float
from gan_lab.data import face_sets
from gan_lab.metrics.frechet import frechet_distance
from gan_lab.modelfolder import classifier_dir
from gan_lab.models.classifiers import face_attribute_cnn
from gan_lab.repro import seed_everything
from gan_lab.runtime import load_generator
from gan_lab.runtime.classifier import NAME as CLASSIFIER_NAME
from gan_lab.runtime.classifier import POSE_SCALE, STEM, as_scores, ir_is_current, source_digest


def as_labels(attributes) -> np.ndarray:
    """CelebA's -1/1 (or 0/1, or booleans) -> float32 0/1."""
    return (np.asarray(attributes) > 0).astype(np.float32)


def head_pose(data) -> np.ndarray:
    """(n, 2) yaw, pitch in degrees: the labels when the data has them (procedural faces),
    else a rough estimate from CelebA's five landmarks (nose offset from the eyes' midline)."""
    if data.pose is not None:
        return np.asarray(data.pose, np.float32)
    if data.landmarks is None:
        raise GanLabError(f"{data.root} has neither pose labels nor landmarks to estimate head pose from.")
    eye_l, eye_r, nose = (data.landmarks[:, i:i + 2].astype(np.float32) for i in (0, 2, 4))
    mouth = (data.landmarks[:, 6:8] + data.landmarks[:, 8:10]).astype(np.float32) / 2
    eyes = (eye_l + eye_r) / 2
    span = np.maximum(np.linalg.norm(eye_r - eye_l, axis=1), 1.0)
    yaw = np.degrees(np.arcsin(np.clip(2 * (nose[:, 0] - eyes[:, 0]) / span, -1, 1)))
    height = np.maximum(mouth[:, 1] - eyes[:, 1], 1.0)  # nose sits ~45% of the way down when level
    pitch = np.degrees(np.arcsin(np.clip(2 * ((nose[:, 1] - eyes[:, 1]) / height - 0.45), -1, 1)))
    return np.stack([yaw, pitch], 1)


def train_face_classifier(train, val, epochs=12, batch_size=64, seed=0, verbose=1):
    """Fit the attribute CNN on `train` (a `celeba.read` result: images, attributes, pose or
    landmarks) and report on `val`. Returns (model, report): accuracy per attribute, the mean
    over the attributes that vary in the data (constant columns would flatter it), pose errors.
    """
    seed_everything(seed)
    model = face_attribute_cnn(train.images.shape[1], len(train.attribute_names))
    steps = epochs * (len(train) // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                  loss={"attributes": "binary_crossentropy", "pose": keras.losses.Huber(0.1)})
    targets = {"attributes": as_labels(train.attributes), "pose": head_pose(train) / POSE_SCALE}
    start = time.perf_counter()
    model.fit(to_float(train.images), targets, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
    report = evaluate(model, val)
    report.update(attribute_names=list(train.attribute_names), train_images=len(train), epochs=epochs, seed=seed,
                  image_size=int(train.images.shape[1]), train_seconds=round(time.perf_counter() - start, 1),
                  pose_source="labels" if train.pose is not None else "landmarks (estimate)")
    return model, report


def evaluate(model, data) -> dict:
    """Held-out accuracy per attribute, mean over varying attributes, median |yaw|/|pitch| error."""
    names = list(data.attribute_names)
    scores = score(data.images, model)
    truth = as_labels(data.attributes).astype(bool)
    accuracy = ((scores["attributes"] >= 0.5) == truth).mean(0)
    varying = [i for i in range(len(names)) if 0 < truth[:, i].mean() < 1]
    pose = head_pose(data)
    return {"test_images": len(data),
            "accuracy": {names[i]: round(float(accuracy[i]), 4) for i in range(len(names))},
            "mean_accuracy": round(float(accuracy[varying].mean()), 4) if varying else float("nan"),
            "varying_attributes": [names[i] for i in varying],
            "yaw_median_error": round(float(np.median(np.abs(scores["yaw"] - pose[:, 0]))), 2),
            "pitch_median_error": round(float(np.median(np.abs(scores["pitch"] - pose[:, 1]))), 2)}


def three_outputs(classifier) -> keras.Model:
    """The classifier with its attributes, pose and features as three outputs (in that order)."""
    return keras.Model(classifier.input, [classifier.output["attributes"], classifier.output["pose"],
                                          classifier.get_layer("features").output])


def classifier_ir(folder=None) -> Path:
    """The classifier's OpenVINO IR (classifier.xml, FP32, for `runtime.classifier.FaceClassifier`)
    beside its classifier.keras: converted by the lab's pipeline and checked against Keras when it is
    missing or was made from another classifier.keras."""
    folder = Path(folder or classifier_dir(CLASSIFIER_NAME))
    if not ir_is_current(folder):
        report = convert.convert(three_outputs(load_classifier(folder)), folder, stem=STEM, fp32=True, verbose=False)
        (folder / f"{STEM}.onnx").unlink()  # the IR is what runs; the ONNX step is checked and dropped
        report["sizes_bytes"].pop(f"{STEM}.onnx")
        report |= {"source_model": "classifier.keras (outputs: attributes, pose, features)",
                   "source_sha256": source_digest(folder)}
        modelfolder.ModelFolder(folder).record_conversion(STEM, report)
    return folder / f"{STEM}.xml"


def score(images, classifier, batch_size=256) -> dict:
    """{"attributes" (n, 40) probabilities, "yaw", "pitch" (degrees), "features" (n, 256)}."""
    both = three_outputs(classifier)
    images = np.asarray(images)
    parts = [both(to_float(images[i:i + batch_size]), training=False) for i in range(0, len(images), batch_size)]
    return as_scores(*(np.concatenate([keras.ops.convert_to_numpy(p[k]) for p in parts]) for k in range(3)))


def attribute_rates(probabilities, names) -> dict:
    """Share of faces the classifier calls positive (p >= 0.5), per attribute."""
    rates = (np.asarray(probabilities) >= 0.5).mean(0)
    return {name: round(float(r), 4) for name, r in zip(names, rates)}


def face_quality(generated, real, classifier, names, second_real=None) -> dict:
    """Generated faces against real ones, with the real-vs-real reference beside them.

    The reference is a second real set of the same size measured against `real` the same way.
    Pass it as `second_real`, ideally of other people (CelebA's val vs test split): generated
    faces are new people, and photos of the same person would flatter the reference. Without
    it, `real` must hold twice as many faces and is cut in two.
    """
    n = len(generated)
    if second_real is None:
        if len(real) < 2 * n:
            raise GanLabError(f"Need at least {2 * n} real faces to judge {n} generated ones "
                              f"(two disjoint real sets of {n}); got {len(real)}.")
        real, second_real = real[:n], real[n:2 * n]
    if len(real) < n or len(second_real) < n:
        raise GanLabError(f"Need two real sets of at least {n} faces; got {len(real)} and {len(second_real)}.")
    gen, ref, other = (score(x[:n], classifier) for x in (generated, real, second_real))
    gen_rates, real_rates = attribute_rates(gen["attributes"], names), attribute_rates(ref["attributes"], names)
    gaps = {k: round(gen_rates[k] - real_rates[k], 4) for k in names}
    return {"samples": n,
            "rate_gap_se": gap_standard_errors(gen_rates, real_rates, n, n),
            "frechet_distance": frechet_distance(gen["features"], ref["features"]),
            "frechet_real_vs_real": frechet_distance(other["features"], ref["features"]),
            "rates_generated": gen_rates, "rates_real": real_rates, "rate_gaps": gaps,
            "max_rate_gap": max(abs(v) for v in gaps.values()),
            "yaw_std": {"generated": float(gen["yaw"].std()), "real": float(ref["yaw"].std())},
            "feature_spread": {"generated": _spread(gen["features"]), "real": _spread(ref["features"])}}


def gap_standard_errors(gen_rates, real_rates, n_generated, n_real) -> dict:
    """Each attribute gap's standard error from sampling alone (two independent binomial rates):
    with 1,000 faces a side a gap of 30% rates is known to about ±2 points, so a target of
    10 points is met or missed by less than that only by the luck of the latents."""
    return {k: round(float(np.sqrt(g * (1 - g) / n_generated + real_rates[k] * (1 - real_rates[k]) / n_real)), 4)
            for k, g in gen_rates.items()}


def _spread(features) -> float:
    """sqrt(trace(covariance)): how far faces lie from their mean in the classifier's features (diversity)."""
    return float(np.sqrt(np.var(np.asarray(features, np.float64), axis=0).sum()))


def face_table(figures, names=None) -> str:
    """A text table of face_quality's output: Fréchet with its reference, then rates per attribute."""
    rows = [f"Fréchet distance ({figures['samples']:,} faces each): generated {figures['frechet_distance']:.2f}, "
            f"real vs real {figures['frechet_real_vs_real']:.2f} "
            f"(ratio {figures['frechet_distance'] / figures['frechet_real_vs_real']:.2f})",
            f"{'attribute':22s} {'generated':>9s} {'real':>6s} {'gap':>6s}"]
    for name in names or figures["rates_real"]:
        rows.append(f"{name:22s} {figures['rates_generated'][name]:9.1%} {figures['rates_real'][name]:6.1%} "
                    f"{figures['rate_gaps'][name]:+6.1%}")
    return "\n".join(rows)


def attribute_misses(figures, max_gap=0.10) -> tuple:
    """(the attribute farthest from the real rate, the attributes more than `max_gap` from it)."""
    gaps = figures["rate_gaps"]
    return max(gaps, key=lambda k: abs(gaps[k])), [k for k, v in gaps.items() if abs(v) > max_gap]


def check_targets(figures, max_gap=0.10, max_ratio=3.0) -> str:
    """The face-model targets in words: every attribute rate within `max_gap` of the real
    faces', and a Fréchet distance at most `max_ratio` x the real-vs-real reference."""
    worst, over = attribute_misses(figures, max_gap)
    ratio = figures["frechet_distance"] / figures["frechet_real_vs_real"]
    return "\n".join([
        f"attribute rates within {max_gap:.0%} of the real faces: {'met' if not over else 'NOT met'} "
        f"(largest gap {figures['rate_gaps'][worst]:+.1%} ± {figures['rate_gap_se'][worst]:.1%}, {worst}; "
        f"{len(over)} attribute(s) outside: {', '.join(over) or '-'})",
        f"Fréchet distance <= {max_ratio:g}x real vs real: {'met' if ratio <= max_ratio else 'NOT met'} "
        f"({figures['frechet_distance']:.1f} vs {figures['frechet_real_vs_real']:.1f}, ratio {ratio:.2f}, "
        f"{figures['samples']:,} faces each)"])


def save_classifier(model, report, folder) -> Path:
    """Write classifier.keras, model.json (its held-out figures) and the classifier's IR into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    modelfolder.save_keras(model, folder / "classifier.keras")
    modelfolder.write_info(folder, **report)  # atomic, like the .keras beside it
    classifier_ir(folder)
    return folder


def load_classifier(folder=None):
    """The face classifier (safe_mode) from `folder`, the shipped one, or the cache."""
    path = Path(folder or classifier_dir(CLASSIFIER_NAME)) / "classifier.keras"
    if not path.exists():
        raise GanLabError(f"No face classifier at {path}; train one with "
                          "gan_lab.metrics.face_attributes.train_face_classifier (notebook 04 does it).")
    return keras.saving.load_model(path, safe_mode=True)


def judge(generate, latent_dim, n=1_000, seed=1, data="procedural", n_faces=20_000, classifier=None) -> dict:
    """The one judge of a face generator: `n` faces from seeded latents (`generate(z) -> uint8`,
    e.g. `load_generator(path).generate`) against `n` real test faces of unseen people, with the
    real-vs-real reference from the validation split, by the shipped attribute classifier.
    Two generators are comparable only through the same judge (same n, seed, data and classifier)."""
    test = face_sets.read(data, "test", n=n_faces, verbose=False)
    val = face_sets.read(data, "val", n=n_faces, verbose=False)
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    generated = np.concatenate([generate(z[i:i + 250]) for i in range(0, n, 250)])
    figures = face_quality(generated, test.images, classifier or load_classifier(), list(test.attribute_names),
                           second_real=val.images)
    real, other = test.images[:n], val.images[:n]
    figures |= {"frechet_pixels": frechet_distance(layout(generated), layout(real)),
                "frechet_pixels_real_vs_real": frechet_distance(layout(other), layout(real))}
    return figures | {"judge": {"n": n, "seed": seed, "data": str(data), "n_faces": n_faces,
                                "classifier": CLASSIFIER_NAME}}


def layout(pictures, size=16) -> np.ndarray:
    """Faces as 16x16 colour thumbnails (area averages, [0, 1]): the Fréchet distance of these sees
    the layout a person sees first (a head, hair around it, a body below), which the classifier's
    features can miss: early in training they ranked coloured blobs above recognisable faces."""
    n, h, w, c = np.shape(pictures)
    small = np.asarray(pictures, np.float32).reshape(n, size, h // size, size, w // size, c).mean(axis=(2, 4))
    return small.reshape(n, -1) / 255.0


def summary(figures) -> dict:
    """The figures the face targets name (Fréchet ratio, worst attribute gap, yaw spread share), and
    the layout Fréchet ratio (16x16 thumbnails) beside them when the judge measured it."""
    pixels = figures.get("frechet_pixels")
    layout_ratio = {"layout_frechet_ratio": round(pixels / figures["frechet_pixels_real_vs_real"], 3)} if pixels else {}
    return layout_ratio | {"frechet_ratio": round(figures["frechet_distance"] / figures["frechet_real_vs_real"], 3),
            "max_rate_gap": round(figures["max_rate_gap"], 4),
            "yaw_spread": round(figures["yaw_std"]["generated"] / figures["yaw_std"]["real"], 3)}


def card_quality(figures) -> dict:
    """What a model card keeps of the judge's figures: the summary, and beside it the distances, the 40
    attribute gaps and the spreads it came from (so a card can be read again without judging)."""
    kept = ("samples", "frechet_distance", "frechet_real_vs_real", "rate_gaps", "rate_gap_se", "yaw_std",
            "feature_spread")
    return summary(figures) | {k: figures[k] for k in kept}


def ship_score(figures) -> float:
    """One number that ranks face generators (lower is better): the worse of the two Fréchet
    ratios, so a model must look right both as a picture (layout) and to the classifier (features);
    either alone misranked the 4-minute ablation runs."""
    figures = summary(figures)
    return max(figures["layout_frechet_ratio"], figures["frechet_ratio"])


def recorded_score(folder) -> float:
    """`ship_score` as a model card recorded it (its `quality`, measured by `judge`): the worse of the
    layout and feature Fréchet ratios it holds. Ranks shipped models without judging them again."""
    quality = modelfolder.read_info(folder).get("quality") or {}
    ratios = [quality.get("layout_frechet_ratio"), quality.get("frechet_ratio")]
    if ratios[1] is None and "frechet_distance" in quality:
        ratios[1] = quality["frechet_distance"] / quality["frechet_real_vs_real"]
    ratios = [r for r in ratios if r is not None]
    if not ratios:
        raise GanLabError(f"{folder}/model.json records no face quality; judge the model (face_attributes.judge).")
    return float(max(ratios))


def best_face_models(names=("faces-stylegan", "faces-dcgan", "faces-vae"), models=None) -> dict:
    """{name: recorded score} of the shipped face generators, best (lowest) first."""
    found = {n: recorded_score(paths.shipped(n, models)) for n in names
             if (paths.shipped(n, models) / "model.json").exists()}
    return dict(sorted(found.items(), key=lambda item: item[1]))


def judge_folder(folder, **judge_options) -> float:
    """`ship_score` of the generator.keras in a model or run folder (for modelfolder.ship_if_better)."""
    generator = load_generator(Path(folder) / "generator.keras")
    return ship_score(judge(generator.generate, generator.latent_dim, **judge_options))
