"""CycleGAN training (Zhu et al., 2017) as one keras.Model: two generators (a2b, b2a) and two PatchGAN
discriminators trained in `train_step`, so the lab's run folder, checkpoints, resume, budget,
TensorBoard and progress bar work as for every other model (`training.runs.fit`).

Losses as in the paper: least-squares adversarial, cycle consistency (L1, lambda 10) and identity
(L1, lambda 0.5 x the cycle weight: a generator given a face already in its target domain should leave
it alone, which keeps colours and identity). The discriminators see, half the time, a generated image
from a pool of the last 50 instead of the newest (Shrivastava et al., 2017), so G and D do not chase
each other in circles. The learning rate is held, then decays linearly to zero (`HoldThenDecay`).

Under a `tf.distribute` strategy each replica scales its losses to the global batch, and the pool takes
the global batch's fakes (gathered from every replica) as one device would (`gan_lab.distribute`).
"""

import keras
import tensorflow as tf
from keras import ops

from gan_lab import distribute, flops
from gan_lab.errors import GanLabError


@keras.saving.register_keras_serializable(package="gan_lab")
class HoldThenDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`rate` for `hold` steps, then linearly down to zero over `decay` steps (the paper: 100 + 100 epochs)."""

    def __init__(self, rate, hold, decay):
        self.rate, self.hold, self.decay = float(rate), int(hold), int(decay)

    def __call__(self, step):
        past = ops.maximum(ops.cast(step, "float32") - self.hold, 0.0)
        return self.rate * ops.maximum(1.0 - past / max(self.decay, 1), 0.0)

    def get_config(self):
        return {"rate": self.rate, "hold": self.hold, "decay": self.decay}


class ImagePool(keras.layers.Layer):
    """The last `size` generated images: a batch goes in, and each image comes out as itself, or (once
    the pool is full, with probability 1/2) as a stored older one that it then replaces. Takes batches
    no larger than the pool."""

    def __init__(self, size, image_shape, seed_generator, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed_generator = int(size), seed_generator
        self.images = self.add_weight((max(self.size, 1), *image_shape), "zeros", trainable=False, name="images")
        self.count = self.add_weight((), "zeros", dtype="int32", trainable=False, name="count")

    def call(self, fakes):
        if self.size == 0:
            return fakes
        mine = ops.shape(fakes)[0]
        # Several replicas: every one runs the pool on the global batch (the same draws: their seed
        # generators step together), so every copy of the pool stays the one a single device keeps.
        fakes = distribute.all_rows(fakes)
        n = ops.shape(fakes)[0]
        out = tf.cond(self.count + n <= self.size, lambda: self._fill(fakes, n), lambda: self._swap(fakes, n))
        return distribute.own_rows(out, mine)

    def _fill(self, fakes, n):
        slots = ops.expand_dims(self.count + ops.arange(n), 1)
        self.images.assign(tf.tensor_scatter_nd_update(self.images, slots, fakes))
        self.count.assign_add(n)
        return fakes

    def _swap(self, fakes, n):
        take = keras.random.uniform((n,), seed=self.seed_generator) < 0.5
        # distinct slots: two images of one batch must not both replace the same stored one
        slots = ops.cast(ops.argsort(keras.random.uniform((self.size,), seed=self.seed_generator))[:n], "int32")
        old = ops.take(self.images, slots, axis=0)
        keep = ops.reshape(take, (-1, 1, 1, 1))
        self.images.assign(tf.tensor_scatter_nd_update(self.images, ops.expand_dims(slots, 1),
                                                       ops.where(keep, fakes, old)))
        return ops.where(keep, old, fakes)


def _mse(x, target):
    return ops.mean(ops.square(x - target))


def _mae(x, y):
    return ops.mean(ops.abs(x - y))


class CycleGAN(distribute.Prebuilt, keras.Model):
    """Unpaired translation between domains A and B; data are (a, b) batches in [-1, 1]."""

    def __init__(self, g_ab, g_ba, d_a, d_b, cycle_weight=10.0, identity_weight=0.5, pool_size=50, seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        if cycle_weight < 0 or identity_weight < 0 or pool_size < 0:
            raise GanLabError(f"cycle and identity weights and the pool size must be >= 0; got {cycle_weight}, "
                              f"{identity_weight}, {pool_size}.")
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.cycle_weight, self.identity_weight = float(cycle_weight), float(identity_weight)
        self.seed_generator = keras.random.SeedGenerator(seed)
        shape = tuple(g_ab.inputs[0].shape[1:])
        self.pool_a = ImagePool(pool_size, shape, self.seed_generator, name="pool_a")
        self.pool_b = ImagePool(pool_size, shape, self.seed_generator, name="pool_b")
        names = ("g_loss", "d_loss", "adversarial", "cycle", "identity")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.grid_columns = 6  # a, a->b, a->b->a, b, b->a, b->a->b
        distribute.synchronise(g_ab, g_ba, d_a, d_b)

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        if tf.distribute.has_strategy():  # optimizer slots made now, in the scope, not inside the first step
            self.build_optimizers()

    @property
    def generators_weights(self):
        return self.g_ab.trainable_weights + self.g_ba.trainable_weights

    @property
    def discriminators_weights(self):
        return self.d_a.trainable_weights + self.d_b.trainable_weights

    def build_optimizers(self):
        """Create optimizer slots up front, so a checkpoint can be restored into them."""
        self.g_optimizer.build(self.generators_weights)
        self.d_optimizer.build(self.discriminators_weights)

    def checkpoint_models(self):
        return {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}

    def checkpoint_optimizers(self):
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    def training_flops(self) -> float:
        """FLOPs per training pair (a, b), a backward pass counted as two forwards: six generator
        passes (translate, cycle back, identity; each way) forward and backward, and each
        discriminator on a real and a pooled fake (D step) and on the fresh fake (G step)."""
        g, d = flops.flops_per_image(self.g_ab), flops.flops_per_image(self.d_a)
        return 18 * g + 18 * d

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, a, training=False):
        return self.g_ab(a, training=training)

    def draw(self, x):
        """Grid rows for fixed samples: `x` holds k a's then k b's; each row shows
        a, a->b, a->b->a, b, b->a, b->a->b."""
        a, b = ops.split(ops.convert_to_tensor(x), 2)
        ab, ba = self.g_ab(a, training=False), self.g_ba(b, training=False)
        rows = [a, ab, self.g_ba(ab, training=False), b, ba, self.g_ab(ba, training=False)]
        return ops.reshape(ops.stack(rows, axis=1), (-1, *ops.shape(a)[1:]))

    def _g_step(self, a, b):
        with tf.GradientTape() as tape:
            fake_b, fake_a = self.g_ab(a, training=True), self.g_ba(b, training=True)
            adversarial = _mse(self.d_b(fake_b, training=True), 1.0) + _mse(self.d_a(fake_a, training=True), 1.0)
            cycle = _mae(self.g_ba(fake_b, training=True), a) + _mae(self.g_ab(fake_a, training=True), b)
            identity = (_mae(self.g_ba(a, training=True), a) + _mae(self.g_ab(b, training=True), b)
                        if self.identity_weight else ops.zeros(()))
            loss = adversarial + self.cycle_weight * (cycle + self.identity_weight * identity)
            scaled = distribute.scale_loss(loss)  # a replica's share of the global batch's loss
        weights = self.generators_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return fake_a, fake_b, {"g_loss": loss, "adversarial": adversarial, "cycle": cycle, "identity": identity}

    def _d_step(self, a, b, fake_a, fake_b):
        fake_a, fake_b = self.pool_a(ops.stop_gradient(fake_a)), self.pool_b(ops.stop_gradient(fake_b))
        with tf.GradientTape() as tape:
            loss_a = _mse(self.d_a(a, training=True), 1.0) + _mse(self.d_a(fake_a, training=True), 0.0)
            loss_b = _mse(self.d_b(b, training=True), 1.0) + _mse(self.d_b(fake_b, training=True), 0.0)
            loss = 0.5 * (loss_a + loss_b)  # halved, as in the paper: D learns slower than G
            scaled = distribute.scale_loss(loss)
        weights = self.discriminators_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return loss

    def train_step(self, data):
        a, b = data
        fake_a, fake_b, figures = self._g_step(a, b)
        figures["d_loss"] = self._d_step(a, b, fake_a, fake_b)
        for name, value in figures.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}
