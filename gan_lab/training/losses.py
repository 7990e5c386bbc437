"""GAN losses on discriminator logits. Each returns (d_loss, g_loss) pieces as functions."""

import tensorflow as tf

LOSSES = ("nonsaturating", "hinge", "wgan-gp")


def d_nonsaturating(real_logits, fake_logits, label_smoothing=0.1):
    """BCE with one-sided label smoothing: real targets are 1 - smoothing, fakes 0."""
    real_target = tf.fill(tf.shape(real_logits), 1.0 - label_smoothing)
    real = tf.nn.sigmoid_cross_entropy_with_logits(labels=real_target, logits=real_logits)
    fake = tf.nn.softplus(fake_logits)  # BCE with target 0
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def mean(values, weights=None):
    """The mean of `values`, or their weighted mean (weights of 0 leave a sample out)."""
    if weights is None:
        return tf.reduce_mean(values)
    weights = tf.reshape(tf.cast(weights, values.dtype), tf.shape(values))
    return tf.reduce_sum(values * weights) / tf.reduce_sum(weights)


def g_nonsaturating(fake_logits, weights=None):
    """-log D(G(z)): the generator's non-saturating loss (Goodfellow et al., 2014)."""
    return mean(tf.nn.softplus(-fake_logits), weights)


def d_hinge(real_logits, fake_logits):
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def d_wasserstein(real_logits, fake_logits):
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def g_critic(fake_logits, weights=None):
    """Generator loss for hinge and WGAN: raise the critic's score of fakes."""
    return -mean(fake_logits, weights)


def gradient_penalty(score, real, fake, epsilon):
    """WGAN-GP: (||grad D(x_hat)|| - 1)^2 on random interpolates x_hat (Gulrajani et al., 2017).
    `score(images) -> logits`: the discriminator (with its labels, for a conditional one)."""
    mixed = real + epsilon * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = score(mixed)
    grads = tape.gradient(scores, mixed)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=tf.range(1, tf.rank(grads))) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(score, real):
    """R1 (Mescheder et al., 2018): E ||grad_x D(x)||^2 on real images, which keeps the
    discriminator flat where the data is, so it cannot overshoot the generator.
    `score(images) -> logits`: the discriminator, or a Keras model taking the images alone."""
    with tf.GradientTape() as tape:
        tape.watch(real)
        total = tf.reduce_sum(score(real))  # inside the tape, or nothing is recorded
    grads = tape.gradient(total, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=tf.range(1, tf.rank(grads))))
