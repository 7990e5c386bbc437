"""Callbacks for GAN-style models: sample grids, atomic checkpoints, a tqdm progress bar."""

import csv
import math
import signal
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
from tqdm.std import tqdm

from gan_lab import images
from gan_lab.training import checkpoints

OPEN_ENDED = 1_000_000  # the epochs of a run that only a wall-clock budget ends


def _due(epoch: int, every: int, total, model=None) -> bool:
    """1-based `epoch` is due for a grid/checkpoint: every `every` epochs, the last one, and the
    one a wall-clock budget stopped."""
    return epoch % every == 0 or epoch == total or bool(getattr(model, "stop_training", False))


class BudgetCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay to zero over a wall-clock budget. A run with only `minutes` has no known number of
    steps, so the share of its budget spent (`progress`, which `Budget` sets before each step) drives
    the rate instead of the step count; the run ends at about zero, as an epoch-counted one does."""

    def __init__(self, initial):
        self.initial = float(initial)
        self.progress = keras.Variable(0.0, trainable=False, name="budget_progress")

    def __call__(self, step):
        return self.initial * 0.5 * (1.0 + keras.ops.cos(math.pi * keras.ops.minimum(self.progress, 1.0)))

    def get_config(self):
        return {"initial": self.initial}


class Budget(keras.callbacks.Callback):
    """A wall-clock budget: training stops at the first step boundary after `seconds`, and that
    epoch's end writes the checkpoint and the grid. `spent`: seconds trained before this segment
    (a resumed run counts its earlier segments); `total()` is what the checkpoint records.

    An interrupt (Ctrl-C, a notebook's stop button, `kill -INT` or `kill -TERM`) ends the run the
    same way, so an hour-long epoch is not lost: the next step boundary stops it with a checkpoint,
    the grid and the generator written (`interrupted`). A second interrupt acts at once.

    `schedules`: BudgetCosine rates, told before each step what share of the budget is spent."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, seconds=None, spent=0.0, schedules=()):
        super().__init__()
        self.seconds, self.spent, self.stopped, self.interrupted = seconds, float(spent), False, False
        self.started, self._previous, self.schedules = time.perf_counter(), {}, list(schedules)
        if self.schedules and not seconds:
            raise ValueError("a learning rate that decays over the budget needs a budget (seconds)")

    def total(self) -> float:
        return self.spent + time.perf_counter() - self.started

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {sig: signal.signal(sig, self._interrupt) for sig in self.SIGNALS}

    def _interrupt(self, signum, frame):
        self.interrupted = True
        self._restore()  # the next interrupt is not deferred
        print(f"\n{signal.Signals(signum).name}: stopping at the next step with a checkpoint "
              "(interrupt again to stop at once).", file=sys.stderr, flush=True)

    def _restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def on_train_batch_begin(self, batch, logs=None):
        if self.schedules:
            share = min(self.total() / self.seconds, 1.0)
            for schedule in self.schedules:
                schedule.progress.assign(share)

    def on_train_batch_end(self, batch, logs=None):
        if self.interrupted or (self.seconds is not None and self.total() >= self.seconds):
            self.model.stop_training = self.stopped = True

    def on_train_end(self, logs=None):
        self._restore()


class SampleGrid(keras.callbacks.Callback):
    """Save a PNG grid of generated images from fixed latents after the first epoch, every
    `every` epochs and after the last one (the classic setup: every 20 of 200 epochs); with
    `logdir`, the same picture goes to TensorBoard's Images tab. A model with `grid_columns`
    (the CycleGAN's a, a->b, a->b->a, b, b->a, b->a->b) sets the grid's width."""

    def __init__(self, latents, folder, every=20, value_range=(-1.0, 1.0), scale=2, logdir=None):
        super().__init__()
        self.latents = np.asarray(latents, np.float32)
        self.folder, self.every = Path(folder), every
        self.value_range, self.scale, self.logdir = value_range, scale, logdir
        self.saved = {}  # epoch -> PNG path

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done == 1 or _due(done, self.every, self.params.get("epochs"), self.model):
            fakes = self.model.draw(self.latents) if hasattr(self.model, "draw") else \
                self.model.sampler(self.latents, training=False)
            picture = images.grid(images.to_uint8(keras.ops.convert_to_numpy(fakes), self.value_range),
                                  cols=getattr(self.model, "grid_columns", None))
            self.saved[done] = images.save_png(picture, self.folder / f"epoch-{done:04d}.png", self.scale)
            if self.logdir:
                _tensorboard_image(self.logdir, "samples", picture, done)


def _tensorboard_image(logdir, name, picture, step):
    import tensorflow as tf

    with tf.summary.create_file_writer(str(Path(logdir) / "images")).as_default():
        tf.summary.image(name, picture[None], step=step)


class Checkpoint(keras.callbacks.Callback):
    """Write both models and both optimizers every `every` epochs, after the last one and when a
    budget stops the run; with the training seconds spent so far (`budget`, a Budget)."""

    def __init__(self, folder, config, every=20, keep=3, budget=None):
        super().__init__()
        self.folder, self.config, self.every, self.keep = Path(folder), config, every, keep
        self.budget = budget

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if _due(done, self.every, self.params.get("epochs"), self.model):
            m = self.model
            spent = {"train_seconds": round(self.budget.total(), 1)} if self.budget else {}
            checkpoints.save(self.folder, done, m.checkpoint_models(), m.checkpoint_optimizers(),
                             self.config, rng_state=m.seed_generator.state.numpy(), keep=self.keep, **spent)


class HistoryCSV(keras.callbacks.Callback):
    """Append one row per epoch (1-based epoch, every logged metric, seconds) to a CSV file;
    a resumed run appends to the same file, so it holds the whole run."""

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1} | {k: float(v) for k, v in sorted((logs or {}).items())}
        row["seconds"] = round(time.perf_counter() - self.started, 3)
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


