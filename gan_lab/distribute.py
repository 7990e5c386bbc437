"""Training on several devices with `tf.distribute`: one global batch split over replicas, the same
result as one device.

    logical_cpus(2)                        # first thing in the process: split the CPU into two devices
    with scope(strategy("mirrored")):      # build and compile the models under the strategy
        ...

Keras 3 runs a model's `train_step` once per replica on its share of the global batch, and its TF
optimizer *sums* the replicas' gradients (`_all_reduce_sum_gradients` in
keras/src/backend/tensorflow/optimizer.py, `ReduceOp.SUM`), as Keras' own losses expect: they divide by
the number of replicas (`scale_loss_for_distribution` in keras/src/losses/loss.py). A custom
`train_step` whose losses are means over its own share must do the same (`scale_loss`), or its
gradients are R times too large.

What else a replica must see as the global batch, so that R devices train as one does:
- random numbers drawn per image (latents, labels, DiffAugment, dropout masks, noise): each replica
  draws them for the whole global batch (every replica's seed generator steps in lockstep, so they
  draw the same numbers) and keeps its own rows (`replica_rows`), the ones one device would give
  those images;
- batch statistics: BatchNormalization is synchronised across replicas (`synchronise`), StyleGAN's
  minibatch standard deviation and its mean w are taken over the global batch (`all_rows`, `global_mean`);
- counts of images (the EMA's half-life): the global batch (`global_batch`).
On one device every helper returns its input untouched, so training is bit for bit as before.
"""

import contextlib
import types

import keras
import tensorflow as tf

from gan_lab.errors import GanLabError

STRATEGIES = ("default", "mirrored")
MULTI_WORKER_ISSUE = "https://github.com/keras-team/keras/issues/20585"


