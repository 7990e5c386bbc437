"""Direction finding and the direction report, on a generator and judge whose truth is known."""

import numpy as np
import pytest

from gan_lab import GanLabError, editing, latent, plots

NAMES = ["Smiling", "Male", "Eyeglasses"]


def generate(z):
    """The 'image' is the latent itself: the judge below reads it exactly."""
    return np.asarray(z, np.float32)


def score(images):
    """Attribute k is on when coordinate k > 0 (steep sigmoid); features are the latent."""
    return {"attributes": 1 / (1 + np.exp(np.clip(-20 * images[:, :3], -50, 50))), "features": images}


def test_found_directions_point_along_the_true_axes():
    z, scores = editing.scored_samples(generate, score, 2000, 8, seed=1)
    for method in ("regression", "svm"):
        d = editing.find_directions(z, scores["attributes"], NAMES, ["Smiling", "Male"], method=method)
        assert d.names == ["Smiling", "Male"] and d.method == method
        assert d["Smiling"][0] > 0.9 and d["Male"][1] > 0.9


def test_unknown_attribute_or_method_is_refused():
    z, scores = editing.scored_samples(generate, score, 50, 8)
    with pytest.raises(GanLabError, match=r"Unknown attribute\(s\) \['Bald'\]; the classifier knows: Smiling"):
        editing.find_directions(z, scores["attributes"], NAMES, ["Bald"])
    with pytest.raises(GanLabError, match="Unknown direction method 'lda'"):
        editing.find_directions(z, scores["attributes"], NAMES, method="lda")


def test_report_measures_success_entanglement_and_the_effect_of_locks():
    tilted = latent.unit([[1, 1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]])  # Smiling drags Male along
    d = latent.Directions(["Smiling", "Male"], tilted)
    rows, matrix = editing.direction_report(generate, score, d, NAMES, step=4.0, n=400, seed=2)
    smiling = rows[0]
    assert smiling["success"] > 0.95 and matrix.shape == (2, 3)
    assert smiling["entanglement"] == pytest.approx((matrix[0, 1] + matrix[0, 2]) / 2)
    assert matrix[0, 1] > 0.3 and matrix[0, 2] == 0.0  # moves Male, never Eyeglasses
    assert smiling["identity_shift"] > 0 and np.isnan(smiling["locked_flips"])

    locked, locked_matrix = editing.direction_report(generate, score, d, NAMES, step=4.0, n=400, seed=2,
                                                     locks=["Male"])
    assert locked[0]["locked_flips"] == 0.0 and locked_matrix[0, 1] == 0.0
    assert locked[0]["success"] > 0.9  # still edits what it should

    fig = plots.plot_flip_heatmap(matrix, d.names, NAMES)
    assert fig.axes[0].images[0].get_array().shape == (2, 3)
