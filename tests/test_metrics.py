import numpy as np
import pytest

from gan_lab import metrics
from gan_lab.data import mnist


def test_frechet_distance_is_zero_for_the_same_set_and_exact_for_shifted_gaussians():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((4000, 4))
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    shifted = feats + np.array([3.0, 0.0, 4.0, 0.0])  # same covariance, means 5 apart
    assert metrics.frechet_distance(feats, shifted) == pytest.approx(25.0, rel=1e-6)
    scaled = feats * 2.0  # covariance 4I vs I: Tr(I + 4I - 2*2I) = 1 per dimension
    assert metrics.frechet_distance(feats, scaled) == pytest.approx(4.0, rel=0.05)


def test_digit_figures_count_confidence_and_coverage():
    probs = np.zeros((10, 10))
    probs[np.arange(10), [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]] = [0.95, 0.5, 0.99, 0.9, 0.91, 0.2, 0.92, 0.93, 0.94, 0.96]
    f = metrics.digit_figures(probs, np.eye(10), np.eye(10))
    assert f["confident_share"] == pytest.approx(0.8)
    assert f["digit_frequencies"][0] == 0.2 and f["digit_frequencies"][9] == 0.0
    assert f["min_digit_share"] == 0.0 and f["max_digit_share"] == 0.2


@pytest.fixture(scope="module")
def classifier():
    return metrics.digit_classifier()


@pytest.mark.slow
def test_the_digit_classifier_reads_held_out_digits(classifier):
    test = mnist.load("test", verbose=False)
    probs, feats = metrics.classify(test.images, classifier)
    assert (probs.argmax(1) == test.labels).mean() >= 0.97
    assert feats.shape == (len(test), 128)


@pytest.mark.slow
def test_real_digits_score_high_and_noise_scores_low(classifier):
    train, test = mnist.load("train", verbose=False), mnist.load("test", verbose=False)
    noise = np.random.default_rng(0).uniform(-1, 1, (500, 28, 28, 1)).astype("float32")
    figures = metrics.digit_quality(noise, test.images, train.images, classifier)
    real, fake = figures["real"], figures["generated"]
    assert real["confident_share"] > 0.9 and 0.06 <= real["min_digit_share"] <= real["max_digit_share"] <= 0.14
    assert fake["frechet_distance"] > 5 * real["frechet_distance"]
    assert "generated" in metrics.digit_table(figures)


def test_the_digit_ship_score_takes_the_stricter_judge_and_penalises_missing_digits():
    from gan_lab.metrics import digits

    def unconditional(confident, low, high):
        return {"generated": {"confident_share": confident, "min_digit_share": low, "max_digit_share": high}}

    figures = {"a": unconditional(0.92, 0.07, 0.13), "b": unconditional(0.88, 0.07, 0.13)}
    assert digits.ship_score(figures) == 0.88
    figures["b"] = unconditional(0.95, 0.02, 0.13)  # a digit nearly missing costs its 4 points
    assert digits.ship_score(figures) == pytest.approx(0.91)
    assert digits.ship_score({"a": {"mean": 0.97}, "b": {"mean": 0.95}}) == 0.95  # conditional: the asked digit


@pytest.mark.slow
def test_judge_folder_reads_the_shipped_generator_by_both_judges():
    from gan_lab import paths
    from gan_lab.metrics import digits

    score = digits.judge_folder(paths.shipped("mnist"), samples=200)
    assert 0.3 < score < 1.0  # a trained generator: most of its digits read, not all
