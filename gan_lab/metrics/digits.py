"""Quality figures for generated digits, always beside the same figures for real digits.

A digit classifier that gan_lab trains on the same data gives: the share of samples it
classifies with confidence >= 0.9, how often each digit appears (mode coverage), and
the Fréchet distance between feature statistics of two image sets (in the classifier's
128-d feature space).
"""

import shutil
import time
from pathlib import Path

import keras
import numpy as np

from gan_lab import modelfolder, paths
from gan_lab.data import mnist
from gan_lab.errors import GanLabError
from gan_lab.metrics.frechet import frechet_distance
from gan_lab.modelfolder import classifier_dir
from gan_lab.models.classifiers import digit_cnn, digit_lenet
from gan_lab.repro import seed_everything
from gan_lab.runtime import load_generator

CONFIDENCE = 0.9
CLASSIFIER_NAME = "digit-classifier"
SECOND_NAME = "digit-classifier-lenet"  # the second judge: another architecture, trained apart
JUDGES = {CLASSIFIER_NAME: (digit_cnn, 0, 15), SECOND_NAME: (digit_lenet, 1, 20)}  # builder, seed, epochs


def train_digit_classifier(seed=0, epochs=15, batch_size=64, verbose=1, name=CLASSIFIER_NAME):
    """Train judge `name` on the MNIST train split; return (model, held-out accuracy, info)."""
    seed_everything(seed)
    train, test = mnist.load("train", verbose=False), mnist.load("test", verbose=False)
    model = JUDGES[name][0]()
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, epochs * (len(train) // batch_size))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(mnist.dataset(train.images, batch_size, seed, labels=train.labels), epochs=epochs, verbose=verbose)
    _, accuracy = model.evaluate(test.images, test.labels, batch_size=512, verbose=0)
    info = {"architecture": model.name, "data_source": train.source, "train_images": len(train),
            "test_images": len(test),
            "test_accuracy": round(float(accuracy), 4), "epochs": epochs, "seed": seed,
            "train_seconds": round(time.perf_counter() - start, 1)}
    return model, float(accuracy), info


def digit_classifier(retrain=False, verbose=1, name=CLASSIFIER_NAME):
    """Load digit judge `name` (safe_mode), training and caching it the first time."""
    if name not in JUDGES:
        raise GanLabError(f"Unknown digit classifier {name!r}; the judges are {', '.join(JUDGES)}.")
    path = classifier_dir(name) / "classifier.keras"
    if path.exists() and not retrain:
        return _load_classifier(path)
    with paths.cache_lock(name) as folder:
        if (folder / "classifier.keras").exists() and not retrain:  # another process trained it meanwhile
            return _load_classifier(folder / "classifier.keras")
        _, seed, epochs = JUDGES[name]
        model, accuracy, info = train_digit_classifier(seed, epochs, verbose=verbose, name=name)
        folder.mkdir(parents=True, exist_ok=True)
        modelfolder.save_keras(model, folder / "classifier.keras")
        modelfolder.write_info(folder, **info)
    print(f"Digit classifier: {accuracy:.2%} on {info['test_images']:,} held-out digits; cached in {paths.shown(folder)}.")
    return model


def _load_classifier(path):
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as err:
        raise GanLabError(f"The cached digit classifier {path} is unreadable ({err}); delete it to retrain.") from err


def classify(images, classifier, batch_size=500):
    """(probabilities (n, 10), features (n, 128)) for images in [-1, 1]."""
    both = keras.Model(classifier.input, [classifier.output, classifier.get_layer("features").output])
    images = np.asarray(images, np.float32)
    parts = [both(images[i:i + batch_size], training=False) for i in range(0, len(images), batch_size)]
    return tuple(np.concatenate([keras.ops.convert_to_numpy(p[k]) for p in parts]) for k in (0, 1))


def digit_figures(probs, feats, reference_feats) -> dict:
    """Confident share, per-digit frequency and Fréchet distance to reference features."""
    frequencies = np.bincount(probs.argmax(1), minlength=10) / len(probs)
    return {
        "samples": len(probs),
        "confident_share": float((probs.max(1) >= CONFIDENCE).mean()),
        "digit_frequencies": [round(float(f), 4) for f in frequencies],
        "min_digit_share": float(frequencies.min()),
        "max_digit_share": float(frequencies.max()),
        "frechet_distance": frechet_distance(feats, reference_feats),
    }


def digit_quality(generated, real_test, real_train, classifier=None) -> dict:
    """Figures for generated digits and, beside them, for as many real held-out digits.

    The Fréchet distance of both is measured against the same number of real training
    digits, so "real" is the floor that a perfect generator would reach.
    """
    n = len(generated)
    if len(real_test) < n or len(real_train) < n:
        raise GanLabError(f"Need at least {n} real train and test digits to compare with {n} samples.")
    classifier = classifier or digit_classifier()
    _, ref_feats = classify(real_train[:n], classifier)
    gen = digit_figures(*classify(generated, classifier), ref_feats)
    real = digit_figures(*classify(real_test[:n], classifier), ref_feats)
    return {"generated": gen, "real": real}


def digit_table(figures) -> str:
    """A small text table of digit_quality's output."""
    rows = [f"{'':10s} {'confident':>9s} {'min digit':>9s} {'max digit':>9s} {'Fréchet':>8s}"]
    for name in ("generated", "real"):
        f = figures[name]
        rows.append(f"{name:10s} {f['confident_share']:9.1%} {f['min_digit_share']:9.1%} "
                    f"{f['max_digit_share']:9.1%} {f['frechet_distance']:8.2f}")
    rows.append(f"({figures['generated']['samples']:,} samples each; confidence >= {CONFIDENCE})")
    return "\n".join(rows)


def ship_classifier(name=CLASSIFIER_NAME) -> Path:
    """Copy the cached classifier into models/ (a default notebook run does this once)."""
    shipped = paths.shipped(name)
    if not (shipped / "classifier.keras").exists():
        shutil.copytree(paths.cache_dir() / name, shipped, dirs_exist_ok=True)
    return shipped


def both_judges(generated, real_test, real_train) -> dict:
    """digit_quality by the lab's CNN and by the second judge (a LeNet-style CNN trained apart)."""
    return {name: digit_quality(generated, real_test, real_train, digit_classifier(name=name, verbose=0))
            for name in JUDGES}


def conditional_quality(generate, classifier, per_class=100, seed=0, latent_dim=100, classes=10) -> dict:
    """For a class-conditional generator (`generate(z, labels) -> images in [-1, 1]`): of `per_class`
    samples asked for each class, the share read as that class with confidence >= CONFIDENCE."""
    z = np.random.default_rng(seed).standard_normal((per_class * classes, latent_dim)).astype(np.float32)
    labels = np.repeat(np.arange(classes), per_class)
    probs, _ = classify(generate(z, labels), classifier)
    hit = (probs.argmax(1) == labels) & (probs.max(1) >= CONFIDENCE)
    shares = [round(float(hit[labels == c].mean()), 4) for c in range(classes)]
    return {"per_class": per_class, "shares": shares, "mean": round(float(np.mean(shares)), 4),
            "weakest": int(np.argmin(shares)), "weakest_share": float(min(shares))}


def judge(generator, samples=1_000, seed=1) -> dict:
    """Both judges on a generator from `runtime.load_generator`: {judge: digit_quality} of `samples`
    seeded samples for an unconditional one; {judge: conditional_quality} for a conditional one."""
    if generator.conditional:
        return {name: conditional_quality(generator.generate_raw, digit_classifier(name=name, verbose=0),
                                          per_class=samples // generator.num_classes, seed=seed,
                                          latent_dim=generator.latent_dim, classes=generator.num_classes)
                for name in JUDGES}
    real_test, real_train = mnist.load("test", verbose=False).images, mnist.load("train", verbose=False).images
    return both_judges(generator.generate_raw(generator.sample_latents(samples, seed)), real_test, real_train)


def ship_score(figures) -> float:
    """One number that ranks digit generators (higher is better) by the stricter of the two judges:
    the share read confidently less how far the rarest and the commonest digit stray outside
    6%-14% (unconditional), or the mean share read as the asked digit (conditional)."""
    def one(f):
        if "mean" in f:
            return f["mean"]
        g = f["generated"]
        return g["confident_share"] - max(0.0, 0.06 - g["min_digit_share"]) - max(0.0, g["max_digit_share"] - 0.14)
    return round(min(one(f) for f in figures.values()), 4)


def judge_folder(folder, **judge_options) -> float:
    """`ship_score` of the generator.keras in a model or run folder (for modelfolder.ship_if_better)."""
    return ship_score(judge(load_generator(Path(folder) / "generator.keras"), **judge_options))
