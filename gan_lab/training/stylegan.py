"""Training the style-based generator: the lab's GAN (same toolkit, run folder, checkpoints, resume,
budget) with what StyleGAN2 adds in the generator's step.

- Style mixing regularisation: with probability `mixing`, a sample takes the ws of a second latent from a
  random layer on, so that neighbouring layers cannot rely on sharing one w (it is what makes coarse,
  middle and fine styles separable).
- The mean w, tracked as a moving average (beta 0.995) of the mapping's outputs in training: truncation
  pulls toward it.
The non-saturating loss, lazy R1, DiffAugment and the EMA generator are the toolkit's (`GAN`). Under a
`tf.distribute` strategy the latent pairs, the mixing cuts and the mean w are the global batch's
(`gan_lab.distribute`), so several devices train as one.
"""

import keras
import tensorflow as tf

from gan_lab import distribute
from gan_lab.errors import GanLabError
from gan_lab.models import stylegan
from gan_lab.training.gan import GAN


class StyleGAN(GAN):
    """A `GAN` whose generator is `stylegan.generator` (mapping -> truncation -> synthesis).
    `mixing` defaults to 0, the lab's recipe: StyleGAN2's 0.9 cost quality on the 64-pixel faces
    (docs/measurements.md, "Without style mixing from the start")."""

    def __init__(self, generator, discriminator, mixing=0.0, w_avg_beta=0.995, **kwargs):
        if not 0.0 <= float(mixing) <= 1.0:
            raise GanLabError(f"mixing is the share of samples trained with two latents' styles, in [0, 1]; got {mixing}.")
        super().__init__(generator, discriminator, **kwargs)
        self.mapping, self.synthesis, _ = stylegan.parts(generator)
        self.truncation = generator.get_layer("truncation")
        self.num_ws = int(self.synthesis.inputs[0].shape[1])
        self.mixing, self.w_avg_beta = float(mixing), float(w_avg_beta)

    def _generate(self, n, labels, training=True):
        """Images of fresh latents, with style mixing and the mean w tracked (training only)."""
        def pairs(m):  # one device draws 2m latents and pairs the first m with the last m
            z = keras.random.normal((2 * m, self.latent_dim), seed=self.seed_generator)
            return tf.stack([z[:m], z[m:]], axis=1)

        z = distribute.replica_rows(pairs, n)  # (n, 2, latent_dim): this replica's pairs
        w = self.mapping(tf.concat([z[:, 0], z[:, 1]], axis=0), training=training)
        w1, w2 = w[:n], w[n:]
        if training:
            mean = distribute.global_mean(tf.reduce_mean(w1, axis=0))
            avg = self.truncation.w_avg
            avg.assign(mean + self.w_avg_beta * (avg - mean))
        return self.synthesis(self._mix(w1, w2, n), training=training)

    def _mix(self, w1, w2, n):
        """ws (n, num_ws, w_dim): w1's for layers before a random cut, w2's after it; no cut (w1
        everywhere) for a share 1 - mixing of the samples."""
        seed = self.seed_generator
        cut = distribute.replica_rows(lambda m: keras.random.randint((m, 1), 1, self.num_ws, seed=seed), n)
        keep = distribute.replica_rows(lambda m: keras.random.uniform((m, 1), seed=seed), n) >= self.mixing
        cut = tf.where(keep, self.num_ws, cut)
        first = tf.range(self.num_ws)[None, :] < cut  # (n, num_ws)
        return tf.where(first[:, :, None], w1[:, None, :], w2[:, None, :])

    def _update_ema(self, batch):
        super()._update_ema(batch)
        # The mean w is a statistic, not a weight: the averaged generator takes it as it is.
        self.ema_generator.get_layer("truncation").w_avg.assign(self.truncation.w_avg)
