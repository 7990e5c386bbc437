"""Procedural labelled faces, written in CelebA's file layout.

No face data set is reachable offline, so we draw our own: a head on shoulders with hair, ears,
eyes, brows, nose, mouth, facial hair, make-up and accessories, under a yaw and pitch pose.
Every attribute in `DRAWN` is ground truth, set from what is visible, as a labeller would.
`write_celeba_layout` writes the faces exactly as CelebA ships, so one reader serves both.

This module samples the people and photos (attributes with CelebA-like rates and correlations,
and the style parameters behind them), labels them, and writes them out; `face_drawing` paints
them. Pose convention and landmarks: see `face_drawing`.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from gan_lab.data.celeba import ATTRIBUTES
from gan_lab.data.face_drawing import LANDMARKS, YOUNG_BELOW, draw, landmarks  # noqa: F401 (public API)
from gan_lab.errors import GanLabError
from gan_lab import paths
from gan_lab.paths import writable_dir

DRAWN = tuple(a for a in ATTRIBUTES if a != "Attractive")  # beauty is no drawable fact

# Skin tones from pale to dark (sRGB in [0, 1]); the first is Pale_Skin.
_SKIN = np.array([[0.98, 0.88, 0.83], [0.94, 0.78, 0.66], [0.86, 0.66, 0.51],
                  [0.74, 0.53, 0.37], [0.55, 0.36, 0.24], [0.36, 0.23, 0.15]], np.float32)
_SKIN_P = [0.045, 0.43, 0.24, 0.14, 0.085, 0.06]
# Hair colours: black, brown, blond, gray, other (auburn, red); CelebA has no "other" column.
HAIR = np.array([[0.07, 0.06, 0.06], [0.36, 0.22, 0.12], [0.86, 0.71, 0.44],
                  [0.70, 0.70, 0.70], [0.58, 0.24, 0.11]], np.float32)
HAIR_SPREAD = np.array([0.02, 0.09, 0.07, 0.12, 0.06], np.float32)
_EYES = np.array([[0.22, 0.13, 0.07], [0.38, 0.24, 0.12], [0.45, 0.40, 0.20],
                  [0.30, 0.47, 0.32], [0.28, 0.48, 0.72], [0.50, 0.56, 0.62]], np.float32)
_FRAMES = np.array([[0.05, 0.05, 0.06], [0.30, 0.17, 0.08], [0.80, 0.66, 0.30],
                    [0.75, 0.76, 0.78], [0.65, 0.10, 0.12]], np.float32)
_LIPSTICK = np.array([[0.75, 0.08, 0.15], [0.85, 0.35, 0.50], [0.50, 0.08, 0.20], [0.88, 0.38, 0.30]], np.float32)
_EYE_SHADOW = np.array([[0.45, 0.30, 0.25], [0.42, 0.30, 0.50], [0.30, 0.34, 0.45], [0.62, 0.46, 0.34]], np.float32)
_METAL = np.array([[0.95, 0.80, 0.35], [0.85, 0.86, 0.90]], np.float32)


# ----------------------------------------------------------------------------- sampling

def _pick(rng, probs) -> np.ndarray:
    """One category per row of `probs` (n, k), rows summing to 1."""
    cum = np.cumsum(probs, axis=1)
    return (rng.random((len(cum), 1)) * cum[:, -1:] > cum).sum(axis=1)


def _colours(rng, table, kind, spread) -> np.ndarray:
    """Per-face colours: a table row, brighter or darker by up to `spread` (per row or one value)."""
    spread = np.broadcast_to(np.asarray(spread, np.float32), (len(table),))[kind][:, None]
    shade = 1 + rng.uniform(-1, 1, (len(kind), 1)) * spread
    return np.clip(table[kind] * shade * rng.normal(1, 0.03, (len(kind), 3)), 0, 1).astype(np.float32)


def _identities(rng, n) -> dict:
    """What stays fixed for one person: sex, age, skin, face shape, features, hair, beard, habits."""
    male = rng.random(n) < 0.42
    young = rng.random(n) < 0.77
    age = np.where(young, rng.uniform(18, YOUNG_BELOW - 0.5, n), rng.uniform(YOUNG_BELOW, 78, n))
    tone = _pick(rng, np.tile(_SKIN_P, (n, 1)))
    dark = tone >= 4
    # Hair colour: black, brown, blond, gray, other. Gray comes with age, blond with light skin.
    blond = np.where(dark, 0.01, np.where(tone <= 1, np.where(male, 0.08, 0.33), 0.06))
    gray = np.where(young, 0.004, 0.17)
    other = np.where(dark, 0.01, 0.05)
    black = np.where(dark, 0.85, np.where(tone >= 2, 0.45, 0.30))
    brown = np.clip(1 - black - blond - gray - other, 0.03, None)
    probs = np.stack([black, brown, blond, gray, other], 1)
    hair_kind = _pick(rng, probs / probs.sum(1, keepdims=True))
    bald = male & (rng.random(n) < np.where(young, 0.015, 0.17))
    receding = ~bald & (rng.random(n) < np.where(male, np.where(young, 0.11, 0.45), np.where(young, 0.0, 0.08)))
    length = np.where(male, _pick(rng, np.tile([0.80, 0.15, 0.05], (n, 1))),
                      _pick(rng, np.tile([0.18, 0.22, 0.60], (n, 1))))
    bangs = ~bald & ~receding & (rng.random(n) < np.where(male, 0.09, 0.23))
    oval, chubby = np.where(male, 0.13, 0.40), 0.035 + 0.03 * male + 0.07 * ~young
    shape = _pick(rng, np.stack([1 - oval - chubby, oval, chubby], 1))
    beard = np.where(male, _pick(rng, np.tile([0.60, 0.03, 0.13, 0.03, 0.21], (n, 1))), 0)
    brows_bushy = rng.random(n) < np.where(male, 0.27, 0.05)
    return {
        "male": male,
        "age": age.astype(np.float32),
        "skin": _colours(rng, _SKIN, tone, 0.03),
        "pale": tone == 0,
        "face_shape": shape.astype(np.int8),  # 0 regular, 1 oval, 2 chubby
        "double_chin": rng.random(n) < np.where(shape == 2, 0.6, np.where(young, 0.005, 0.07)),
        "head_w": (np.where(male, 0.49, 0.47) * np.choose(shape, [1.0, 0.95, 1.07])
                   * rng.normal(1, 0.025, n)).astype(np.float32),
        "head_aspect": (np.choose(shape, [1.30, 1.40, 1.20]) + rng.normal(0, 0.025, n)).astype(np.float32),
        "jaw_power": (np.choose(shape, [np.where(male, 2.7, 2.2), 2.05, 2.1])
                      + rng.normal(0, 0.1, n)).astype(np.float32),
        "jaw_taper": (np.choose(shape, [np.where(male, 0.10, 0.18), 0.30, 0.02])
                      + rng.normal(0, 0.03, n)).astype(np.float32),
        "eye_gap": rng.normal(0.40, 0.015, n).astype(np.float32),
        "eye_size": rng.normal(1.0, 0.06, n).astype(np.float32),
        "narrow_eyes": rng.random(n) < 0.11,
        "eye_color": _colours(rng, _EYES, _pick(rng, np.where(dark[:, None], [[.8, .2, 0, 0, 0, 0]],
                                                               [[.25, .25, .12, .1, .2, .08]])), 0.05),
        "brows_bushy": brows_bushy,
        "brows_arched": ~brows_bushy & (rng.random(n) < np.where(male, 0.07, 0.42)),
        "big_nose": rng.random(n) < np.where(male, 0.34, 0.12) + 0.12 * ~young,
        "pointy_nose": rng.random(n) < np.where(male, 0.20, 0.35),
        "big_lips": rng.random(n) < np.where(male, 0.18, 0.29),
        "mouth_w": rng.normal(0.30, 0.015, n).astype(np.float32),
        "hair_kind": hair_kind.astype(np.int8),  # 0 black, 1 brown, 2 blond, 3 gray, 4 other
        "hair_color": _colours(rng, HAIR, hair_kind, HAIR_SPREAD),
        "hair_length": length.astype(np.int8),  # 0 short, 1 to the jaw, 2 past the shoulders
        "hair_volume": rng.uniform(0.03, 0.08, n).astype(np.float32),
        "wavy": rng.random(n) < 0.57,
        "bangs": bangs,
        "receding": receding,
        "bald": bald,
        "beard": beard.astype(np.int8),  # 0 none, 1 moustache, 2 goatee, 3 goatee + moustache, 4 full
        "stubble": male & (beard < 4) & (rng.random(n) < 0.28),
        "sideburns": male & ((length == 0) | bald) & (rng.random(n) < 0.16),
        "bags": rng.random(n) < 0.08 + 0.08 * male + 0.3 * ~young,
        "glasses_wearer": rng.random(n) < np.where(young, 0.055, 0.19),
        "round_frames": rng.random(n) < 0.35,  # a person keeps their glasses
        "frame_color": _colours(rng, _FRAMES, _pick(rng, np.tile([0.42, 0.25, 0.13, 0.15, 0.05], (n, 1))), 0.1),
        "makeup_habit": np.where(male, 0.0, rng.beta(2, 1, n)).astype(np.float32),
        "earring_habit": np.where(male, 0.012, rng.beta(1, 2, n)).astype(np.float32),
        "seed": rng.integers(0, 2**31 - 1, n).astype(np.int64),
    }


def _photos(rng, who) -> dict:
    """What changes between photos of one person: pose, expression, accessories, light, backdrop."""
    n = len(who["male"])
    female = ~who["male"]
    smile = rng.random(n) < 0.48
    glasses = who["glasses_wearer"] & (rng.random(n) < 0.75)
    makeup = female & (rng.random(n) < who["makeup_habit"])
    hat = np.where(rng.random(n) < 0.05, rng.integers(1, 3, n), 0)
    yaw = np.where(rng.random(n) < 0.8, rng.normal(0, 12, n), rng.uniform(-50, 50, n))
    tie = who["male"] & (rng.random(n) < 0.16)
    hue = rng.random((n, 2, 1))
    bg = np.clip(0.55 + 0.35 * np.cos(2 * np.pi * (hue + [[[0, 1 / 3, 2 / 3]]])) * rng.uniform(0.1, 0.6, (n, 2, 1))
                 + rng.uniform(-0.3, 0.35, (n, 2, 1)), 0, 1)
    return {
        "yaw": np.clip(yaw, -50, 50).astype(np.float32),
        "pitch": np.clip(rng.normal(0, 7, n), -20, 20).astype(np.float32),
        "smile": smile,
        "mouth_open": rng.random(n) < np.where(smile, 0.75, 0.22),
        "cheekbones": rng.random(n) < np.where(smile, 0.78, 0.12),
        "glasses": glasses,
        "sunglasses": glasses & (rng.random(n) < 0.15),
        "hat": hat.astype(np.int8),  # 0 none, 1 beanie, 2 brimmed hat
        "hat_color": np.clip(rng.uniform(0.05, 0.85, (n, 3)) * rng.uniform(0.5, 1.0, (n, 1)), 0, 1).astype(np.float32),
        "makeup": makeup,
        "lipstick": makeup | (female & (rng.random(n) < 0.42)),
        "lip_color": _colours(rng, _LIPSTICK, rng.integers(0, len(_LIPSTICK), n), 0.1),
        "rosy": rng.random(n) < np.where(female, np.where(makeup, 0.15, 0.05), 0.012),
        "shadow_color": _colours(rng, _EYE_SHADOW, rng.integers(0, len(_EYE_SHADOW), n), 0.15),
        "earrings": rng.random(n) < who["earring_habit"],
        "hoops": rng.random(n) < 0.4,
        "metal_color": _METAL[rng.integers(0, 2, n)],
        "necklace": female & (rng.random(n) < 0.2),
        "necktie": tie,
        "tie_color": np.clip(rng.uniform(0.05, 0.8, (n, 3)), 0, 1).astype(np.float32),
        "cloth_color": (rng.uniform(0.05, 0.9, (n, 3)) * np.where(tie, 0.4, 1.0)[:, None]).astype(np.float32),
        "v_neck": (female & (rng.random(n) < 0.6)) | (rng.random(n) < 0.1),
        "blurry": rng.random(n) < 0.05,
        "background": bg.astype(np.float32),  # (n, 2, 3): two ends of a gradient
        "bg_angle": rng.uniform(0, 2 * np.pi, n).astype(np.float32),
        "light": rng.uniform(-0.8, 0.8, n).astype(np.float32),
        "center_x": rng.normal(0, 0.025, n).astype(np.float32),
        "center_y": rng.normal(-0.08, 0.025, n).astype(np.float32),
        "scale": rng.normal(1, 0.03, n).astype(np.float32),
    }


def _labels(p) -> np.ndarray:
    """CelebA's 40 columns in {-1, 1}, from what the renderer draws and leaves visible."""
    hat, bald, beard, length = p["hat"] > 0, p["bald"], p["beard"], p["hair_length"]
    hair_shown = ~bald & (~hat | (length > 0))  # a hat hides short hair entirely
    shades = p["sunglasses"]  # hide the eyes
    kind = p["hair_kind"]
    on = {
        "5_o_Clock_Shadow": p["stubble"], "Arched_Eyebrows": p["brows_arched"],
        "Bags_Under_Eyes": p["bags"] & ~shades, "Bald": bald & ~hat, "Bangs": p["bangs"] & ~hat,
        "Big_Lips": p["big_lips"], "Big_Nose": p["big_nose"], "Black_Hair": hair_shown & (kind == 0),
        "Blond_Hair": hair_shown & (kind == 2), "Blurry": p["blurry"], "Brown_Hair": hair_shown & (kind == 1),
        "Bushy_Eyebrows": p["brows_bushy"], "Chubby": p["face_shape"] == 2,
        "Double_Chin": p["double_chin"] & (beard != 4), "Eyeglasses": p["glasses"],
        "Goatee": (beard == 2) | (beard == 3), "Gray_Hair": hair_shown & (kind == 3),
        "Heavy_Makeup": p["makeup"], "High_Cheekbones": p["cheekbones"], "Male": p["male"],
        "Mouth_Slightly_Open": p["mouth_open"], "Mustache": (beard == 1) | (beard == 3) | (beard == 4),
        "Narrow_Eyes": p["narrow_eyes"] & ~shades, "No_Beard": beard == 0, "Oval_Face": p["face_shape"] == 1,
        "Pale_Skin": p["pale"], "Pointy_Nose": p["pointy_nose"], "Receding_Hairline": p["receding"] & ~hat,
        "Rosy_Cheeks": p["rosy"], "Sideburns": p["sideburns"], "Smiling": p["smile"],
        "Straight_Hair": hair_shown & (length > 0) & ~p["wavy"], "Wavy_Hair": hair_shown & (length > 0) & p["wavy"],
        "Wearing_Earrings": p["earrings"], "Wearing_Hat": hat, "Wearing_Lipstick": p["lipstick"],
        "Wearing_Necklace": p["necklace"], "Wearing_Necktie": p["necktie"], "Young": p["age"] < YOUNG_BELOW,
    }
    out = np.full((len(hat), len(ATTRIBUTES)), -1, np.int8)
    for name, value in on.items():
        out[:, ATTRIBUTES.index(name)] = np.where(value, 1, -1)
    return out