def logical_cpus(n: int) -> list:
    """Split the (first) physical CPU into `n` logical devices and return their names, so that a
    machine without GPUs can run MirroredStrategy (the lab tests several devices on two cores this
    way). TensorFlow fixes its devices when it first runs anything: call this first thing in the
    process (in a notebook, in the first cell after a restart); later it is refused with the reason,
    unless the CPU is already split into `n`."""
    n = int(n)
    if n < 1:
        raise GanLabError(f"logical_cpus needs at least one device; got {n}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as err:  # "Virtual devices cannot be modified after being initialized"
        have = tf.config.list_logical_devices("CPU")
        if len(have) != n:
            raise GanLabError(
                f"TensorFlow has already set up its devices ({len(have)} logical CPU(s)), so the CPU cannot be "
                f"split into {n} any more. Call gan_lab.distribute.logical_cpus({n}) before anything runs on "
                "TensorFlow (first thing in the script; in a notebook, restart the kernel and call it in the "
                "first cell).") from err
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def strategy(name=None, devices=None):
    """The tf.distribute strategy called `name`:

    - None or "default": TensorFlow's default strategy (one device, no scope: training as before);
    - "mirrored": MirroredStrategy, a copy of the models on each device, gradients summed across them,
      over the visible GPUs or, without GPUs, the logical CPUs (`devices` > 1 splits the CPU first, see
      `logical_cpus`); `devices` caps the number of GPUs used.
    A `tf.distribute.Strategy` is returned as it is. MultiWorkerMirroredStrategy is not offered: with
    Keras 3 it does not train (MULTI_WORKER_ISSUE)."""
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name != "mirrored":
        raise GanLabError(f"Unknown distribution strategy {name!r}; choose one of {', '.join(STRATEGIES)} "
                          f"(MultiWorkerMirroredStrategy does not work with Keras 3: {MULTI_WORKER_ISSUE}).")
    if devices is not None and int(devices) < 1:
        raise GanLabError(f"devices must be at least 1; got {devices}.")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [f"/gpu:{i}" for i in range(len(gpus))][:devices]
    else:
        names = logical_cpus(devices) if devices else [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(names)


def scope(strategy_or_name=None):
    """`with scope(s):` builds variables under strategy `s` (a name or a Strategy); None: no scope at all,
    so code called inside a caller's own `strategy.scope()` stays under it."""
    if strategy_or_name is None:
        return contextlib.nullcontext()
    return strategy(strategy_or_name).scope()


def describe(strategy_or_name) -> dict:
    """What the model card records of a strategy: its class and number of replicas."""
    s = strategy(strategy_or_name)
    return {"strategy": type(s).__name__, "replicas": int(s.num_replicas_in_sync)}


def replicas() -> int:
    """Replicas training now: inside a train step under MirroredStrategy its number of devices, else 1."""
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def jit(xla):
    """`xla` for a model's `compile(jit_compile=...)`, but off under a strategy of several replicas: Keras
    compiles the whole `strategy.run` as one XLA cluster, which cannot reach the other devices' variables
    (TensorFlow: "Trying to access resource .../replica_1/... located in device CPU:1 from device CPU:0")."""
    if tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return False
    return xla


def check_batch(batch_size, strategy_or_name=None) -> None:
    """Refuse a global batch that does not split evenly over the replicas (each must see the same share,
    or the mean of the replicas' means is not the batch's mean)."""
    n = strategy(strategy_or_name).num_replicas_in_sync if strategy_or_name is not None else 1
    if int(batch_size) % n:
        raise GanLabError(f"batch_size {batch_size} does not split evenly over {n} replicas; use a multiple of {n}.")


def scale_loss(loss):
    """`loss` (a mean over this replica's share of the batch) divided by the number of replicas, so that
    the optimizer's sum of the replicas' gradients is the gradient of the global batch's mean. Same as
    `tf.nn.compute_average_loss(per_image, global_batch_size=...)` for a per-image loss, but it also
    covers penalties and sums of means. Apply it inside the GradientTape; report the unscaled loss."""
    r = sharing()
    return loss if r == 1 else loss * (1.0 / r)


def global_batch(n):
    """Images in the global batch of which this replica holds `n` (a count for, e.g., an EMA half-life)."""
    r = sharing()
    return n if r == 1 else n * r


def sharing() -> int:
    """Replicas sharing the batch here: `replicas()` inside a replica's step, 1 elsewhere (one device, or
    code called outside the step, e.g. a sample grid drawn in a callback)."""
    return 1 if tf.distribute.get_replica_context() is None else replicas()


def _replica_id():
    return None if sharing() == 1 else tf.distribute.get_replica_context().replica_id_in_sync_group


def replica_rows(draw, n):
    """`draw(m)` -> m rows of random numbers; returns this replica's `n` rows of the global batch's draw,
    i.e. the rows one device would have drawn for this replica's images. Every replica draws the whole
    global batch from its own copy of the seed generator (all copies step together) and keeps its rows."""
    rid = _replica_id()
    if rid is None:
        return draw(n)
    return own_rows(draw(n * sharing()), n)


def own_rows(everything, n):
    """This replica's `n` rows of a tensor holding the global batch (replica k holds rows k*n .. k*n+n-1:
    MirroredStrategy splits a global batch in order)."""
    rid = _replica_id()
    if rid is None:
        return everything
    return everything[rid * n:(rid + 1) * n]


def all_rows(x):
    """The global batch of a per-replica tensor, gathered from every replica in replica order (one
    device: `x`). Differentiable: the gradient of each replica's rows comes back to it."""
    if sharing() == 1:
        return x
    return tf.distribute.get_replica_context().all_gather(x, axis=0)


def global_mean(x):
    """The mean across replicas of a per-replica mean `x` (one device: `x`)."""
    if sharing() == 1:
        return x
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, x)


def syncs(model) -> bool:
    """Whether a training call of `model` waits on the other replicas (a synchronised BatchNormalization, a
    layer that gathers the global batch: `gathers_replicas = True`); such a call cannot sit inside tf.cond
    under MirroredStrategy."""
    return any(getattr(layer, "synchronized", False) is True or getattr(layer, "gathers_replicas", False) is True
               for layer in model._flatten_layers(include_self=False))


class Prebuilt:
    """Mixin for the lab's trainers (keras.Model subclasses whose networks are built when they are made,
    and whose optimizers are built by `compile` under a strategy): skip Keras' symbolic build at the
    start of `fit`. Under a strategy, Keras (keras/src/backend/tensorflow/trainer.py,
    `_maybe_symbolic_build`) draws one batch from a first iterator over the data and then starts a
    second one, so a pipeline that reshuffles every iteration would train on its second order, not the
    one a single device trains on; and it would build a GAN by calling it on images, which it does not
    take. On one device Keras skips that step anyway."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        return None


def _replica_dropout(self, inputs, training=False):
    """Keras Dropout's call (TF's stateless_dropout: keep where uniform >= rate, scale by 1 / (1 - rate)),
    with the uniform numbers drawn for the global batch and this replica's rows kept."""
    if not (training and self.rate > 0):
        return inputs
    shape = tf.shape(inputs)
    noise = replica_rows(lambda m: keras.random.uniform(tf.concat([[m], shape[1:]], 0), dtype=inputs.dtype,
                                                        seed=self.seed_generator), shape[0])
    scaled = inputs * tf.constant(1.0 / (1.0 - self.rate), inputs.dtype)
    return tf.where(noise >= self.rate, scaled, tf.zeros_like(inputs))


def synchronise(*models) -> None:
    """Under a strategy of several replicas (models built in its scope), make the models' batch-dependent
    layers see the global batch: BatchNormalization synchronised across replicas (Keras'
    `synchronized=True`, an all-reduce of the moments), Dropout masks drawn as one device draws them
    (`replica_rows`). One device: nothing changes. The layers' classes stay Keras' own (models save and
    load as before; a saved BatchNormalization keeps synchronized=True, which inference ignores)."""
    if not tf.distribute.has_strategy() or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return
    for model in models:
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = True
            elif type(layer) is keras.layers.Dropout and layer.noise_shape is None:
                layer.call = types.MethodType(_replica_dropout, layer)
