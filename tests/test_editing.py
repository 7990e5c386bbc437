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


def posed_score(images):
    """The judge above, plus a head pose read off coordinates 3 (yaw) and 4 (pitch)."""
    return {**score(images), "yaw": 10 * images[:, 3], "pitch": 5 * images[:, 4]}


def test_recommended_step_is_the_smallest_that_reaches_the_target():
    d = latent.Directions(["Smiling", "Male"], latent.unit([[1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]))
    steps = editing.recommend_steps(generate, score, d, NAMES, steps=(0.5, 1.0, 2.0, 3.0), n=300, seed=3)
    assert list(steps["Smiling"]["by_step"]) == [0.5, 1.0, 2.0, 3.0]
    curve = steps["Smiling"]["by_step"]
    assert steps["Smiling"]["reached"] and curve[steps["Smiling"]["step"]] >= 0.9
    assert all(rate < 0.9 for s, rate in curve.items() if s < steps["Smiling"]["step"])
    assert steps["Male"]["step"] > steps["Smiling"]["step"]  # a tilted direction needs a longer step


def test_pose_directions_and_calibration_recover_the_true_pose_axes():
    z, scores = editing.scored_samples(generate, posed_score, 2000, 8, seed=4)
    pose = editing.pose_directions(z, scores)
    assert pose.names == ["yaw", "pitch"] and pose["yaw"][3] > 0.99 and pose["pitch"][4] > 0.99
    assert pose.info["degrees_per_step"] == {"yaw": pytest.approx(10, rel=1e-3), "pitch": pytest.approx(5, rel=1e-3)}
    cal = editing.calibrate(generate, posed_score, pose["yaw"], "yaw", steps=np.linspace(-2, 2, 5), n=50)
    assert cal["monotone"] and cal["change"] == pytest.approx([-20, -10, 0, 10, 20], abs=0.1)


def test_build_directions_ships_only_what_works_and_says_why_the_rest_was_dropped():
    d, steps = editing.build_directions(generate, posed_score, NAMES, ["Smiling", "Eyeglasses"], 8, samples=1500,
                                        edits=200, steps=(1.0, 2.0))
    assert d.names == ["Smiling", "Eyeglasses", "yaw", "pitch"] and d.latent_dim == 8
    assert set(d.info["steps"]) == {"Smiling", "Eyeglasses"} and d.info["dropped"] == {}
    assert d.info["calibration"]["yaw"]["monotone"]
    narrow, _ = editing.build_directions(generate, posed_score, NAMES, ["Smiling"], 8, samples=1500, edits=200,
                                         steps=(0.01,))
    assert narrow.names == ["yaw", "pitch"] and "Smiling" in narrow.info["dropped"]


def test_most_flipped_names_the_locks_a_user_would_reach_for_and_per_direction_settings_apply():
    tilted = latent.unit([[1, 1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]])
    d = latent.Directions(["Smiling", "Male", "Eyeglasses"], tilted)
    _, matrix = editing.direction_report(generate, score, d, NAMES, step=3.0, n=300, seed=2)
    locks = editing.most_flipped(matrix, d, NAMES, k=1)
    assert locks["Smiling"] == ["Male"]
    rows, _ = editing.direction_report(generate, score, d, NAMES, step={"Smiling": 3.0, "Male": 1.0, "Eyeglasses": 2.0},
                                       n=300, seed=2, locks=locks)
    assert [r["step"] for r in rows] == [3.0, 1.0, 2.0] and rows[0]["locks"] == ["Male"]
    assert rows[0]["locked_flips"] == 0.0 and rows[0]["locked_confident_flips"] == 0.0


def toy_judge(latent_dim=6):
    """A tiny Keras generator (z -> 2x2 'image') and classifier (image -> 3 attributes + pose),
    smooth and nonlinear, so that holding has something to do."""
    import keras

    keras.utils.set_random_seed(0)
    z = keras.Input((latent_dim,))
    generator = keras.Model(z, keras.layers.Reshape((2, 2, 3))(keras.layers.Dense(12, activation="tanh")(z)))
    image = keras.Input((2, 2, 3))
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(image))
    classifier = keras.Model(image, {"attributes": keras.layers.Dense(3, activation="sigmoid")(hidden),
                                     "pose": keras.layers.Dense(2)(hidden)})
    return generator, classifier


def test_hold_keeps_locked_readings_where_projection_does_not():
    import keras

    generator, classifier = toy_judge()
    hold = editing.Hold(generator, classifier, ["A", "B", "C"], substeps=10)
    judged = lambda z: keras.ops.convert_to_numpy(classifier(generator(z))["attributes"])
    logit = lambda p: np.log(p / (1 - p))
    start = latent.sample(64, 6, seed=1)
    way = latent.unit(np.random.default_rng(2).standard_normal((1, 6)))[0]
    end = start + 3.0 * way
    held = hold(start, end, ["A", "yaw"])
    before, straight, walked = (logit(judged(z)) for z in (start, end, held))
    assert np.abs(straight[:, 0] - before[:, 0]).mean() > 0.3  # the plain move changes A
    assert np.abs(walked[:, 0] - before[:, 0]).max() < 0.05  # the walk keeps it
    assert np.abs(walked[:, 1] - before[:, 1]).mean() > 0.1  # and still changes what is free
    pose = lambda z: keras.ops.convert_to_numpy(classifier(generator(z))["pose"])[:, 0]
    assert np.abs(pose(held) - pose(start)).max() < 0.05
    np.testing.assert_allclose(np.linalg.norm(held - start, axis=1), 3.0, rtol=0.35)  # about as far
    np.testing.assert_array_equal(hold(start, end, []), end.astype(np.float32))
    np.testing.assert_array_equal(hold(start, end, ["A"]), hold(start, end, ["A"]))  # deterministic
    with pytest.raises(GanLabError, match=r"Cannot hold \['Bald'\]"):
        hold(start, end, ["Bald"])


def test_flip_rates_of_directions_without_an_attribute_of_their_own():
    d = latent.Directions(["PC1", "PC2"], latent.unit([[0, 1, 0, 0], [0, 0, 0, 1]]))  # along Male; along nothing
    rates = editing.flip_rates(generate, score, d, step=4.0, n=200, seed=3)
    assert rates.shape == (2, 3) and rates[0, 1] > 0.4 and rates[0, [0, 2]].max() == 0 and rates[1].max() == 0


def test_lock_comparison_reports_each_direction_without_locks_projected_and_against_chance():
    tilted = latent.unit([[1, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]])  # Smiling drags Male along
    d = latent.Directions(NAMES, tilted)
    out = editing.lock_comparison(generate, score, d, NAMES, {n: 4.0 for n in NAMES}, n=300, seed=4)
    smiling = out["rows"][0]
    assert out["locks"]["Smiling"][0] == "Male" and smiling["locks"].startswith("Male")
    assert smiling["locked flips: no lock"] > 0.1 and smiling["locked flips: projected"] < smiling["locked flips: no lock"]
    assert smiling["success: held"] == smiling["success: projected"]  # no Hold given: held is the projection
    assert set(out["matrices"]) == {"no locks", "locks projected", "locks held"} and out["matrices"]["no locks"].shape == (3, 3)
    row, matrix = out["random"]
    assert row["step"] == 4.0 and matrix.shape == (1, 3)
