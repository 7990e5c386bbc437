import numpy as np
import pytest
import tensorflow as tf

from gan_lab.training import losses


def _bce(target, logit):
    p = 1 / (1 + np.exp(-logit))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


def test_nonsaturating_matches_binary_cross_entropy_with_smoothing():
    real, fake = np.array([[2.0], [-1.0]], np.float32), np.array([[0.5], [-3.0]], np.float32)
    want = _bce(0.9, real).mean() + _bce(0.0, fake).mean()
    assert losses.d_nonsaturating(real, fake, 0.1).numpy() == pytest.approx(want, rel=1e-5)
    assert losses.g_nonsaturating(fake).numpy() == pytest.approx(_bce(1.0, fake).mean(), rel=1e-5)


def test_hinge_and_wasserstein():
    real, fake = np.array([[2.0], [0.5]], np.float32), np.array([[-2.0], [0.0]], np.float32)
    assert losses.d_hinge(real, fake).numpy() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert losses.d_wasserstein(real, fake).numpy() == pytest.approx(-1.0 - 1.25)
    assert losses.g_critic(fake).numpy() == pytest.approx(1.0)


def test_gradient_penalty_of_a_linear_critic_is_its_norm_gap():
    w = tf.constant(np.full((4, 1), 0.5, np.float32))  # ||w|| = 1 -> penalty 0; scaled by 3 -> (3 - 1)^2

    def critic(x, training=False):
        return tf.reshape(x, (-1, 4)) @ w

    real, fake = tf.zeros((5, 2, 2, 1)), tf.ones((5, 2, 2, 1))
    eps = tf.fill((5, 1, 1, 1), 0.3)
    assert losses.gradient_penalty(critic, real, fake, eps).numpy() == pytest.approx(0.0, abs=1e-6)

    def steep(x, training=False):
        return 3.0 * critic(x)

    assert losses.gradient_penalty(steep, real, fake, eps).numpy() == pytest.approx(4.0, rel=1e-5)
