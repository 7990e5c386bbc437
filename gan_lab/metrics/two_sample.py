"""Can a classifier tell them apart? The classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017).

A small CNN is trained to tell real faces from generated ones; its accuracy on faces it never saw
is the figure: 50% means it cannot tell them apart, 100% that every fake gives itself away. The
Fréchet ratios read fixed features (16x16 thumbnails, the attribute classifier's 256), which can
rank a generator with smeared eyes and mouths above a sharper one; this test learns whatever
gives the fakes away (smear, checkerboards, blur), so it is reported beside them.

The detector is not trained to convergence (30 epochs of 1,400 faces, ~15 s): on the shipped
style-based model 60 epochs read 89% where 30 read 81%. So a figure compares only with figures
of the same settings, like every figure of the judge.
"""

import keras
import numpy as np
from keras import layers

from gan_lab.data import face_sets
from gan_lab.errors import GanLabError
from gan_lab.images import to_float
from gan_lab.repro import seed_everything

MIN_IMAGES = 50  # of each kind: fewer leave the held-out share too small to read


def detector(shape) -> keras.Model:
    """Real-or-generated: three stride-2 convolutions, global average pooling, one logit."""
    x = inputs = keras.Input(shape)
    for width in (16, 32, 64):
        x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 3, strides=2, padding="same")(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(1)(x), name="real_or_generated")


def caught(real, generated, seed=0, epochs=30, held_out=0.3, batch_size=64) -> dict:
    """Train `detector` on (1 - held_out) of the real and generated images (uint8 or [-1, 1]) and
    return its accuracy on the rest, with its standard error: {"accuracy", "stderr", "n_test", "n_train"}."""
    real, generated = np.asarray(real), np.asarray(generated)
    if real.shape[1:] != generated.shape[1:] or real.ndim != 4:
        raise GanLabError(f"Real {real.shape} and generated {generated.shape} images must be (n, h, w, c) of one size.")
    n = min(len(real), len(generated))
    if n < MIN_IMAGES:
        raise GanLabError(f"The two-sample test needs at least {MIN_IMAGES} images of each kind (got {n}); pass more.")
    seed_everything(seed)
    x = np.concatenate([to_float(real[:n]), to_float(generated[:n])]).astype(np.float32)
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.float32)
    order = np.random.default_rng(seed).permutation(2 * n)
    x, y, cut = x[order], y[order], int(round(2 * n * (1 - held_out)))
    model = detector(x.shape[1:])
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x[:cut], y[:cut], batch_size=batch_size, epochs=epochs, verbose=0)
    guess = keras.ops.convert_to_numpy(model.predict(x[cut:], batch_size=256, verbose=0))[:, 0] > 0
    accuracy = float(np.mean(guess == (y[cut:] > 0.5)))
    return {"accuracy": accuracy, "stderr": float(np.sqrt(accuracy * (1 - accuracy) / (2 * n - cut))),
            "n_test": 2 * n - cut, "n_train": cut, "epochs": epochs}


def judge(generate, latent_dim, n=1_000, seed=1, data="procedural", n_faces=20_000, **options) -> dict:
    """`caught` on `n` faces from seeded latents (`generate(z) -> uint8`) against `n` real test faces
    of unseen people: the same faces as `face_attributes.judge` with the same arguments."""
    real = face_sets.read(data, "test", n=n_faces, verbose=False).images[:n]
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    generated = np.concatenate([generate(z[i:i + 250]) for i in range(0, n, 250)])
    return caught(real, generated, seed=seed, **options) | {"judge": {"n": n, "seed": seed, "data": str(data),
                                                                       "n_faces": n_faces}}


def card(result) -> dict:
    """What a model card records of a `judge` result: the share caught, its standard error and the settings."""
    return {"caught": round(result["accuracy"], 3), "stderr": round(result["stderr"], 3), "n_test": result["n_test"],
            "detector_epochs": result["epochs"], **result["judge"]}
