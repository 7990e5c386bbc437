"""Train the face models end to end: faces (procedural or CelebA), models, trainer, run folder.

`train_dcgan` and `train_vae` share everything but the trainer: the same data pipeline, run
folder, callbacks, checkpoints and resume as the MNIST GAN (`training.runs.fit`).
"""

import keras

from gan_lab import latent, modelfolder
from gan_lab.data import face_sets, imagefiles
from gan_lab.errors import GanLabError
from gan_lab.models import dcgan, vae
from gan_lab.repro import seed_everything
from gan_lab.training.gan import GAN
from gan_lab.training.runs import fit, learning_rate, save_generator
from gan_lab.training.vae import VAE

COMMON = {"data": face_sets.PROCEDURAL, "n_faces": 20_000, "image_size": 64, "latent_dim": 128, "base": 24,
          "batch_size": 64, "lr_decay": "cosine", "xla": True, "grid_every": 2, "checkpoint_every": 2,
          "max_images": None}
# XLA compiles the train step: the DCGAN at base 32 trained at 113 against 93 images/s without it.
DEFAULTS = {
    "dcgan": COMMON | {"loss": "nonsaturating", "lr": 2e-4, "beta_1": 0.5, "label_smoothing": 0.1, "ema": 0.999},
    "vae": COMMON | {"lr": 1e-3, "beta_1": 0.9, "beta": 1.0},
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
    seed changes the model's initialisation and the batch order, not the data."""
    train = face_sets.read(cfg["data"], "train", cfg["image_size"], cfg["n_faces"], seed=0, verbose=False)
    images = train.images[:cfg["max_images"]] if cfg["max_images"] else train.images
    if len(images) < cfg["batch_size"]:
        raise GanLabError(f"{len(images)} training faces in {train.root} is fewer than one batch "
                          f"({cfg['batch_size']}); use more faces or a smaller batch_size.")
    source = "procedural" if str(cfg["data"]) == face_sets.PROCEDURAL else str(train.root)
    return images, source


def _trainer(model, cfg, seed, steps):
    """The compiled GAN or VAE for `cfg`."""
    def adam():
        return keras.optimizers.Adam(learning_rate(cfg, steps), beta_1=cfg["beta_1"])

    if model == "dcgan":
        generator, discriminator = dcgan.build(cfg["latent_dim"], cfg["image_size"], cfg["base"])
        trainer = GAN(generator, discriminator, seed=seed, ema=cfg["ema"])
        trainer.compile(d_optimizer=adam(), g_optimizer=adam(), loss=cfg["loss"],
                        label_smoothing=cfg["label_smoothing"], jit_compile=cfg["xla"])
    else:
        encoder, decoder = vae.build(cfg["latent_dim"], cfg["image_size"], cfg["base"])
        trainer = VAE(encoder, decoder, beta=cfg["beta"], seed=seed)
        trainer.compile(optimizer=adam(), jit_compile=cfg["xla"])
    return trainer


def train(model, out, epochs, seed=0, resume=False, **overrides):
    """Train the face `model` ("dcgan" or "vae") in run folder `out`; returns (RunResult, trainer).

    overrides: any key of DEFAULTS[model] (data, n_faces, latent_dim, base, batch_size, lr, beta...).
    The generator (the DCGAN's averaged generator, the VAE's decoder) is saved as
    out/generator.keras with model.json; the VAE's encoder beside it as encoder.keras.
    """
    cfg = options(model, overrides)
    seed_everything(seed)
    images, source = training_faces(cfg)
    steps = epochs * (len(images) // cfg["batch_size"])
    trainer = _trainer(model, cfg, seed, steps)
    size = cfg["image_size"]
    config = {"model": f"faces-{model}", "arch": model, "image_shape": [size, size, 3], "seed": seed,
              "data_source": source, "train_images": len(images), "epochs": epochs} | cfg
    batches = imagefiles.dataset(images, batch_size=cfg["batch_size"], seed=seed, drop_remainder=True)
    result = fit(trainer, batches, out, config, epochs,
                 images_per_epoch=len(images) // cfg["batch_size"] * cfg["batch_size"],
                 sample_latents=latent.sample(64, cfg["latent_dim"], seed), grid_every=cfg["grid_every"],
                 checkpoint_every=cfg["checkpoint_every"], resume=resume)
    result.info = {"data_source": source, "train_images": len(images), "architecture": model, "seed": seed,
                   "batch_size": cfg["batch_size"], "base_width": cfg["base"]}
    result.info |= {"loss": cfg["loss"]} if model == "dcgan" else {"beta": cfg["beta"]}
    save_generator(result, trainer.sampler, **result.info)
    if model == "vae":
        modelfolder.save_keras(trainer.encoder, result.out / "encoder.keras")
    return result, trainer
