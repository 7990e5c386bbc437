"""The GAN as one keras.Model: it owns generator and discriminator and trains both
in `train_step`, so `fit`, callbacks and progress bars work as for any Keras model.

The training toolkit every GAN of the lab shares lives here: DiffAugment on real and generated
images in both steps (`augment`), a lazy R1 penalty every `r1_every` discriminator steps
(`r1_gamma`), the loss (non-saturating, hinge, WGAN-GP), separate optimizers for D and G, the
EMA generator with a half-life counted in images (`ema_half_life`), and top-k training (`top_k`).

Built and compiled under a `tf.distribute` strategy (`gan_lab.distribute`), the same step trains on
several devices: each replica's losses are scaled to the global batch before their gradients, and its
random draws are its rows of the global batch's (`distribute.replica_rows`), so R devices train as one.
"""

import keras
import tensorflow as tf

from gan_lab import distribute, flops
from gan_lab.errors import GanLabError
from gan_lab.training import augment as diffaugment
from gan_lab.training import losses


class GAN(distribute.Prebuilt, keras.Model):
    """Adversarial training of `generator` (z -> image) against `discriminator` (image -> logit)."""

    def __init__(self, generator, discriminator, seed=0, ema=0.999, ema_half_life=None, num_classes=None, **kwargs):
        """`num_classes`: a class-conditional GAN, whose generator takes [z, label] and whose
        discriminator takes [image, label] (labels int32 of shape (n, 1)); data are (images, labels)."""
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.generator = generator
        self.discriminator = discriminator
        # An exponential moving average of the generator's weights gives visibly cleaner
        # samples than the last step's weights (as in ProGAN/StyleGAN); it is what we ship.
        # `ema_half_life` (images, as StyleGAN2's ema_kimg) sets the per-step decay from the batch
        # size, 0.5 ** (batch / half_life); else `ema` is the decay per step (0 turns the average off).
        self.ema, self.ema_half_life = ema, ema_half_life
        averaged = bool(ema or ema_half_life)
        self.ema_generator = keras.models.clone_model(generator) if averaged else generator
        if averaged:
            self.ema_generator.set_weights(generator.get_weights())
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean logit on real images
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")  # mean logit on generated ones
        distribute.synchronise(generator, discriminator)

    def compile(self, d_optimizer, g_optimizer, loss="nonsaturating", label_smoothing=0.1,
                gp_weight=10.0, d_steps=1, augment=None, cutout=0.5, r1_gamma=0.0, r1_every=16, top_k=None,
                top_k_half_life=250_000, **kwargs):
        """`augment`: a DiffAugment policy ("color,translation,cutout", or None); `cutout`: the
        side of its square as a share of the image's; `r1_gamma`: weight of the R1 penalty on
        real images (0: off), applied every `r1_every` D steps and scaled up by it (lazy R1);
        `top_k`: top-k training (Sinha et al., 2020): the generator learns only from the share of its
        batch the discriminator finds most real, a share that falls from 1 to `top_k` with a
        half-life of `top_k_half_life` images (None: every image)."""
        if loss not in losses.LOSSES:
            raise GanLabError(f"Unknown GAN loss {loss!r}; choose one of {list(losses.LOSSES)}.")
        if r1_gamma < 0 or int(r1_every) < 1:
            raise GanLabError(f"r1_gamma must be >= 0 and r1_every >= 1; got {r1_gamma}, {r1_every}.")
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.loss_name, self.label_smoothing = loss, label_smoothing
        self.gp_weight, self.d_steps = gp_weight, d_steps
        self.policy, self.cutout = diffaugment.parse(augment), cutout
        self.r1_gamma, self.r1_every = float(r1_gamma), int(r1_every)
        self.top_k, self.top_k_half_life = top_k, float(top_k_half_life)
        if tf.distribute.has_strategy():  # optimizer slots made now, in the scope, not inside the first step
            self.build_optimizers()

    @property
    def sampler(self):
        """The averaged generator: what is saved and shipped (grids draw through `draw`)."""
        return self.ema_generator

    def build_optimizers(self):
        """Create optimizer slots up front, so a checkpoint can be restored into them."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def checkpoint_models(self):
        models = {"generator": self.generator, "discriminator": self.discriminator}
        return models | ({"ema_generator": self.ema_generator} if self.ema_generator is not self.generator else {})

    def training_flops(self) -> float:
        """FLOPs per training image (flops.gan_training_flops), for the share of the SGEMM peak."""
        return flops.gan_training_flops(self.generator, self.discriminator)

    def checkpoint_optimizers(self):
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def draw(self, z):
        """Images of the averaged generator for latents `z` (sample grids): a conditional GAN draws
        the classes in turn (0, 1, 2 ... across each row of a grid 10 wide)."""
        z = keras.ops.convert_to_tensor(z)
        if not self.num_classes:
            return self.ema_generator(z, training=False)
        labels = keras.ops.reshape(keras.ops.arange(keras.ops.shape(z)[0]) % self.num_classes, (-1, 1))
        return self.ema_generator([z, keras.ops.cast(labels, "int32")], training=False)

    def _latents(self, n):
        return distribute.replica_rows(lambda m: keras.random.normal((m, self.latent_dim), seed=self.seed_generator), n)

    def _labels(self, n):
        """Uniform random classes (n, 1), or None for an unconditional GAN."""
        if not self.num_classes:
            return None
        return keras.ops.cast(distribute.replica_rows(
            lambda m: keras.random.randint((m, 1), 0, self.num_classes, seed=self.seed_generator), n), "int32")

    def _generate(self, n, labels, training=True):
        z = self._latents(n)
        return self.generator(z if labels is None else [z, labels], training=training)

    def _judge(self, images, labels):
        return self.discriminator(images if labels is None else [images, labels], training=True)

    def _augment(self, images):
        """What the discriminator sees: DiffAugment of real and fake alike (identity when off)."""
        if not self.policy:
            return images
        return diffaugment.diff_augment(images, self.policy, self.seed_generator, self.cutout)

    def _r1(self, real, labels=None):
        """Lazy R1 (StyleGAN2): gamma/2 * E||grad_x D(x)||^2 on the (augmented) reals, every
        r1_every D steps and multiplied by r1_every, so it weighs as if applied every step."""
        def penalty():
            score = lambda x: self._judge(x, labels)  # noqa: E731
            return losses.r1_penalty(score, real) * (0.5 * self.r1_gamma * self.r1_every)

        due = tf.equal(self.d_optimizer.iterations % self.r1_every, 0)
        if distribute.sharing() > 1 and distribute.syncs(self.discriminator):
            # A discriminator that waits on the other replicas (synchronised BatchNorm, StyleGAN's minibatch
            # std) cannot run inside tf.cond (no merge_call in control flow): R1 is computed every step and
            # kept only when due. The same penalty, at the cost of the laziness; such discriminators here
            # draw no random numbers, so skipped steps change nothing else (a BatchNorm's moving averages,
            # unused in training, take the extra batches).
            return penalty() * tf.cast(due, "float32")
        return tf.cond(due, penalty, lambda: tf.constant(0.0))

    def _d_loss(self, real, fake, real_logits, fake_logits, labels=None):
        if self.loss_name == "nonsaturating":
            return losses.d_nonsaturating(real_logits, fake_logits, self.label_smoothing)
        if self.loss_name == "hinge":
            return losses.d_hinge(real_logits, fake_logits)
        eps = distribute.replica_rows(lambda m: keras.random.uniform((m, 1, 1, 1), seed=self.seed_generator),
                                      tf.shape(real)[0])
        penalty = losses.gradient_penalty(lambda x: self._judge(x, labels), real, fake, eps)
        return losses.d_wasserstein(real_logits, fake_logits) + self.gp_weight * penalty

    def _g_loss(self, fake_logits, weights=None):
        if self.loss_name == "nonsaturating":
            return losses.g_nonsaturating(fake_logits, weights)
        return losses.g_critic(fake_logits, weights)

    def _d_step(self, real, labels=None):
        n = tf.shape(real)[0]
        fake_labels = self._labels(n)
        fake = self._augment(self._generate(n, fake_labels))
        real = self._augment(real)
        with tf.GradientTape() as tape:
            real_logits = self._judge(real, labels)
            fake_logits = self._judge(fake, fake_labels)
            d_loss = self._d_loss(real, fake, real_logits, fake_logits, labels)
            if self.r1_gamma:
                d_loss += self._r1(real, labels)
            scaled = distribute.scale_loss(d_loss)  # a replica's share of the global batch's loss
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return d_loss, real_logits, fake_logits

    def kept_share(self, batch):
        """Top-k's share of generated images the generator learns from at this step."""
        images = tf.cast(self.g_optimizer.iterations, "float32") * tf.cast(batch, "float32")
        return tf.maximum(float(self.top_k), tf.pow(0.5, images / self.top_k_half_life))

    def _kept(self, fake_logits, batch):
        """Top-k's weights over the fakes: 1 for the most real-looking share, which the generator
        learns from, 0 for the rest (samples the discriminator already rejects, whose gradients point
        away from the data, the paper's argument); None when top-k is off. Ranks from an n x n
        comparison rather than a sort: static shapes, and cheap under XLA on a CPU."""
        if not self.top_k:
            return None
        flat = tf.reshape(fake_logits, (-1,))
        k = tf.math.ceil(self.kept_share(batch) * tf.cast(tf.shape(flat)[0], "float32"))
        above = tf.reduce_sum(tf.cast(flat[None, :] > flat[:, None], "float32"), axis=1)  # how many beat each
        return tf.cast(above < tf.maximum(k, 1.0), "float32")

    def _update_ema(self, batch):
        # Warm-up (as in TF's ExponentialMovingAverage with num_updates): early on, when the
        # weights still move fast, average over fewer steps so early grids are not grey.
        step = tf.cast(self.g_optimizer.iterations, "float32")
        target = self.ema if not self.ema_half_life else \
            tf.pow(0.5, tf.cast(batch, "float32") / float(self.ema_half_life))
        decay = tf.minimum(target, (1.0 + step) / (10.0 + step))
        for avg, w in zip(self.ema_generator.weights, self.generator.weights):
            avg.assign(decay * avg + (1.0 - decay) * w)

    def train_step(self, real):
        labels = None
        if isinstance(real, tuple):  # (images, labels): a conditional GAN uses them, others do not
            real, labels = real[0], (keras.ops.reshape(keras.ops.cast(real[1], "int32"), (-1, 1))
                                     if self.num_classes else None)
        for _ in range(self.d_steps):
            d_loss, real_logits, fake_logits = self._d_step(real, labels)
        n = tf.shape(real)[0]
        with tf.GradientTape() as tape:
            fake_labels = self._labels(n)
            fakes = self._generate(n, fake_labels)
            judged = self._judge(self._augment(fakes), fake_labels)
            g_loss = self._g_loss(judged, self._kept(judged, distribute.global_batch(n)))
            scaled = distribute.scale_loss(g_loss)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        if self.ema_generator is not self.generator:
            self._update_ema(distribute.global_batch(tf.shape(real)[0]))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(tf.reduce_mean(real_logits))
        self.d_fake_tracker.update_state(tf.reduce_mean(fake_logits))
        return {m.name: m.result() for m in self.metrics}
