"""Latent maths: sampling, truncation, interpolation, the three ways to find directions, locking."""

import numpy as np
import pytest

from gan_lab import GanLabError, latent

DIM = 16


@pytest.fixture(scope="module")
def synthetic():
    """Latents and attribute scores from a known linear model: attribute k rises along w_k."""
    rng = np.random.default_rng(0)
    w = latent.unit(rng.standard_normal((2, DIM)))
    z = latent.sample(4000, DIM, seed=1)
    logits = 3 * z @ w.T + 0.3 * rng.standard_normal((4000, 2))
    return z, 1 / (1 + np.exp(-logits)), w


def test_same_seed_same_latents_and_truncation_ends():
    z = latent.sample(5, DIM, seed=3)
    np.testing.assert_array_equal(z, latent.sample(5, DIM, seed=3))
    assert z.dtype == np.float32 and not np.array_equal(z, latent.sample(5, DIM, seed=4))
    np.testing.assert_allclose(latent.truncate(z, 1.0), z)
    np.testing.assert_allclose(latent.truncate(z, 0.0), 0)
    mean = np.ones(DIM)
    np.testing.assert_allclose(latent.truncate(z, 0.5, mean), 1 + 0.5 * (z - 1), rtol=1e-6)


def test_lerp_and_slerp_hit_the_ends_and_slerp_keeps_the_radius():
    a, b = np.eye(DIM)[0] * 4, np.eye(DIM)[1] * 4
    for f in (latent.lerp, latent.slerp):
        path = f(a, b, np.linspace(0, 1, 5))
        np.testing.assert_allclose(path[0], a, atol=1e-6)
        np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(latent.slerp(a, b, np.linspace(0, 1, 7)), axis=1), 4, rtol=1e-5)
    assert np.linalg.norm(latent.lerp(a, b, 0.5)) == pytest.approx(4 / np.sqrt(2), rel=1e-5)
    np.testing.assert_allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)  # parallel: lerp


@pytest.mark.parametrize("fit", [latent.regression_directions, latent.svm_directions])
def test_directions_recover_the_true_attribute_axes(fit, synthetic):
    z, scores, w = synthetic
    found = fit(z, scores)
    assert found.shape == (2, DIM)
    np.testing.assert_allclose(np.linalg.norm(found, axis=1), 1, rtol=1e-5)
    assert np.all(np.sum(found * w, axis=1) > 0.97)  # cosine with the truth


def test_svm_refuses_an_attribute_that_never_varies(synthetic):
    z, _, _ = synthetic
    with pytest.raises(GanLabError, match="all of the .* extreme samples fall on one side"):
        latent.svm_directions(z, np.full(len(z), 0.9))


def test_mismatched_scores_are_refused(synthetic):
    z, scores, _ = synthetic
    with pytest.raises(GanLabError, match="one score row per latent"):
        latent.regression_directions(z, scores[:10])


def test_pca_finds_the_dominant_feature_axis_and_maps_it_to_z():
    z = latent.sample(3000, DIM, seed=2)
    axis = np.eye(DIM)[3]
    features = np.outer(z @ axis, np.arange(1, 9)) * 5 + 0.1 * z[:, :8]  # one strong factor, driven by z[3]
    directions, explained = latent.pca_directions(features, z, k=3)
    assert directions.shape == (3, DIM) and explained[0] > 0.9 and np.all(np.diff(explained) <= 0)
    assert abs(directions[0] @ axis) > 0.99


def test_locking_leaves_locked_scores_alone(synthetic):
    z, scores, w = synthetic
    found = latent.regression_directions(z, scores)
    free = latent.orthogonalize(found[0], [found[1]])
    assert abs(free @ found[1]) < 1e-6 and np.linalg.norm(free) == pytest.approx(1, rel=1e-6)
    assert free @ found[0] > 0  # still moves the free attribute
    np.testing.assert_allclose(latent.conditional(found[0], [found[1]]), free, atol=1e-6)
    # locking against several, with one repeated: the repeat adds nothing
    third = latent.unit(np.random.default_rng(5).standard_normal(DIM))[0]
    several = latent.orthogonalize(found[0], [found[1], third, found[1]])
    assert abs(several @ found[1]) < 1e-6 and abs(several @ third) < 1e-6
    with pytest.raises(GanLabError, match="length zero"):
        latent.orthogonalize(found[1], [found[1]])


def test_directions_save_and_load_without_pickle(tmp_path, synthetic):
    z, scores, _ = synthetic
    d = latent.Directions(["Smiling", "Male"], latent.regression_directions(z, scores), info={"samples": len(z)})
    saved = d.save(tmp_path / "faces-dcgan-directions")
    assert saved.suffix == ".json" and (tmp_path / "faces-dcgan-directions.npz").exists()
    again = latent.Directions.load(tmp_path / "faces-dcgan-directions")
    assert again.names == ["Smiling", "Male"] and again.info == {"samples": len(z)} and again.latent_dim == DIM
    np.testing.assert_array_equal(again["Male"], d["Male"])
    assert abs(again.locked("Smiling", ["Male", "Smiling"]) @ again["Male"]) < 1e-6
    with pytest.raises(GanLabError, match="No direction 'Eyeglasses'; these exist: Smiling, Male"):
        again["Eyeglasses"]


def test_a_mismatched_or_incomplete_pair_is_refused(tmp_path):
    d = latent.Directions(["a", "b"], np.eye(4)[:2])
    d.save(tmp_path / "dirs")
    np.savez(tmp_path / "dirs.npz", vectors=np.eye(4)[:3])
    with pytest.raises(GanLabError, match="does not belong together"):
        latent.Directions.load(tmp_path / "dirs")
    (tmp_path / "dirs.json").unlink()
    with pytest.raises(GanLabError, match="dirs.json is missing"):
        latent.Directions.load(tmp_path / "dirs.npz")
    with pytest.raises(GanLabError, match="2 names for 3 directions"):
        latent.Directions(["a", "b"], np.eye(4)[:3])
