"""Train a CycleGAN end to end from one config: domains, models, trainer, run folder.

    cfg = Config(domains="procedural:blond_hair", minutes=25)
    result, trainer = train(cfg, "runs/faces-cyclegan")

`Config` is the project's dashboard: every knob in one dataclass, saved (with the model's name) as
config.json in the run folder, read back by `gan-lab train cyclegan --config cfg.json` (flags override it) and set in the
notebook's parameters cell. The seed project trained at batch 1 for 100 epochs at a constant rate,
then 50 decaying to zero; the lab's defaults are sized for two cores (see `DEFAULT_NOTE`).
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from gan_lab import distribute, modelfolder, paths
from gan_lab.data import domains
from gan_lab.errors import GanLabError
from gan_lab.models import cyclegan as nets
from gan_lab.repro import seed_everything
from gan_lab.training.cyclegan import CycleGAN, HoldThenDecay
from gan_lab.training.runs import fit

PROCEDURAL = "procedural"
RUN_KEYS = ("model", "arch")  # what a run's config.json adds to the Config
HELDOUT_SEED = 1_000_005  # the procedural people that judge a translator; training refuses this seed
DEFAULT_NOTE = ("batch 1 as the paper; 2,000 people per domain; 3 epochs at a constant rate, then 3 decaying "
                "to zero: 12,000 pairs, about 20 minutes on 2 cores")


@dataclass
class Config:
    """Every knob of a CycleGAN run. `a`/`b`: two image folders; else `domains`, "procedural:ATTRIBUTE"
    (see `gan_lab.data.domains.TOGGLES`), drawn as `people` persons in each domain."""
    a: str = None
    b: str = None
    domains: str = f"{PROCEDURAL}:{domains.DEFAULT_ATTRIBUTE}"
    people: int = 2000
    image_size: int = 64
    width: int = 16
    blocks: int = 6
    upsample: str = "nearest"
    skip: bool = True  # the generator learns the change: output = tanh(network + atanh(input))
    d_width: int = 32
    d_layers: int = 2
    cycle_weight: float = 10.0
    identity_weight: float = 0.5
    pool_size: int = 50
    lr: float = 2e-4
    beta_1: float = 0.5
    hold_epochs: int = 3
    decay_epochs: int = 3
    batch_size: int = 1
    load_size: int = None  # augmentation: resize up to this, random crop back (default 1.125 x image_size)
    flip: bool = True
    seed: int = 0
    minutes: float = None
    grid_every: int = 1
    checkpoint_every: int = 1
    keep: int = 3  # checkpoints kept, the newest
    xla: bool = False  # XLA ran this model's train step at half the speed (GroupNormalization)

    def save(self, path) -> Path:
        Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path, **overrides) -> "Config":
        """A config from JSON (unknown keys refused by name), then `overrides` (flags) on top."""
        path = Path(path).expanduser()
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise GanLabError(f"Cannot read the CycleGAN config {path}: {err}.") from err
        values = {k: v for k, v in values.items() if k not in RUN_KEYS}  # a run's config.json works too
        return cls.of(values | {k: v for k, v in overrides.items() if v is not None}, str(path))

    @classmethod
    def of(cls, values: dict, where="the options") -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GanLabError(f"Unknown CycleGAN option(s) {unknown} in {where}; valid: {sorted(known)}.")
        return cls(**values)

    @property
    def epochs(self) -> int:
        return self.hold_epochs + self.decay_epochs

    def attribute(self):
        """The procedural toggle, or None for two folders."""
        if self.a or self.b:
            return None
        kind, _, attribute = str(self.domains).partition(":")
        if kind != PROCEDURAL:
            raise GanLabError(f"domains must be 'procedural:ATTRIBUTE' (or give the folders a and b); got {self.domains!r}.")
        domains.toggle(attribute or domains.DEFAULT_ATTRIBUTE)
        return attribute or domains.DEFAULT_ATTRIBUTE

    def check(self):
        if bool(self.a) != bool(self.b):
            raise GanLabError("Give both domain folders (a and b), or neither for procedural domains.")
        if self.hold_epochs < 0 or self.decay_epochs < 0 or self.epochs < 1:
            raise GanLabError(f"hold_epochs and decay_epochs must be >= 0 and add up to >= 1; got "
                              f"{self.hold_epochs} + {self.decay_epochs}.")
        if self.batch_size < 1 or 0 < self.pool_size < self.batch_size:
            raise GanLabError(f"batch_size must be >= 1 and pool_size 0 or at least one batch; got "
                              f"{self.batch_size}, {self.pool_size}.")
        if self.seed == HELDOUT_SEED:
            raise GanLabError(f"seed {HELDOUT_SEED} draws the held-out people that judge translators; use another.")
        nets.check_size(self.image_size)
        self.attribute()


def procedural_root(attribute, people, size, seed) -> Path:
    """The cached procedural pair of domains, written the first time it is asked for."""
    with paths.cache_lock(f"domains-{attribute}-{size}px-{people}-seed{seed}") as root:
        if not (root / "domains.json").exists():
            domains.write_pairs(root, people, attribute, size, seed)
    return root


def domain_images(cfg: Config) -> tuple:
    """(a uint8, b uint8, description) of the training domains. Procedural people are drawn with
    seed 0 whatever the training seed (as the face sets), never with HELDOUT_SEED."""
    if cfg.a:
        a, b = domains.read(cfg.a, cfg.b, cfg.image_size)
        return a.images, b.images, {"a": str(cfg.a), "b": str(cfg.b)}
    attribute = cfg.attribute()
    root = procedural_root(attribute, cfg.people, cfg.image_size, 0)
    a, b = domains.read(root / "a", root / "b", cfg.image_size, verbose=False)
    return a.images, b.images, {"procedural": attribute, "description": domains.toggle(attribute).description}


def build(cfg: Config, steps_per_epoch: int, strategy=None) -> CycleGAN:
    """The compiled CycleGAN of `cfg`: Adam with the rate held for hold_epochs, then linear to zero.
    `strategy` (a tf.distribute strategy or its name): build and compile it under that strategy."""
    with distribute.scope(strategy):
        return _build(cfg, steps_per_epoch)


def _build(cfg: Config, steps_per_epoch: int) -> CycleGAN:
    keras.utils.set_random_seed(cfg.seed)
    make_g = lambda name: nets.generator(cfg.image_size, cfg.width, cfg.blocks, cfg.upsample, cfg.skip, name)  # noqa: E731
    make_d = lambda name: nets.discriminator(cfg.image_size, cfg.d_width, cfg.d_layers, name)  # noqa: E731
    trainer = CycleGAN(make_g("a2b"), make_g("b2a"), make_d("d_a"), make_d("d_b"), cfg.cycle_weight,
                       cfg.identity_weight, cfg.pool_size, cfg.seed)
    schedule = lambda: HoldThenDecay(cfg.lr, cfg.hold_epochs * steps_per_epoch,  # noqa: E731
                                     cfg.decay_epochs * steps_per_epoch)
    trainer.compile(keras.optimizers.Adam(schedule(), beta_1=cfg.beta_1),
                    keras.optimizers.Adam(schedule(), beta_1=cfg.beta_1), jit_compile=distribute.jit(cfg.xla))
    return trainer


def sample_panel(a, b, k=8, seed=0) -> np.ndarray:
    """k fixed a's then k fixed b's, float in [-1, 1]: the rows of every epoch's grid."""
    rng = np.random.default_rng(seed)
    pick = lambda x: x[rng.choice(len(x), min(k, len(x)), replace=False)]  # noqa: E731
    a, b = pick(a), pick(b)
    k = min(len(a), len(b))
    return np.concatenate([a[:k], b[:k]]).astype(np.float32) / 127.5 - 1.0


