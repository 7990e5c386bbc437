"""DiffAugment (Zhao et al., 2020): the same differentiable augmentation of real *and* generated
images, in both the discriminator's and the generator's step, so the discriminator cannot
memorise a small training set and the generator still learns the un-augmented distribution.

    x = diff_augment(images, "color,translation,cutout", seed_generator)

Policies (mit-han-lab/data-efficient-gans, `DiffAugment_pytorch.py`), on images in [-1, 1]:
- color: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5), per image;
- translation: a shift of up to 1/8 of the side in each direction, zero padded;
- cutout: one zeroed square of half the side (`cutout=0.25` for digits, as the paper suggests).
All of it is plain TensorFlow (gathers and masks), differentiable and XLA-compilable. Under a
`tf.distribute` strategy each replica draws its images' rows of the global batch's random numbers
(`distribute.replica_rows`), so the augmentation is the one a single device would apply.
"""

import keras
import tensorflow as tf

from gan_lab import distribute
from gan_lab.errors import GanLabError

POLICIES = ("color", "translation", "cutout")


def parse(policy) -> tuple:
    """"color,translation,cutout" -> ("color", "translation", "cutout"); "" or "none" -> ()."""
    if policy in (None, "", "none"):
        return ()
    parts = tuple(p.strip() for p in str(policy).split(",") if p.strip())
    unknown = [p for p in parts if p not in POLICIES]
    if unknown:
        raise GanLabError(f"Unknown augmentation {', '.join(unknown)}; DiffAugment policies are "
                          f"{', '.join(POLICIES)} (comma-separated), or 'none'.")
    return parts


def _uniform(x, seed, low=0.0, high=1.0):
    return distribute.replica_rows(lambda m: keras.random.uniform((m, 1, 1, 1), low, high, seed=seed), tf.shape(x)[0])


def _randint(shape, low, high, seed):
    """Integers in [low, high) of `shape` (its first dimension the batch), per image."""
    return distribute.replica_rows(lambda m: keras.random.randint((m, *shape[1:]), low, high, seed=seed), shape[0])


def color(x, seed):
    x = x + _uniform(x, seed, -0.5, 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * _uniform(x, seed, 0.0, 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _uniform(x, seed, 0.5, 1.5) + mean


def translation(x, seed, ratio=0.125):
    """Shift each image by whole pixels (up to ratio x side), filling with zeros."""
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = tf.cast(_randint((n, 1), -sh, sh + 1, seed), tf.int32)
    dx = tf.cast(_randint((n, 1), -sw, sw + 1, seed), tf.int32)
    padded = tf.pad(x, [[0, 0], [sh, sh], [sw, sw], [0, 0]])
    rows = tf.range(h)[None] + sh - dy  # (n, h): the source row of each output row
    cols = tf.range(w)[None] + sw - dx
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def cutout(x, seed, ratio=0.5):
    """Zero one square of ratio x side per image, anywhere (it may hang over the border)."""
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = tf.cast(_randint((n, 1, 1), 0, h + (1 - ch % 2), seed), tf.int32)
    cx = tf.cast(_randint((n, 1, 1), 0, w + (1 - cw % 2), seed), tf.int32)
    ys, xs = tf.range(h)[None, :, None], tf.range(w)[None, None, :]
    inside = (tf.abs(ys - cy) <= ch // 2) & (tf.abs(xs - cx) <= cw // 2)
    return x * tf.cast(~inside, x.dtype)[..., None]


def diff_augment(x, policy, seed, cutout_ratio=0.5):
    """Apply the policy's parts in order (colour, translation, cutout), each freshly random per image."""
    for part in parse(policy) if isinstance(policy, str) or policy is None else policy:
        if part == "color":
            x = color(x, seed)
        elif part == "translation":
            x = translation(x, seed)
        elif part == "cutout":
            x = cutout(x, seed, cutout_ratio)
    return x
