"""The VAE as one keras.Model: encoder and decoder trained together in `train_step` on
reconstruction + beta * KL, so `fit`, the callbacks and the run folder work as for the GAN. Under a
`tf.distribute` strategy each replica scales its loss to the global batch (`gan_lab.distribute`)."""

import keras
import tensorflow as tf

from gan_lab import distribute, flops

LOG_VAR_LIMIT = 10.0  # clip log-variances: exp(+-10) keeps early steps finite


def kl_divergence(z_mean, z_log_var):
    """KL(N(mean, var) || N(0, I)) per sample, summed over latent dimensions."""
    return -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)


def reconstruction_error(images, reconstructions):
    """Squared error per sample, summed over pixels (a Gaussian likelihood up to scale)."""
    return tf.reduce_sum(tf.square(images - reconstructions), axis=[1, 2, 3])


class VAE(distribute.Prebuilt, keras.Model):
    """Variational autoencoder: `encoder` (image -> mean, log-variance), `decoder` (z -> image).

    Loss per image: sum of squared pixel errors + beta * KL. beta trades sharp reconstructions
    (small beta) against a latent space whose random samples decode to faces (large beta).
    """

    def __init__(self, encoder, decoder, beta=1.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.beta = encoder, decoder, float(beta)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.recon_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        distribute.synchronise(encoder, decoder)

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        if tf.distribute.has_strategy():  # optimizer slots made now, in the scope, not inside the first step
            self.build_optimizers()

    @property
    def sampler(self):
        """What sample grids draw with: the decoder."""
        return self.decoder

    @property
    def metrics(self):
        return [self.loss_tracker, self.recon_tracker, self.kl_tracker]

    def build_optimizers(self):
        self.optimizer.build(self.encoder.trainable_variables + self.decoder.trainable_variables)

    def training_flops(self) -> float:
        """FLOPs per training image: encoder and decoder, forward and backward (3 forwards)."""
        return 3 * (flops.flops_per_image(self.encoder) + flops.flops_per_image(self.decoder))

    def checkpoint_models(self):
        return {"encoder": self.encoder, "decoder": self.decoder}

    def checkpoint_optimizers(self):
        return {"optimizer": self.optimizer}

    def encode(self, images, training=False):
        z_mean, z_log_var = self.encoder(images, training=training)
        return z_mean, tf.clip_by_value(z_log_var, -LOG_VAR_LIMIT, LOG_VAR_LIMIT)

    def call(self, images, training=False):
        """Reconstruct `images` from their mean latents."""
        return self.decoder(self.encode(images, training)[0], training=training)

    def _loss_terms(self, images, training):
        z_mean, z_log_var = self.encode(images, training)
        eps = distribute.replica_rows(lambda m: keras.random.normal((m, self.latent_dim), seed=self.seed_generator),
                                      tf.shape(z_mean)[0])
        z = z_mean + tf.exp(0.5 * z_log_var) * eps  # the reparameterisation trick
        recon = tf.reduce_mean(reconstruction_error(images, self.decoder(z, training=training)))
        kl = tf.reduce_mean(kl_divergence(z_mean, z_log_var))
        return recon + self.beta * kl, recon, kl

    def _log(self, loss, recon, kl):
        for tracker, value in zip(self.metrics, (loss, recon, kl)):
            tracker.update_state(value)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, images):
        if isinstance(images, tuple):  # (images, labels) datasets: labels are not used
            images = images[0]
        weights = self.encoder.trainable_weights + self.decoder.trainable_weights
        with tf.GradientTape() as tape:
            loss, recon, kl = self._loss_terms(images, training=True)
            scaled = distribute.scale_loss(loss)  # a replica's share of the global batch's loss
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return self._log(loss, recon, kl)

    def test_step(self, images):
        if isinstance(images, tuple):
            images = images[0]
        return self._log(*self._loss_terms(images, training=False))
