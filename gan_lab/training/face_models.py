"""Train the face models end to end: faces (procedural or CelebA), models, trainer, run folder.

The DCGAN, the style-based GAN and the VAE share everything but the trainer: the same data pipeline, run
folder, callbacks, checkpoints and resume as the MNIST GAN (`training.runs.fit`).
"""

import keras
import numpy as np

from gan_lab import distribute, latent, modelfolder
from gan_lab.data import face_sets, imagefiles, procedural_faces
from gan_lab.errors import GanLabError
from gan_lab.models import dcgan, stylegan, vae
from gan_lab.repro import seed_everything
from gan_lab.training import self_condition
from gan_lab.training.runs import fit, prepare_out, save_generator
from gan_lab.training.stylegan import StyleGAN
from gan_lab.training.toolkit import GAN_OPTIONS, compile_gan, learning_rate, schedule_steps, speeds
from gan_lab.training.vae import VAE

EXTRA_SEED = 1  # the extra training faces: a set of its own, no person shared with the seed-0 set
COMMON = {"data": face_sets.PROCEDURAL, "n_faces": 20_000, "image_size": 64, "latent_dim": 128, "base": 24,
          "batch_size": 64, "lr_decay": "cosine", "xla": True, "grid_every": 2, "checkpoint_every": 2,
          "keep": 3, "max_images": None, "minutes": None, "extra_faces": 0}
# XLA compiles the train step: the DCGAN at base 32 trained at 113 against 93 images/s without it.
# The style-based model takes StyleGAN2-ADA's small-data settings ("cifar" config: Adam 0.0025 with betas
# (0, 0.99), R1 gamma 0.01 every 16 D steps, no label smoothing, EMA half-life 10k
# images, no style mixing), a 2-layer mapping, and `base` channels at the image's side, doubling up to `cap`.
# Mixing 0.9 (FFHQ's) cost quality here: from scratch without it, feature Fréchet 1.79x at epoch 35 against
# 2.49x for the best run with it (docs/measurements.md, "Without style mixing").
STYLE_GAN = {k: v for k, v in GAN_OPTIONS.items() if k not in ("upsample", "d_norm", "top_k", "top_k_half_life")} | {
    "lr": 2.5e-3, "beta_1": 0.0, "beta_2": 0.99, "label_smoothing": 0.0, "r1_gamma": 0.01, "ema_half_life": 10_000,
    "base": 16, "cap": 128, "w_dim": 128, "mapping_layers": 2, "mixing": 0.0, "d_base": None, "lr_decay": "constant",
    "xla": False}  # XLA runs the blur's depthwise convolution ~40x slower on a CPU: 6 against 44 images/s
DEFAULTS = {
    "dcgan": COMMON | GAN_OPTIONS | {"d_base": None, "clusters": None, "d_mbstd": False},
    "vae": COMMON | {"lr": 1e-3, "beta_1": 0.9, "beta": 1.0, "lr_hold": None},
    "stylegan": COMMON | STYLE_GAN,
}


def options(model, overrides) -> dict:
    """DEFAULTS[model] updated with `overrides`; unknown keys are refused with the valid ones."""
    if model not in DEFAULTS:
        raise GanLabError(f"Unknown face model {model!r}; choose one of {sorted(DEFAULTS)}.")
    unknown = set(overrides) - set(DEFAULTS[model])
    if unknown:
        raise GanLabError(f"Unknown {model} option(s) {sorted(unknown)}; valid: {sorted(DEFAULTS[model])}.")
    return DEFAULTS[model] | overrides


def training_faces(cfg):
    """The training split's uint8 faces (all, or the first max_images) and where they came from.
    The face set itself is always drawn with seed 0 (the set notebooks 04-06 share); the training
    seed changes the model's initialisation and the batch order, not the data. `extra_faces` adds
    that many procedural faces of other people (a set drawn with EXTRA_SEED, all for training), so
    the test and validation people that judge the model stay unseen."""
    train = face_sets.read(cfg["data"], "train", cfg["image_size"], cfg["n_faces"], seed=0, verbose=False)
    images = train.images
    if cfg["extra_faces"]:
        if str(cfg["data"]) != face_sets.PROCEDURAL:
            raise GanLabError("extra_faces draws more procedural faces; it cannot add to a CelebA folder.")
        extra = face_sets.read(face_sets.PROCEDURAL, "all", cfg["image_size"], cfg["extra_faces"],
                               seed=EXTRA_SEED, verbose=False)
        images = np.concatenate([images, extra.images])
    images = images[:cfg["max_images"]] if cfg["max_images"] else images
    if len(images) < cfg["batch_size"]:
        raise GanLabError(f"{len(images)} training faces in {train.root} is fewer than one batch "
                          f"({cfg['batch_size']}); use more faces or a smaller batch_size.")
    source = "procedural" if str(cfg["data"]) == face_sets.PROCEDURAL else str(train.root)
    return images, source


