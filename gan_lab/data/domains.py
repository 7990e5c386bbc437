"""Two image domains for unpaired translation (CycleGAN): A and B, as folders or arrays.

Real domains (say, CelebA split by hair colour) come unpaired, so a translation can only be
judged by eye or by a classifier. The procedural pair here draws each person once in each
domain, one attribute toggled and everything else equal (same person, pose, light, background),
so every translation A -> B can be checked against the truth. The model still trains unpaired;
the pairing is for evaluation only.

The default toggle is blond hair (A black, B blond): a colour over a large area, visible even at
64 px, that covers no facial feature, so identity (face shape, eyes, nose, mouth, skin) stays
untouched and any change there is the translator's fault; and the lab's attribute classifier has
Black_Hair and Blond_Hair columns to read which domain a translation landed in. (Brows and facial
hair take the hair colour, as the drawing has them.)
"""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from gan_lab.data import folders, procedural_faces
from gan_lab.data.celeba import ATTRIBUTES
from gan_lab.data.procedural_faces import HAIR, HAIR_SPREAD
from gan_lab.errors import GanLabError
from gan_lab.images import check_uint8

BLACK, BLOND = 0, 2  # procedural_faces hair_kind
FULL_BEARD = 4


@dataclass(frozen=True)
class Toggle:
    description: str
    edit: Callable  # (params, to_b: bool) -> params: the same person drawn in domain B or A
    columns: dict  # domain -> (CelebA column, present?) that says a face is in it
    keep: Callable = None  # params -> bool mask of the people the toggle applies to (None: all)


def _recolour(params, kind) -> np.ndarray:
    """Hair of colour `kind` at each person's own shade: where their colour sat within its range
    (lighter or darker, its slight tint), it sits within the new one, so only the colour changes."""
    old = params["hair_kind"]
    ratio = params["hair_color"] / HAIR[old]  # = shade * tint, as procedural_faces._colours drew it
    shade = ratio.mean(axis=1, keepdims=True)
    where = np.clip((shade - 1) / HAIR_SPREAD[old][:, None], -1, 1)
    return np.clip(HAIR[kind] * (1 + where * HAIR_SPREAD[kind]) * (ratio / shade), 0, 1).astype(np.float32)


def _hair(params, to_b) -> dict:
    kind = BLOND if to_b else BLACK
    n = len(params["hair_kind"])
    return {**params, "bald": np.zeros(n, bool), "hat": np.zeros(n, np.int8),  # hair in view in both domains
            "hair_kind": np.full(n, kind, np.int8), "hair_color": _recolour(params, kind)}


def _glasses(params, to_b) -> dict:
    n = len(params["glasses"])
    on = np.full(n, bool(to_b))
    return {**params, "glasses": on, "glasses_wearer": on, "sunglasses": np.zeros(n, bool)}  # dark lenses hide the eyes


def _beard(params, to_b) -> dict:
    n = len(params["beard"])
    return {**params, "beard": np.full(n, FULL_BEARD if to_b else 0, np.int8),
            "stubble": np.zeros(n, bool)}  # stubble is neither clean-shaven nor a beard


TOGGLES = {
    "blond_hair": Toggle("A: black hair, B: blond hair (same person, same shade, hair always in view)", _hair,
                         {"a": ("Black_Hair", True), "b": ("Blond_Hair", True)}),
    "eyeglasses": Toggle("A: no glasses, B: clear glasses (never sunglasses, which hide the eyes)", _glasses,
                         {"a": ("Eyeglasses", False), "b": ("Eyeglasses", True)}),
    "beard": Toggle("A: clean-shaven, B: full beard (men only, no stubble in either)", _beard,
                    {"a": ("No_Beard", True), "b": ("No_Beard", False)}, keep=lambda p: p["male"]),
}
DEFAULT_ATTRIBUTE = "blond_hair"  # why: see the module docstring


def toggle(attribute) -> Toggle:
    """The registered toggle `attribute`, or a GanLabError listing the choices."""
    if attribute not in TOGGLES:
        raise GanLabError(f"Unknown domain attribute {attribute!r}; choose one of {', '.join(TOGGLES)}.")
    return TOGGLES[attribute]


def in_domain(attributes, attribute, domain) -> np.ndarray:
    """Whether each face is in domain "a" or "b", from CelebA's 40 columns (ATTRIBUTES order):
    labels in {-1, 1} or probabilities in [0, 1] (> 0.5 is present; either reads as > 0.5)."""
    if domain not in ("a", "b"):
        raise GanLabError(f"domain must be 'a' or 'b', not {domain!r}.")
    attributes = np.asarray(attributes)
    if attributes.ndim != 2 or attributes.shape[1] != len(ATTRIBUTES):
        raise GanLabError(f"attributes must be (n, {len(ATTRIBUTES)}) in CelebA's column order, "
                          f"got shape {attributes.shape}.")
    column, present = toggle(attribute).columns[domain]
    return (attributes[:, ATTRIBUTES.index(column)] > 0.5) == present


def _people(n, attribute, seed) -> tuple:
    """The toggle and `n` people it applies to, sampled under `seed` (more drawn when it excludes some)."""
    t = toggle(attribute)
    draw = n
    while True:
        params = procedural_faces.sample(draw, seed=seed)
        index = np.arange(draw) if t.keep is None else np.flatnonzero(t.keep(params))
        if len(index) >= n:
            params = {k: v[index[:n]] for k, v in params.items()}
            params["identity"] = np.arange(1, n + 1, dtype=np.int32)
            return t, params
        draw = 2 * draw + 16


def _domains(n, attribute, seed) -> tuple:
    """(toggle, params_a, params_b): the same people, relabelled in each domain."""
    t, params = _people(n, attribute, seed)
    return t, procedural_faces.relabel(t.edit(params, False)), procedural_faces.relabel(t.edit(params, True))