def train(cfg: Config, out, resume=False, strategy=None, command=None):
    """Train the CycleGAN of `cfg` in run folder `out`; writes a2b.keras, b2a.keras and model.json
    there. Returns (RunResult, trainer). `strategy`: a tf.distribute strategy or its name ("mirrored";
    see `gan_lab.distribute`) to train on several devices, cfg.batch_size being the global batch (the
    default batch 1 cannot be split: give a multiple of the devices); None: one device, as before.
    `command`: the command line to list on the card (see `runs.fit`)."""
    cfg.check()
    if strategy is not None:
        distribute.check_batch(cfg.batch_size, strategy)
    seed_everything(cfg.seed)
    a, b, source = domain_images(cfg)
    data = domains.unpaired(a, b, cfg.batch_size, cfg.seed, cfg.load_size, cfg.flip, cfg.image_size)
    steps = max(len(a), len(b)) // cfg.batch_size
    trainer = build(cfg, steps, strategy)
    config = dict(zip(RUN_KEYS, ("faces-cyclegan", "cyclegan"))) | dataclasses.asdict(cfg)
    result = fit(trainer, data, out, config, cfg.epochs, images_per_epoch=steps * cfg.batch_size,
                 sample_latents=sample_panel(a, b, seed=cfg.seed), grid_every=cfg.grid_every,
                 checkpoint_every=cfg.checkpoint_every, keep=cfg.keep, resume=resume, minutes=cfg.minutes,
                 command=command)
    for name, net in (("a2b", trainer.g_ab), ("b2a", trainer.g_ba)):
        modelfolder.save_keras(net, Path(out) / f"{name}.keras")
    modelfolder.write_info(out, task="translation", architecture="cyclegan", domains=source,
                           image_shape=[cfg.image_size, cfg.image_size, 3], value_range=[-1.0, 1.0],
                           epochs=result.epochs_done, train_seconds=round(result.train_seconds, 1),
                           train_pairs_per_second=round(result.images_per_second, 1),
                           train_pairs=[len(a), len(b)], config=dataclasses.asdict(cfg), **result.info,
                           **(distribute.describe(strategy) if strategy is not None else {}))
    return result, trainer