def _trainer(model, cfg, seed, steps, hold=0):
    """The compiled GAN or VAE for `cfg`, its rate decayed over `steps` after `hold` (`schedule_steps`)."""
    if model == "dcgan":
        generator, discriminator = dcgan.build(_latent(cfg), cfg["image_size"], cfg["base"],
                                               upsample=cfg["upsample"], norm=cfg["d_norm"], d_base=cfg["d_base"],
                                               classes=cfg["clusters"], mbstd=cfg["d_mbstd"])
        return compile_gan(generator, discriminator, cfg, steps, seed, cfg["xla"], num_classes=cfg["clusters"],
                           hold=hold)
    if model == "stylegan":
        generator, discriminator = stylegan.build(cfg["latent_dim"], cfg["image_size"], cfg["base"], cfg["cap"],
                                                  cfg["w_dim"], cfg["mapping_layers"], cfg["d_base"])
        return compile_gan(generator, discriminator, cfg, steps, seed, cfg["xla"], trainer=StyleGAN, hold=hold,
                           mixing=cfg["mixing"])
    encoder, decoder = vae.build(cfg["latent_dim"], cfg["image_size"], cfg["base"])
    trainer = VAE(encoder, decoder, beta=cfg["beta"], seed=seed)
    optimizer = keras.optimizers.Adam(learning_rate(cfg["lr"], cfg["lr_decay"], steps, hold), beta_1=cfg["beta_1"])
    trainer.compile(optimizer=optimizer, jit_compile=distribute.jit(cfg["xla"]))
    return trainer


def _latent(cfg):
    return self_condition.trained_latent(cfg["latent_dim"], cfg.get("clusters"))


def train(model, out, epochs=None, seed=0, resume=False, strategy=None, command=None, **overrides):
    """Train the face `model` ("dcgan", "stylegan" or "vae") in run folder `out`; returns (RunResult, trainer).

    overrides: any key of DEFAULTS[model] (data, n_faces, latent_dim, base, batch_size, lr, beta, the
    toolkit's augment, d_norm, upsample, r1_gamma ..., and `minutes`, a wall-clock budget); the DCGAN's
    `clusters` K self-conditions it on K clusters of the faces (see `self_condition`): a conditional pair
    trains, and the shipped generator takes z alone.
    With only a budget, `epochs` is open-ended and the learning rate stays constant.
    The generator (the DCGAN's averaged generator, the VAE's decoder) is saved as
    out/generator.keras with model.json; the VAE's encoder beside it as encoder.keras.
    strategy: a tf.distribute strategy or its name ("mirrored"; see `gan_lab.distribute`) to train on
    several devices, batch_size being the global batch; None: one device, as before.
    command: the command line to list on the card (see `runs.fit`).
    """
    cfg = options(model, overrides)
    if strategy is not None:
        distribute.check_batch(cfg["batch_size"], strategy)
    seed_everything(seed)
    images, source = training_faces(cfg)
    steps, hold = schedule_steps(cfg, epochs, len(images) // cfg["batch_size"])
    with distribute.scope(strategy):
        trainer = _trainer(model, cfg, seed, steps, hold)
    size = cfg["image_size"]
    config = {"model": f"faces-{model}", "arch": model, "image_shape": [size, size, 3], "seed": seed,
              "data_source": source, "train_images": len(images), "epochs": epochs} | cfg
    labels = []
    if cfg.get("clusters"):
        prepare_out(out, resume)  # before writing clusters.npz: an earlier run's folder is refused whole
        labels = [self_condition.load_or_make(out, images, cfg["clusters"], seed, resume)]
    batches = imagefiles.dataset(images, *labels, batch_size=cfg["batch_size"], seed=seed, drop_remainder=True)
    result = fit(trainer, batches, out, config, epochs,
                 images_per_epoch=len(images) // cfg["batch_size"] * cfg["batch_size"],
                 sample_latents=latent.sample(64, _latent(cfg), seed), grid_every=cfg["grid_every"],
                 checkpoint_every=cfg["checkpoint_every"], keep=cfg["keep"], resume=resume, minutes=cfg["minutes"],
                 command=command)
    result.info |= {"data_source": source, "train_images": len(images), "architecture": model, "seed": seed,
                   "batch_size": cfg["batch_size"], "base_width": cfg["base"]}
    if strategy is not None:
        result.info |= distribute.describe(strategy)
    if model == "vae":
        result.info["beta"] = cfg["beta"]
    else:
        dcgan_only = {"clusters": cfg["clusters"], "d_mbstd": cfg["d_mbstd"]} if model == "dcgan" else {}
        result.info["toolkit"] = {k: cfg[k] for k in (GAN_OPTIONS if model == "dcgan" else STYLE_GAN)} | \
            {"d_base": cfg["d_base"]} | dcgan_only
    generator = trainer.sampler
    if labels:
        result.info["self_conditioned"] = self_condition.describe(labels[0], cfg["clusters"])
        generator = self_condition.z_only(generator, labels[0], cfg["clusters"])
    save_generator(result, generator, **result.info)
    if model == "stylegan":  # what truncation and editing in W need: the mean w, and the style layout
        modelfolder.write_info(result.out, **stylegan.card(trainer.sampler))
    if model == "vae":
        modelfolder.save_keras(trainer.encoder, result.out / "encoder.keras")
    return result, trainer


def toolkit_costs(variants: dict, steps=40, seed=0, **common) -> dict:
    """What each part of the toolkit costs the face DCGAN: `toolkit.speeds` of `variants` ({name:
    options}, the first the reference), each with `common` options too, on one batch of faces."""
    def build(overrides):
        cfg = options("dcgan", {"lr_decay": "constant"} | common | overrides)
        seed_everything(seed)
        return _trainer("dcgan", cfg, seed, None)

    cfg = options("dcgan", common)
    faces = procedural_faces.faces(cfg["batch_size"], size=cfg["image_size"], seed=seed)["images"]
    return speeds(build, variants, faces.astype("float32") / 127.5 - 1.0, steps)