def pairs(n, attribute=DEFAULT_ATTRIBUTE, size=64, seed=0) -> dict:
    """Person i drawn in domain A and in domain B: {"a", "b"} uint8 (n, size, size, 3), "identity"
    int32 (n,), "attributes_a", "attributes_b" int8 (n, 40) in {-1, 1}. Same seed, same pairs."""
    _, pa, pb = _domains(n, attribute, seed)
    return {"a": procedural_faces.render(pa, size)[0], "b": procedural_faces.render(pb, size)[0],
            "identity": pa["identity"], "attributes_a": pa["attributes"], "attributes_b": pb["attributes"]}


def write_pairs(root, n, attribute=DEFAULT_ATTRIBUTE, size=64, seed=0, progress=True) -> Path:
    """Write the pairs as root/a/NNNNNN.png, root/b/NNNNNN.png (one name per person), root/pairs.csv
    (a,b,identity) and root/domains.json. Written beside root and moved into place at the end, so
    an interrupted write leaves no half folder; drawn in chunks, so 20,000 pairs fit in memory."""
    root = Path(root).expanduser()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise GanLabError(f"{root} already exists and is not an empty folder; give a new folder for the pairs.")
    t, pa, pb = _domains(n, attribute, seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    try:
        names = [f"{i:06d}.png" for i in range(1, n + 1)]
        for side in "ab":
            (tmp / side).mkdir()
        chunk = 256
        with tqdm(total=n, desc=f"Drawing {attribute} pairs", unit="pair", disable=not progress) as bar:
            for start in range(0, n, chunk):
                part = slice(start, start + chunk)
                for side, params in (("a", pa), ("b", pb)):
                    images = procedural_faces.render({k: v[part] for k, v in params.items()}, size)[0]
                    for name, image in zip(names[part], images):
                        Image.fromarray(image).save(tmp / side / name)
                bar.update(len(names[part]))
        rows = [f"a/{f},b/{f},{i}" for f, i in zip(names, pa["identity"].tolist())]
        (tmp / "pairs.csv").write_text("\n".join(["a,b,identity"] + rows) + "\n", encoding="ascii")
        meta = {"attribute": attribute, "description": t.description, "n": n, "size": size, "seed": seed}
        (tmp / "domains.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="ascii")
        if root.exists():
            root.rmdir()  # empty, checked above
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def read(a_dir, b_dir, image_size=64, verbose=True) -> tuple:
    """Both domains' folders as (ImageFolder, ImageFolder): corrupt files skipped and counted,
    any size resized; an empty folder, or one with a single image, refused."""
    out = []
    for name, folder in (("A", a_dir), ("B", b_dir)):
        data = folders.read(folder, image_size, verbose)
        if len(data) < 2:
            raise GanLabError(f"Domain {name} folder {data.folder} holds a single readable image; an unpaired "
                              "domain needs at least 2 images to shuffle and translate.")
        out.append(data)
    return tuple(out)


def _seed(seed, salt) -> int:
    """An independent op seed for one stream (`salt`) of the pipeline, derived from `seed`."""
    return int(np.random.SeedSequence([int(seed), salt]).generate_state(1)[0])


def unpaired(a_images, b_images, batch_size=1, seed=0, load_size=None, flip=True, image_size=None):
    """tf.data of (a, b) float32 batches (batch, s, s, 3) in [-1, 1], as CycleGAN trains.

    Each side is shuffled on its own; an epoch is as long as the larger domain, the smaller one
    cycling (reshuffled each time round). Each image is resized to `load_size` (default
    round(1.125 s), 72 for 64, as CycleGAN's 286 for 256), randomly cropped back to s
    (`image_size`, default the input size) and randomly flipped. Shuffles and crops are seeded
    from `seed` (and TF's global seed, which training sets), so the same seed gives the same
    batches; each new pass over the dataset reshuffles and re-crops.
    The short last batch is dropped (a training step wants fixed shapes).
    """
    import tensorflow as tf

    a_images, b_images = check_uint8(a_images, "a_images"), check_uint8(b_images, "b_images")
    s = int(image_size or a_images.shape[1])
    load = int(load_size or round(1.125 * s))
    if load < s:
        raise GanLabError(f"load_size ({load}) must be at least the image size ({s}): images are cropped from it.")
    length = max(len(a_images), len(b_images))
    if min(len(a_images), len(b_images)) < 1 or length < batch_size:
        raise GanLabError(f"Not enough images for one batch of {batch_size}: {len(a_images)} in A, "
                          f"{len(b_images)} in B.")

    def side(images, salt):
        n = len(images)
        order = tf.data.Dataset.range(n).shuffle(n, seed=_seed(seed, salt), reshuffle_each_iteration=True)
        noise = tf.data.Dataset.random(seed=_seed(seed, salt + 1), rerandomize_each_iteration=True)
        return tf.data.Dataset.zip(order.repeat().take(length), noise), tf.convert_to_tensor(images)

    def augment(images, index, noise):
        x = tf.cast(tf.gather(images, index), tf.float32) / 127.5 - 1.0
        if load != images.shape[1]:
            x = tf.image.resize(x, (load, load), "bilinear")
        if load > s:
            x = tf.image.stateless_random_crop(x, (s, s, 3), seed=tf.stack([noise, 0]))
        if flip:
            x = tf.image.stateless_random_flip_left_right(x, seed=tf.stack([noise, 1]))
        return tf.clip_by_value(x, -1.0, 1.0)

    (a, a_t), (b, b_t) = side(a_images, 0), side(b_images, 2)
    ds = tf.data.Dataset.zip(a, b).map(lambda ia, ib: (augment(a_t, *ia), augment(b_t, *ib)),
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
