"""Train the MNIST GAN end to end: data, models, GAN, run folder, final generator."""

from gan_lab import distribute, latent
from gan_lab.data import mnist as mnist_data
from gan_lab.errors import GanLabError
from gan_lab.models import mnist as mnist_models
from gan_lab.repro import seed_everything
from gan_lab.training import self_condition
from gan_lab.training.runs import fit, prepare_out, save_generator
from gan_lab.training.toolkit import GAN_OPTIONS, compile_gan, schedule_steps, speeds

# XLA fuses the dense GAN's layers: 1,785 vs 1,328 training images/s on 2 cores; on the
# DCGAN's convolutions it made no measurable difference (1,073 vs 1,013), so it stays off
# there and saves the compile time. Measured with `gan-lab train mnist --epochs 15 --[no-]xla`.
XLA_BY_ARCH = {"mlp": True, "dcgan": False, "cgan": False}
NUM_CLASSES = 10

DEFAULTS = GAN_OPTIONS | {"arch": "mlp", "latent_dim": 100, "batch_size": 64, "lr": 4e-4, "cutout": 0.25, "d_norm": "none",
                          "xla": None, "g_widths": None, "d_widths": None, "d_mbstd": False,
                          "clusters": None,
                          "grid_every": 20, "checkpoint_every": 20, "keep": 3,
                          "minutes": None}


def train(out, epochs=None, seed=0, resume=False, source="auto", max_images=None, strategy=None, command=None,
          **overrides):
    """Train an MNIST GAN in run folder `out`; returns (RunResult, GAN).

    overrides: any key of DEFAULTS (arch, loss, latent_dim, batch_size, lr, ...); `clusters` K with
    arch "cgan": an unconditional GAN, self-conditioned on K clusters of the images (no labels; see
    `self_condition`), whose shipped generator takes z alone.
    strategy: a tf.distribute strategy or its name ("mirrored"; see `gan_lab.distribute`) to train on
    several devices, batch_size being the global batch; None: one device, as before.
    command: the command line to list on the card (see `runs.fit`).
    """
    cfg = options(overrides)
    if strategy is not None:
        distribute.check_batch(cfg["batch_size"], strategy)
    seed_everything(seed)
    digits = mnist_data.load("train", source=source)
    images = digits.images[:max_images] if max_images else digits.images
    steps, hold = schedule_steps(cfg, epochs, len(images) // cfg["batch_size"])
    classes = _classes(cfg)
    gan = _gan(cfg, steps, seed, strategy, hold)
    labelled = classes and not cfg["clusters"]
    config = {"model": "mnist-conditional" if labelled else "mnist", "image_shape": [28, 28, 1], "seed": seed,
              "data_source": digits.source, "train_images": len(images), "epochs": epochs} | cfg
    labels = None
    if cfg["clusters"]:
        prepare_out(out, resume)  # before writing clusters.npz: an earlier run's folder is refused whole
        labels = self_condition.load_or_make(out, images, cfg["clusters"], seed, resume)
    elif classes:
        labels = digits.labels[:max_images] if max_images else digits.labels
    batches = mnist_data.dataset(images, cfg["batch_size"], seed, labels=labels, drop_remainder=True)
    result = fit(gan, batches, out, config, epochs, images_per_epoch=len(images) // cfg["batch_size"] * cfg["batch_size"],
                 sample_latents=latent.sample(64, _latent(cfg), seed), grid_every=cfg["grid_every"],
                 checkpoint_every=cfg["checkpoint_every"], keep=cfg["keep"], resume=resume, minutes=cfg["minutes"],
                 command=command)
    result.info |= {"data_source": digits.source, "train_images": len(images), "architecture": cfg["arch"],
                   "loss": cfg["loss"], "seed": seed, "batch_size": cfg["batch_size"],
                   "toolkit": {k: cfg[k] for k in (*GAN_OPTIONS, "d_mbstd")}}
    generator = gan.ema_generator
    if cfg["clusters"]:
        result.info["self_conditioned"] = self_condition.describe(labels, cfg["clusters"])
        generator = self_condition.z_only(generator, labels, classes)
    elif classes:
        result.info |= {"num_classes": classes, "classes": [str(d) for d in range(classes)]}
    if strategy is not None:
        result.info |= distribute.describe(strategy)
    save_generator(result, generator, **result.info)
    return result, gan


def options(overrides) -> dict:
    """DEFAULTS with `overrides` (refused if unknown) and XLA chosen by architecture when unset."""
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise GanLabError(f"Unknown training option(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}.")
    cfg = DEFAULTS | overrides
    if cfg["clusters"] is not None and cfg["arch"] not in mnist_models.CONDITIONAL:
        raise GanLabError(f"--clusters trains the conditional architecture on clusters of the images; use it "
                          f"with --arch cgan, not {cfg['arch']!r}.")
    if cfg["xla"] is None:
        cfg["xla"] = XLA_BY_ARCH.get(cfg["arch"], False)
    return cfg


def _classes(cfg):
    """Classes of a conditional GAN (the digits, or the clusters it self-conditions on), else None."""
    if cfg["arch"] not in mnist_models.CONDITIONAL:
        return None
    return cfg["clusters"] or NUM_CLASSES


def _latent(cfg):
    return self_condition.trained_latent(cfg["latent_dim"], cfg["clusters"])


def _gan(cfg, steps, seed, strategy=None, hold=0):
    classes = _classes(cfg)
    with distribute.scope(strategy):
        generator, discriminator = mnist_models.build(cfg["arch"], _latent(cfg), cfg["g_widths"],
                                                      cfg["d_widths"], upsample=cfg["upsample"], norm=cfg["d_norm"],
                                                      mbstd=cfg["d_mbstd"], classes=classes)
        return compile_gan(generator, discriminator, cfg, steps, seed, cfg["xla"], num_classes=classes, hold=hold)


def toolkit_costs(variants: dict, steps=40, seed=0, **common) -> dict:
    """What each part of the toolkit costs the unconditional MNIST GAN: `toolkit.speeds` of
    `variants` ({name: options}, the first the reference), each with `common` options too, on one
    batch of real digits."""
    def build(overrides):
        seed_everything(seed)
        return _gan(options({"lr_decay": "constant"} | common | overrides), None, seed)

    batch = mnist_data.load("train", verbose=False).images[:options(common)["batch_size"]]
    return speeds(build, variants, batch, steps)