class Progress(keras.callbacks.Callback):
    """One text progress bar over epochs, with the latest losses and images/s beside it.

    Plain (not widget) tqdm, so the bar also reads well in a stored notebook and a log.
    """

    SHOWN = ("d_loss", "g_loss", "reconstruction", "kl")

    def __init__(self, images_per_epoch, initial_epoch=0, desc="training"):
        super().__init__()
        self.images_per_epoch, self.initial_epoch, self.desc = images_per_epoch, initial_epoch, desc
        self.rates, self.whole = [], []  # images/s of each epoch; whether it ran all its steps

    def on_train_begin(self, logs=None):
        total = self.params["epochs"] if self.params["epochs"] < OPEN_ENDED else None  # a budget-only run
        self.bar = tqdm(total=total, initial=self.initial_epoch, desc=self.desc,
                        unit="epoch", file=sys.stdout, dynamic_ncols=False, ncols=110)

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.batches = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        steps = self.params.get("steps")
        share = min(self.batches / steps, 1.0) if steps and self.batches else 1.0  # an epoch the budget cut short
        self.rates.append(self.images_per_epoch * share / (time.perf_counter() - self.started))
        self.whole.append(share == 1.0)
        shown = {k: f"{v:.3g}" for k, v in (logs or {}).items() if k in self.SHOWN}
        self.bar.set_postfix(shown | {"img/s": f"{self.rates[-1]:.0f}"}, refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()

    def steady_rate(self) -> float:
        """The run's training images/s: the median over whole epochs after the first (which includes
        tracing). An epoch the budget cut short is left out when a whole one exists: what runs once an
        epoch (the checkpoint and grid at its end, the pipeline's refill) weighs on too few steps (the
        style-based notebook's 71-s last epoch read 36 images/s, its whole epoch 106)."""
        whole = [rate for rate, full in zip(self.rates, self.whole) if full]
        return float(np.median(whole[1:] or whole or self.rates[1:] or self.rates or [0.0]))
