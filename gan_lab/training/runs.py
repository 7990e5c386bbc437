"""A training run in a folder: config, checkpoints, sample grids, logs, history, result.

    out/
      config.json          what was asked for
      checkpoints/ckpt-*/  atomic checkpoints, newest `keep` kept
      samples/epoch-*.png  grids from fixed latents
      logs/                TensorBoard
      history.csv          one row per epoch (appended on resume)
      generator.keras      the final generator, model.json beside it
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from gan_lab import flops, modelfolder, paths
from gan_lab.errors import GanLabError
from gan_lab.models.io import load_keras
from gan_lab.training import callbacks, checkpoints, self_condition


@dataclass
class RunResult:
    out: Path
    history: dict
    grids: dict  # epoch -> PNG path
    epochs_done: int
    train_seconds: float
    images_per_second: float
    info: dict = field(default_factory=dict)


OPEN_ENDED = callbacks.OPEN_ENDED


def prepare_out(out, resume: bool) -> Path:
    """Validate the run folder: refuse to silently train over an earlier run."""
    out = paths.writable_dir(out, "run folder")
    found = checkpoints.latest(out / "checkpoints")
    if found and not resume:
        raise GanLabError(f"{out} already holds a run (newest checkpoint {found.name}); pass --resume "
                          "(resume=True) to continue it, or choose another output folder.")
    return out


def check_budget(epochs, minutes):
    """Refuse a run with neither length nor budget, or with a budget that is not positive."""
    if epochs is None and minutes is None:
        raise GanLabError("Give the run a length: epochs, a wall-clock budget in minutes, or both.")
    if epochs is not None and int(epochs) <= 0:
        raise GanLabError(f"epochs must be a positive number, got {epochs}.")
    if minutes is not None and not float(minutes) > 0:
        raise GanLabError(f"minutes must be a positive budget, got {minutes}.")


def fit(trainer, data, out, config, epochs, images_per_epoch, sample_latents,
        grid_every=20, checkpoint_every=20, keep=3, resume=False, value_range=(-1.0, 1.0), minutes=None,
        command=None) -> RunResult:
    """Train `trainer` (a compiled GAN/VAE-style model) on `data` for `epochs` in run folder `out`,
    or until `minutes` of training time (counted over resumed segments too) are spent.
    `command` (the CLI's) joins the card's `commands` once the run is accepted, before it trains, so a
    segment killed with its session is listed too; a refused run writes nothing."""
    check_budget(epochs, minutes)
    epochs = int(epochs or OPEN_ENDED)
    out = prepare_out(out, resume)
    ckpt_dir = out / "checkpoints"
    with trainer.distribute_strategy.scope():  # slots beside the weights: mirrored when they are
        trainer.build_optimizers()
    initial_epoch, spent = 0, 0.0
    found = checkpoints.latest(ckpt_dir) if resume else None
    if found:
        checkpoints.check_config(found, config)
        spent = float(checkpoints.read_state(found).get("train_seconds", 0.0))
        if minutes is not None and spent >= minutes * 60:
            raise GanLabError(f"{out} has already trained {spent / 60:.1f} min, its whole budget of {minutes:g} min; "
                              "nothing was written. Give a larger --minutes to train on.")
        state = checkpoints.restore(found, trainer.checkpoint_models(), trainer.checkpoint_optimizers())
        if state.get("rng_state") is not None:
            trainer.seed_generator.state.assign(state["rng_state"])
        initial_epoch = state["epoch"]
        trim_history(out / "history.csv", initial_epoch)
        print(f"Resuming from {found} (epoch {initial_epoch} of {epochs}).")
    else:  # nothing to resume: rows left by a run killed before its first checkpoint are stale
        (out / "history.csv").unlink(missing_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if command:  # a fresh run's card starts over: a folder left before any checkpoint names no segment
        earlier = modelfolder.read_info(out).get("commands", []) if found else []
        modelfolder.write_info(out, commands=earlier + [command])
    budget = callbacks.Budget(minutes * 60 if minutes is not None else None, spent, budget_schedules(trainer))
    grid = callbacks.SampleGrid(sample_latents, out / "samples", grid_every, value_range, logdir=out / "logs")
    progress = callbacks.Progress(images_per_epoch, initial_epoch)
    cbs = [budget, grid, callbacks.Checkpoint(ckpt_dir, config, checkpoint_every, keep, budget),
           callbacks.HistoryCSV(out / "history.csv"),
           keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False), progress]
    start = time.perf_counter()
    history = {}
    if initial_epoch < epochs:
        history = trainer.fit(data, epochs=epochs, initial_epoch=initial_epoch, callbacks=cbs, verbose=0,
                              shuffle=False).history  # the tf.data pipeline shuffles
    seconds = time.perf_counter() - start
    rate = progress.steady_rate()
    done = initial_epoch + len(next(iter(history.values()), []))
    result = RunResult(out, history, grid.saved, done, seconds, rate)
    result.info = {"budget_minutes": minutes, "stopped_by_budget": budget.stopped and not budget.interrupted,
                   "interrupted": budget.interrupted,
                   "total_train_seconds": round(budget.total(), 1)} | roofline(trainer, rate)
    return result


def budget_schedules(trainer) -> list:
    """The trainer's learning rates that decay over the wall-clock budget (a budget-only cosine run)."""
    rates = [getattr(opt, "_learning_rate", None) for opt in trainer.checkpoint_optimizers().values()]
    return [rate for rate in rates if isinstance(rate, callbacks.BudgetCosine)]


def roofline(trainer, images_per_second) -> dict:
    """FLOPs per training image counted from the models, the rate they were done at, and its share
    of this machine's SGEMM peak (measured now, after training, on a quiet machine)."""
    if not hasattr(trainer, "training_flops") or not images_per_second:
        return {}
    per_image = trainer.training_flops()
    peak = flops.sgemm_peak(seconds=1.5)
    achieved = images_per_second * per_image / 1e9
    return {"train_mflops_per_image": round(per_image / 1e6, 1), "train_gflops": round(achieved, 1),
            "sgemm_peak_gflops": round(peak, 1), "train_peak_share": round(achieved / peak, 4)}


def trim_history(path, last_epoch: int) -> None:
    """Drop history rows after `last_epoch`: epochs past the checkpoint will be trained again."""
    path = Path(path)
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:1] + [r for r in lines[1:] if int(r.split(",")[0]) <= last_epoch]))


