"""The training toolkit's settings, shared by every GAN of the lab (MNIST, faces): one place that
turns a config into compiled optimizers and a compiled `GAN`.

    GAN_OPTIONS   the toolkit's knobs and their defaults (each a `gan-lab train` flag)
    compile_gan   Adam for D and G (separate learning rates and betas), loss, DiffAugment, lazy R1
    speeds        what each part costs: steady-state training images/s of several variants
"""

import time

import keras
import tensorflow as tf

from gan_lab import distribute
from gan_lab.errors import GanLabError
from gan_lab.training import augment
from gan_lab.training.callbacks import BudgetCosine
from gan_lab.training.gan import GAN

GAN_OPTIONS = {
    "loss": "nonsaturating", "lr": 2e-4, "lr_g": None, "lr_d": None, "beta_1": 0.5, "beta_2": 0.999,
    "label_smoothing": 0.1, "ema": 0.999, "ema_half_life": None, "augment": None, "cutout": 0.5,
    "r1_gamma": 0.0, "r1_every": 16, "lr_decay": "cosine", "lr_hold": None, "upsample": "transpose", "d_norm": "batch",
    "top_k": None, "top_k_half_life": 250_000,
}


def learning_rate(value, decay, steps, hold=0):
    """Constant, or cosine-decayed to zero over `steps` (sharper final samples), held at `value` for
    the first `hold` of them (warmup-stable-decay: a long run at a constant rate cooled down at the end,
    its length chosen late: resume it with --lr-hold). A run with only a wall-clock budget (`steps` None)
    decays over the budget instead (`callbacks.BudgetCosine`)."""
    if decay == "cosine":
        if hold:
            return keras.optimizers.schedules.CosineDecay(value, steps - hold, warmup_target=value, warmup_steps=hold)
        return keras.optimizers.schedules.CosineDecay(value, steps) if steps else BudgetCosine(value)
    if decay != "constant":
        raise GanLabError(f"Unknown learning-rate decay {decay!r}; choose cosine or constant.")
    return value


def schedule_steps(cfg, epochs, per_epoch) -> tuple:
    """(steps, hold): the optimizer steps of `epochs` and those of cfg's `lr_hold` epochs at the full
    rate, refused unless the rate is cosine-decayed over a set number of epochs, after the hold."""
    steps, hold = (epochs * per_epoch if epochs else None), cfg.get("lr_hold")
    if hold is None:
        return steps, 0
    if cfg["lr_decay"] != "cosine" or not epochs or not 0 < hold < epochs:
        raise GanLabError(f"lr_hold holds the rate for {hold} epochs before a cosine decay to zero at the last "
                          f"epoch: it needs --lr-decay cosine and --epochs above it (got {cfg['lr_decay']}, "
                          f"epochs {epochs}).")
    return steps, hold * per_epoch


def check(cfg) -> dict:
    """Refuse a bad toolkit setting now, with the reason, rather than mid-training."""
    augment.parse(cfg["augment"])
    if not 0 < float(cfg["cutout"]) <= 1:
        raise GanLabError(f"cutout is the square's side as a share of the image's, in (0, 1]; got {cfg['cutout']}.")
    for key in ("lr", "lr_g", "lr_d"):
        if cfg[key] is not None and not cfg[key] > 0:
            raise GanLabError(f"{key} must be positive; got {cfg[key]}.")
    for key in ("ema_half_life", "top_k_half_life"):
        if cfg.get(key) is not None and not cfg[key] > 0:
            raise GanLabError(f"{key} is a number of images, > 0; got {cfg[key]}.")
    if cfg.get("top_k") is not None and not 0 < cfg["top_k"] <= 1:
        raise GanLabError(f"top_k is the share of generated images the generator learns from, in (0, 1]; "
                          f"got {cfg['top_k']}.")
    return cfg


def compile_gan(generator, discriminator, cfg, steps, seed, xla, num_classes=None, trainer=GAN, strategy=None,
                hold=0, **options) -> GAN:
    """The GAN of `cfg` (a dict with GAN_OPTIONS' keys), compiled for `steps` optimizer steps.
    `trainer`: the GAN class (e.g. StyleGAN), built with `options` too. `strategy` (a tf.distribute
    strategy or its name, see `gan_lab.distribute`): build the GAN and its optimizers under it; the
    generator and discriminator must have been built under the same strategy's scope. `hold`: the
    steps at the full rate before a cosine decay (`schedule_steps`)."""
    check(cfg)
    with distribute.scope(strategy):
        return _compile_gan(generator, discriminator, cfg, (steps, hold), seed, xla, num_classes, trainer, **options)


def _compile_gan(generator, discriminator, cfg, schedule, seed, xla, num_classes, trainer, **options) -> GAN:
    def adam(lr):
        return keras.optimizers.Adam(learning_rate(lr or cfg["lr"], cfg["lr_decay"], *schedule),
                                     beta_1=cfg["beta_1"], beta_2=cfg["beta_2"])

    gan = trainer(generator, discriminator, seed=seed, ema=cfg["ema"], ema_half_life=cfg["ema_half_life"],
                  num_classes=num_classes, **options)
    gan.compile(d_optimizer=adam(cfg["lr_d"]), g_optimizer=adam(cfg["lr_g"]), loss=cfg["loss"],
                label_smoothing=cfg["label_smoothing"], augment=cfg["augment"], cutout=cfg["cutout"],
                r1_gamma=cfg["r1_gamma"], r1_every=cfg["r1_every"], jit_compile=distribute.jit(xla),
                top_k=cfg.get("top_k"), top_k_half_life=cfg.get("top_k_half_life", GAN_OPTIONS["top_k_half_life"]))
    return gan


def steady_speed(trainer, batch, steps=40, warmup=5) -> float:
    """Training images/s of a compiled trainer in steady state: `warmup` steps untimed (tracing,
    XLA compilation), then `steps` timed, all on one batch (so data loading is not counted)."""
    data = tf.data.Dataset.from_tensors(batch).repeat()
    trainer.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    trainer.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * int(batch.shape[0]) / (time.perf_counter() - start)


def speeds(build, variants: dict, batch, steps=40, warmup=5) -> dict:
    """{variant: {"images_per_s", "cost"}} for `variants` ({name: option overrides}, the first one
    the reference): `build(overrides)` returns a compiled trainer; cost is the share of the
    reference's speed a variant loses (0.12: 12% slower). Run it on an otherwise idle machine."""
    rates = {name: steady_speed(build(overrides), batch, steps, warmup) for name, overrides in variants.items()}
    reference = next(iter(rates.values()))
    return {name: {"images_per_s": round(rate, 1), "cost": round(1.0 - rate / reference, 3)}
            for name, rate in rates.items()}
