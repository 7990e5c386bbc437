"""Training the ESPCN upscaler on procedural faces, where the truth is known.

Procedural faces can be drawn at any size, so a face drawn at 256 px and area-averaged to 64 px
is a real (low, high) pair. The model learns from such pairs and is scored (metrics.super_resolution)
against the 256-px drawings of faces it never saw.
"""

import time
from pathlib import Path

import keras
import numpy as np

from gan_lab import distribute, images, modelfolder, paths
from gan_lab.data import procedural_faces
from gan_lab.errors import GanLabError
from gan_lab.models.espcn import build_sr

LOW = 64  # the generators' image size: what every upscaler takes
HELDOUT_SEED = 1_000_003  # faces for the figures; training refuses this seed
VALIDATION_SEED = 1_000_004  # faces for the per-epoch validation loss


def training_pairs(n, low=LOW, scale=4, seed=0) -> tuple:
    """(low uint8 (n, low, low, 3), high uint8 (n, low*scale, low*scale, 3)): procedural faces
    drawn at the high size and area-averaged down."""
    high = procedural_faces.faces(n, size=low * scale, seed=seed)["images"]
    return images.downsample(high, scale), high


def _unit(pictures) -> np.ndarray:
    return images.to_float(pictures, (0.0, 1.0))


def _batches(low, high, batch_size, patch, seed):
    """Endless float batches of random low-res patch x patch crops and their high-res twins.
    Small crops buy more, noisier steps for the same arithmetic (measured: +0.7 dB over whole
    faces at equal time); the uint8 pairs stay uint8 in memory."""
    rng = np.random.default_rng(seed)
    scale = high.shape[1] // low.shape[1]
    while True:
        picks = rng.integers(0, len(low), batch_size)
        ys, xs = rng.integers(0, low.shape[1] - patch + 1, (2, batch_size))
        yield (_unit(np.stack([low[i, y:y + patch, x:x + patch] for i, y, x in zip(picks, ys, xs)])),
               _unit(np.stack([high[i, scale * y:scale * (y + patch), scale * x:scale * (x + patch)]
                               for i, y, x in zip(picks, ys, xs)])))


def train(out_dir, epochs=6, n_train=1000, seed=0, batch_size=16, verbose=1, scale=4, filters=(64, 32),
          residual=True, loss="mse", learning_rate=1e-3, patch=32, n_val=64, strategy=None) -> dict:
    """Train an ESPCN on n_train procedural pairs; save out_dir/sr.keras atomically and model.json.

    Adam on MSE (PSNR is a function of MSE; L1 measured 1.3 dB lower), seeded. An epoch is as many
    patches as cover the training faces once. Validation faces have their own seed, neither the
    training nor the held-out one. `strategy`: a tf.distribute strategy or its name ("mirrored") to train
    on several devices, batch_size being the global batch (Keras' own MSE scales itself to it)."""
    if seed in (HELDOUT_SEED, VALIDATION_SEED):
        raise GanLabError(f"seed {seed} draws the held-out or validation faces; train with another seed.")
    out_dir = paths.writable_dir(out_dir)
    if not 0 < patch <= LOW:
        raise GanLabError(f"patch must be between 1 and {LOW} (low-res pixels); got {patch}.")
    if strategy is not None:
        distribute.check_batch(batch_size, strategy)
    start, cpu = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(seed)
    low, high = training_pairs(n_train, scale=scale, seed=seed)
    val_low, val_high = training_pairs(n_val, scale=scale, seed=VALIDATION_SEED)
    draw_seconds = time.perf_counter() - start
    with distribute.scope(strategy):
        model = build_sr(scale, filters, residual=residual)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    steps = max(1, n_train * (LOW // patch) ** 2 // batch_size)
    history = model.fit(_batches(low, high, batch_size, patch, seed), steps_per_epoch=steps, epochs=epochs,
                        validation_data=(_unit(val_low), _unit(val_high)), validation_batch_size=batch_size,
                        shuffle=False, verbose=verbose)
    modelfolder.save_keras(model, Path(out_dir) / "sr.keras")
    report = {"task": "super-resolution", "architecture": "espcn", "scale": scale, "low_size": LOW,
              "high_size": LOW * scale, "filters": list(filters), "residual": residual, "loss": loss,
              "learning_rate": learning_rate, "epochs": epochs, "steps_per_epoch": steps, "n_train": n_train,
              "batch_size": batch_size, "patch": patch, "seed": seed, "value_range": [0.0, 1.0],
              "validation": {"seed": VALIDATION_SEED, "n": n_val},
              "history": {k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()},
              "draw_seconds": round(draw_seconds, 1), "train_seconds": round(time.perf_counter() - start, 1),
              "train_cpu_seconds": round(time.process_time() - cpu, 1),
              "data_source": "procedural faces drawn at 256 px, area-averaged to 64 px",
              "parameters": int(model.count_params())}
    modelfolder.write_info(out_dir, **report)
    return report