def read_history(out) -> dict:
    """history.csv of a run folder -> {column: array}, over all resumed segments."""
    path = Path(out) / "history.csv"
    if not path.exists():
        return {}
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
    return {name: np.atleast_1d(table[name]) for name in table.dtype.names}


def save_generator(result: RunResult, generator, folder=None, **info) -> Path:
    """Write generator.keras and model.json into the run folder (or `folder`)."""
    folder = Path(folder or result.out)
    folder.mkdir(parents=True, exist_ok=True)
    modelfolder.save_keras(generator, folder / "generator.keras")
    latent_dim = int(generator.inputs[0].shape[-1])
    image_shape = [int(d) for d in generator.outputs[0].shape[1:]]
    modelfolder.write_info(folder, latent_dim=latent_dim, image_shape=image_shape, value_range=[-1.0, 1.0],
                           epochs=result.epochs_done, train_seconds=round(result.train_seconds, 1),
                           train_images_per_second=round(result.images_per_second, 1), **info)
    return folder / "generator.keras"


def checkpoint_generator(out, epoch=None) -> keras.Model:
    """The averaged generator of a GAN run's checkpoint `epoch` (default: the newest kept), as the run
    would have shipped it (z-only when self-conditioned), to judge epochs and pick the best."""
    out = Path(out)
    found = checkpoints.list_checkpoints(out / "checkpoints")
    ckpt = found[-1] if found and epoch is None else out / "checkpoints" / f"{checkpoints.PREFIX}{int(epoch or 0):06d}"
    if not (ckpt / "ema_generator.keras").exists():
        kept = ", ".join(p.name for p in found) or "none"
        raise GanLabError(f"{ckpt} holds no averaged generator (kept checkpoints of {out}: {kept}); "
                          "choose one of those epochs.")
    generator = load_keras(ckpt / "ema_generator.keras")  # registers the style-based layers first
    if (out / "clusters.npz").exists():
        with np.load(out / "clusters.npz", allow_pickle=False) as saved:
            generator = self_condition.z_only(generator, saved["labels"], int(saved["k"]))
    return generator