def sample(n, seed=0, per_identity=1) -> dict:
    """Parameters of `n` faces, in groups of `per_identity` photos of one person.

    Returns per-face arrays: "attributes" int8 (n, 40) in {-1, 1} (CelebA's columns; those not
    in DRAWN are -1), "yaw" and "pitch" float32 degrees, "identity" int32 from 1, and the style
    parameters `render` draws from. Per person: male, age, skin, pale, face_shape, head_w,
    head_aspect, jaw_*, eye_*, narrow_eyes, brows_*, big_nose, pointy_nose, big_lips, mouth_w,
    hair_kind, hair_color, hair_length, hair_volume, wavy, bangs, receding, bald, beard, stubble,
    sideburns, bags, double_chin, frames, habits, seed. Per photo: yaw, pitch, smile, mouth_open,
    cheekbones, glasses, sunglasses, hat, make-up, lipstick, rosy, earrings, necklace,
    necktie, clothes, blurry, background, light, placement. Edit those, not "attributes", to
    change a face; `relabel` recomputes the labels from them.
    """
    rng = np.random.default_rng(seed)
    k = max(1, int(per_identity))
    people = _identities(rng, -(-n // k))
    who = np.repeat(np.arange(len(people["male"])), k)[:n]
    params = {key: value[who] for key, value in people.items()}
    params.update(_photos(rng, params))
    params["identity"] = (who + 1).astype(np.int32)
    params["attributes"] = _labels(params)
    return params


def relabel(params) -> dict:
    """A copy of `params` whose "attributes" match its (possibly edited) style parameters."""
    return {**params, "attributes": _labels(params)}


# ----------------------------------------------------------------------------- geometry
# Image units: [-1, 1] across the picture. A face's frontal position (px, py) is measured from the
# head centre in image units as if it looked straight at us; the pose moves it on a sphere.

def _take(params, index) -> dict:
    """The faces at `index` (a slice or integer array) of a parameter dict."""
    return {k: v[index] for k, v in params.items()}


def render(params, size=64, batch=None) -> tuple:
    """Draw faces from `sample` parameters: uint8 images (n, size, size, 3) and float32 landmarks
    (n, 5, 2), pixel (x, y) in LANDMARKS order. Each face depends only on its own parameters."""
    n = len(params["yaw"])
    batch = batch or max(8, (128 * 64 * 64) // (size * size))
    images = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, batch):
        images[start:start + batch] = draw(_take(params, slice(start, start + batch)), size)
    return images, landmarks(params, size)


def faces(n, size=64, seed=0, per_identity=1) -> dict:
    """Sample and render: {"images", "attributes", "yaw", "pitch", "landmarks", "identity"}."""
    params = sample(n, seed=seed, per_identity=per_identity)
    images, landmarks = render(params, size)
    keys = ("attributes", "yaw", "pitch", "identity")
    return {"images": images, "landmarks": landmarks, **{k: params[k] for k in keys}}


# ----------------------------------------------------------------------------- CelebA's layout

def _partition(identity, split, seed) -> tuple:
    """Split people (not photos) into train 0 / val 1 / test 2 by the `split` fractions. Returns the
    photo order CelebA uses (train first, then val, then test; shuffled within each) and its partitions."""
    split = np.asarray(split, np.float64)
    if split.shape != (3,) or (split < 0).any() or split.sum() <= 0:
        raise GanLabError(f"split must be three non-negative fractions (train, val, test), got {tuple(split)}.")
    rng = np.random.default_rng([seed, 1])
    people = rng.permutation(np.unique(identity))
    cuts = np.rint(np.cumsum(split) / split.sum() * len(people)).astype(int)
    of_person = np.searchsorted(cuts, np.arange(len(people)), side="right")
    by_person = np.empty(people.max() + 1, np.int8)
    by_person[people] = of_person
    partition = by_person[identity]
    order = np.lexsort((rng.random(len(identity)), partition))
    return order, partition[order]


def _write_list(path, lines):
    """Write a list file whole or not at all: a crash leaves the old file or none, never half of one."""
    tmp = paths.temp_beside(path)
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _decimal(x) -> str:
    """One decimal, never "-0.0"."""
    return f"{round(float(x), 1) + 0.0:.1f}"


def write_celeba_layout(root, n, size=64, seed=0, split=(0.8, 0.1, 0.1), per_identity=10, progress=True) -> Path:
    """Write `n` procedural faces under `root` exactly as CelebA ships its aligned set:
    img_align_celeba/000001.jpg... (JPEG quality 95), list_eval_partition.txt (split by person),
    list_attr_celeba.txt, list_landmarks_align_celeba.txt and identity_CelebA.txt, plus
    list_pose_procedural.txt (yaw and pitch in degrees), which CelebA lacks. Same seed, same bytes.
    The list files are written after every image, each atomically, list_eval_partition.txt last:
    its presence means the whole set is there."""
    root = writable_dir(root, "folder for the procedural faces")
    folder = writable_dir(root / "img_align_celeba", "image folder")
    params = sample(n, seed=seed, per_identity=per_identity)
    order, partition = _partition(params["identity"], split, seed)
    params = _take(params, order)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for stale in folder.glob("[0-9][0-9][0-9][0-9][0-9][0-9].jpg"):  # left by an earlier, larger set
        if int(stale.stem) > n:
            stale.unlink()
    landmarks = np.empty((n, len(LANDMARKS), 2), np.float32)
    chunk = 512
    with tqdm(total=n, desc=f"Drawing faces into {paths.shown(folder)}", unit="face", disable=not progress) as bar:
        for start in range(0, n, chunk):
            images, landmarks[start:start + chunk] = render(_take(params, slice(start, start + chunk)), size)
            for name, image in zip(names[start:start + chunk], images):
                Image.fromarray(image).save(folder / name, quality=95)
            bar.update(len(images))
    points = np.rint(landmarks).astype(int).reshape(n, -1)
    header = " ".join(f"{name}_{axis}" for name in LANDMARKS for axis in "xy")
    _write_list(root / "list_attr_celeba.txt", [str(n), " ".join(ATTRIBUTES)] +
                [f + "".join(f" {v:2d}" for v in row) for f, row in zip(names, params["attributes"].tolist())])
    _write_list(root / "list_landmarks_align_celeba.txt", [str(n), header] +
                [f + "".join(f" {v}" for v in row) for f, row in zip(names, points.tolist())])
    _write_list(root / "identity_CelebA.txt", [f"{f} {i}" for f, i in zip(names, params["identity"].tolist())])
    _write_list(root / "list_pose_procedural.txt", [str(n), "yaw pitch"] +
                [f"{f} {_decimal(y)} {_decimal(p)}" for f, y, p in zip(names, params["yaw"], params["pitch"])])
    _write_list(root / "list_eval_partition.txt", [f"{f} {p}" for f, p in zip(names, partition)])  # last: "complete"
    return root
