"""The GAN as one keras.Model: it owns generator and discriminator and trains both
in `train_step`, so `fit`, callbacks and progress bars work as for any Keras model."""

import keras
import tensorflow as tf

from gan_lab.errors import GanLabError
from gan_lab.training import losses


class GAN(keras.Model):
    """Adversarial training of `generator` (z -> image) against `discriminator` (image -> logit)."""

    def __init__(self, generator, discriminator, seed=0, ema=0.999, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        # An exponential moving average of the generator's weights gives visibly cleaner
        # samples than the last step's weights (as in ProGAN/StyleGAN); it is what we ship.
        self.ema = ema
        self.ema_generator = keras.models.clone_model(generator) if ema else generator
        if ema:
            self.ema_generator.set_weights(generator.get_weights())
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean logit on real images
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")  # mean logit on generated ones

    def compile(self, d_optimizer, g_optimizer, loss="nonsaturating", label_smoothing=0.1,
                gp_weight=10.0, d_steps=1, **kwargs):
        if loss not in losses.LOSSES:
            raise GanLabError(f"Unknown GAN loss {loss!r}; choose one of {list(losses.LOSSES)}.")
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_name, self.label_smoothing = loss, label_smoothing
        self.gp_weight, self.d_steps = gp_weight, d_steps

    @property
    def sampler(self):
        """What sample grids draw with: the averaged generator."""
        return self.ema_generator

    def build_optimizers(self):
        """Create optimizer slots up front, so a checkpoint can be restored into them."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def checkpoint_models(self):
        models = {"generator": self.generator, "discriminator": self.discriminator}
        return models | ({"ema_generator": self.ema_generator} if self.ema else {})

    def checkpoint_optimizers(self):
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _latents(self, n):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def _d_loss(self, real, fake, real_logits, fake_logits):
        if self.loss_name == "nonsaturating":
            return losses.d_nonsaturating(real_logits, fake_logits, self.label_smoothing)
        if self.loss_name == "hinge":
            return losses.d_hinge(real_logits, fake_logits)
        eps = keras.random.uniform((tf.shape(real)[0], 1, 1, 1), seed=self.seed_generator)
        penalty = losses.gradient_penalty(self.discriminator, real, fake, eps)
        return losses.d_wasserstein(real_logits, fake_logits) + self.gp_weight * penalty

    def _g_loss(self, fake_logits):
        if self.loss_name == "nonsaturating":
            return losses.g_nonsaturating(fake_logits)
        return losses.g_critic(fake_logits)

    def _d_step(self, real):
        n = tf.shape(real)[0]
        fake = self.generator(self._latents(n), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = self._d_loss(real, fake, real_logits, fake_logits)
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))
        return d_loss, real_logits, fake_logits

    def _update_ema(self):
        # Warm-up (as in TF's ExponentialMovingAverage with num_updates): early on, when the
        # weights still move fast, average over fewer steps so early grids are not grey.
        step = tf.cast(self.g_optimizer.iterations, "float32")
        decay = tf.minimum(self.ema, (1.0 + step) / (10.0 + step))
        for avg, w in zip(self.ema_generator.weights, self.generator.weights):
            avg.assign(decay * avg + (1.0 - decay) * w)

    def train_step(self, real):
        if isinstance(real, tuple):  # (images, labels) datasets: labels are not used
            real = real[0]
        for _ in range(self.d_steps):
            d_loss, real_logits, fake_logits = self._d_step(real)
        with tf.GradientTape() as tape:
            fakes = self.generator(self._latents(tf.shape(real)[0]), training=True)
            g_loss = self._g_loss(self.discriminator(fakes, training=True))
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))
        if self.ema:
            self._update_ema()
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(tf.reduce_mean(real_logits))
        self.d_fake_tracker.update_state(tf.reduce_mean(fake_logits))
        return {m.name: m.result() for m in self.metrics}
