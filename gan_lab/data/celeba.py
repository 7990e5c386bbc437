"""CelebA from its official files: aligned face images with 40 binary attributes.

Reads the layout of the official release (and of `gan_lab.data.procedural_faces`) under one
folder `root`:

    img_align_celeba/000001.jpg ...   (or img_align_celeba.zip, extracted once on first read)
    list_eval_partition.txt           000001.jpg 0        (0 train, 1 val, 2 test)
    list_attr_celeba.txt              count, the 40 names, then 000001.jpg -1  1 ...
    list_landmarks_align_celeba.txt   count, lefteye_x ..., then 10 ints      (optional)
    identity_CelebA.txt               000001.jpg 2880                          (optional)
    list_pose_procedural.txt          count, yaw pitch, then floats  (procedural faces only)

Images are cropped to a central square ("square": the central 178x178 of CelebA's 178x218;
"face": the central 148x148, the tighter crop many CelebA 64x64 GANs and VAEs train on) and
resized with Lanczos. Decoding and caching live in `gan_lab.data.imagefiles`.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from gan_lab.data import imagefiles
from gan_lab.errors import GanLabError
from gan_lab import paths
from gan_lab.paths import writable_dir

ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
SPLITS = {"train": 0, "val": 1, "valid": 1, "test": 2, "all": None}  # "valid" as torchvision spells it
CROPS = {"square": 1.0, "face": 148 / 178}
IMAGES = "img_align_celeba"
PARTITION, ATTR, LANDMARKS = "list_eval_partition.txt", "list_attr_celeba.txt", "list_landmarks_align_celeba.txt"
IDENTITY, POSE = "identity_CelebA.txt", "list_pose_procedural.txt"

HOME = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
DRIVE = "https://drive.google.com/drive/folders/0B7EVK8r0v71pWEZsZE9oNnFzTm8"
# Published MD5s and Google Drive ids of the official files (as torchvision's CelebA lists them).
FILES = {
    "img_align_celeba.zip": "00d2c5bc6d35e252742224ab0c1e8fcb",
    ATTR: "75e246fa4810816ffd6ee81facbd244c",
    IDENTITY: "32bd1bd63d3c78cd57e08160ec5ed1e2",
    "list_bbox_celeba.txt": "00566efa6fedff7a56946cd1c10f1c16",
    LANDMARKS: "cc24ecafdb5b50baae59b03474781f8c",
    PARTITION: "d32c9cbf5e040fd4025c592c306e6668",
}
DRIVE_IDS = {
    "img_align_celeba.zip": "0B7EVK8r0v71pZjFTYXZWM3FlRnM",
    ATTR: "0B7EVK8r0v71pblRyaVFSWGxPY0U",
    IDENTITY: "1_ee_0u7vcNLOfNLegJRHmolfH5ICW-XS",
    "list_bbox_celeba.txt": "0B7EVK8r0v71pbThiMVRxWXZ4dU0",
    LANDMARKS: "0B7EVK8r0v71pd0FJY3Blby1HUTQ",
    PARTITION: "0B7EVK8r0v71pY0NSMzRuSXJEVkk",
}
DRIVE_URL = "https://drive.usercontent.google.com/download?id={}&export=download&confirm=t"


def where_to_get(root) -> str:
    return (f"Get it from the official CelebA page {HOME} (its Google Drive folder {DRIVE}: images in Img/, "
            f"list files in Anno/ and Eval/) and place it in {root}.")


@dataclass
class CelebA:
    images: np.ndarray  # uint8 (n, s, s, 3)
    attributes: np.ndarray  # float32 (n, k) in {0, 1}, columns as attribute_names
    attribute_names: list
    files: np.ndarray  # str (n,): image file names, e.g. "000001.jpg"
    split: str
    root: Path
    landmarks: np.ndarray = None  # int32 (n, 10), pixels of the stored image (before crop and resize)
    landmark_names: list = field(default_factory=list)
    identity: np.ndarray = None  # int64 (n,), if identity_CelebA.txt is present
    pose: np.ndarray = None  # float32 (n, 2) yaw, pitch in degrees, if list_pose_procedural.txt is present
    pose_names: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (file name, reason) of images that would not decode

    def __len__(self):
        return len(self.images)


def read_list(path, header=True):
    """A CelebA list file -> (column names, image names, values float64 (n, k)).

    With `header`, line 1 is the row count and line 2 the column names (attributes,
    landmarks, pose); without, rows start at line 1 (partition, identity).
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    start = 2 if header else 0
    rows = [line for line in lines[start:] if line.strip()]
    columns = lines[1].split() if header and len(lines) > 1 else []
    if not rows:
        raise GanLabError(f"{path} lists no images; it is empty or truncated. {where_to_get(path.parent)}")
    if header and (not lines[0].strip().isdigit() or int(lines[0]) != len(rows)):
        raise GanLabError(f"{path} should start with its row count ({len(rows)}), not {lines[0].strip()!r}: "
                          f"it is truncated or not a CelebA list file. {where_to_get(path.parent)}")
    parts = [line.split(None, 1) for line in rows]
    short = next((i for i, p in enumerate(parts) if len(p) < 2), None)
    if short is not None:
        raise GanLabError(f"{path}, line {start + short + 1}: {rows[short]!r} has a file name but no values.")
    try:  # np.loadtxt's C parser reads CelebA's 8 million attribute values in well under a second
        values = np.loadtxt([p[1] for p in parts], dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise GanLabError(f"{path} is not in CelebA's format: {err}.") from err
    if header and values.shape[1] != len(columns):
        raise GanLabError(f"{path} names {len(columns)} columns but its rows have {values.shape[1]} values.")
    return columns, np.array([p[0] for p in parts]), values


def _rows_for(names, listed, path):
    """Row of each of `names` in a list file whose rows are `listed`; fail on any not listed."""
    if len(listed) == len(names) and (listed == names).all():
        return np.arange(len(names))  # the usual case: every file lists images in the same order
    position = {name: i for i, name in enumerate(listed.tolist())}
    missing = [n for n in names.tolist() if n not in position]
    if missing:
        raise GanLabError(f"{path} has no row for {len(missing)} image(s) of the split, e.g. "
                          f"{', '.join(missing[:5])}; it does not belong with {PARTITION}.")
    return np.array([position[n] for n in names.tolist()], dtype=np.int64)


def _required(root, name):
    path = root / name
    if not path.is_file():
        raise GanLabError(f"CelebA's {name} is missing from {root}. {where_to_get(root)}")
    return path


def _select_columns(columns, attributes, path):
    if attributes is None:
        return list(range(len(columns)))
    if isinstance(attributes, str):
        attributes = [attributes]
    unknown = [a for a in attributes if a not in columns]
    if unknown:
        raise GanLabError(f"Unknown CelebA attribute(s) {', '.join(map(repr, unknown))}; "
                          f"{path.name} has: {', '.join(columns)}.")
    return [columns.index(a) for a in attributes]


def safe_extract(archive, target) -> None:
    """Extract a zip into `target`, refusing it whole if any entry would land outside."""
    archive, target = Path(archive), Path(target).resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                parts = PurePosixPath(name.replace("\\", "/")).parts
                escapes = name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0])
                if escapes or not (target / name).resolve().is_relative_to(target):
                    raise GanLabError(f"{archive} has an entry {name!r} that would be written outside {target}; "
                                      f"nothing was extracted. Use a trusted copy of the archive ({HOME}).")
            # Into a hidden temporary folder first, so an interrupted extraction never looks complete.
            tmp = Path(tempfile.mkdtemp(prefix=f".{IMAGES}-", dir=target))
            try:
                zf.extractall(tmp)
                inner = tmp / IMAGES
                os.replace(inner if inner.is_dir() else tmp, target / IMAGES)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except zipfile.BadZipFile as err:
        raise GanLabError(f"{archive} is not a readable zip ({err}); it may be a partial download. "
                          f"{where_to_get(archive.parent)}") from err
    except OSError as err:
        raise GanLabError(f"Could not extract {archive} into {target}: {err}. "
                          f"Unzip it yourself so that {target / IMAGES} holds the images.") from err


def image_folder(root, verbose=True) -> Path:
    """The aligned images' folder, extracted from img_align_celeba.zip the first time."""
    folder, archive = root / IMAGES, root / f"{IMAGES}.zip"
    if folder.is_dir():
        return folder
    if not archive.is_file():
        raise GanLabError(f"CelebA's images are missing: neither {folder} nor {archive} exists. "
                          f"{where_to_get(root)}")
    if verbose:
        print(f"Extracting {paths.shown(archive)} once (later reads use {paths.shown(folder)}) ...")
    safe_extract(archive, root)
    return folder


def _optional(root, name, names, header=True):
    path = root / name
    if not path.is_file():
        return None, []
    columns, listed, values = read_list(path, header)
    return values[_rows_for(names, listed, path)], columns


def _split_names(root, split):
    """Image names of one split, in list_eval_partition.txt's order."""
    path = _required(root, PARTITION)
    _, names, parts = read_list(path, header=False)
    if parts.shape[1] != 1 or not np.isin(parts, (0, 1, 2)).all():
        raise GanLabError(f"{path}: each line should be a file name and 0 (train), 1 (val) or 2 (test).")
    return names if SPLITS[split] is None else names[parts[:, 0] == SPLITS[split]]


def _image_files(root, names, verbose):
    """Paths of the split's images; fail, naming a few, if the partition lists absent ones."""
    folder = image_folder(root, verbose)
    present = set(os.listdir(folder))
    missing = [n for n in names.tolist() if n not in present]
    if missing:
        raise GanLabError(f"{PARTITION} names {len(missing)} image(s) that are not in {folder}, e.g. "
                          f"{', '.join(missing[:5])}. Extract the whole {IMAGES}.zip there, or use the list "
                          f"files that came with these images.")
    return folder, [os.path.join(folder, n) for n in names.tolist()]  # str: 200,000 Paths cost seconds


def _attributes(root, names, attributes):
    """(chosen column names, float32 (n, k) in {0, 1}) from list_attr_celeba.txt."""
    path = _required(root, ATTR)
    columns, listed, values = read_list(path)
    chosen = _select_columns(columns, attributes, path)
    values = values[_rows_for(names, listed, path)][:, chosen]
    if not np.isin(values, (-1, 1)).all():
        raise GanLabError(f"{path}: attribute values must be -1 or 1.")
    return [columns[i] for i in chosen], ((values + 1) / 2).astype(np.float32)


def read(root, split="train", image_size=64, attributes=None, crop="square", verbose=True) -> CelebA:
    """Read one split of CelebA into NumPy arrays; see the module docstring for the layout.

    attributes: None for all 40, or names in the order wanted. Unreadable images are skipped,
    counted and warned about; everything else that is wrong raises a GanLabError.
    """
    root = Path(root).expanduser()
    if split not in SPLITS:
        raise GanLabError(f"Unknown CelebA split {split!r}; use 'train', 'val', 'test' or 'all'.")
    if crop not in CROPS:
        raise GanLabError(f"Unknown crop {crop!r}; use 'square' (central 178x178) or 'face' (central 148x148).")
    if not root.is_dir():
        raise GanLabError(f"The CelebA folder {root} does not exist. {where_to_get(root)}")
    names = _split_names(root, split)
    folder, files = _image_files(root, names, verbose)
    attribute_names, attrs = _attributes(root, names, attributes)
    landmarks, landmark_names = _optional(root, LANDMARKS, names)
    identity, _ = _optional(root, IDENTITY, names, header=False)
    pose, pose_names = _optional(root, POSE, names)

    decoded = imagefiles.read_files(files, image_size, CROPS[crop], tag=f"celeba|{folder.resolve()}|{split}",
                                    progress=verbose and len(files) > 5000)
    keep = decoded.kept
    skipped = [(str(names[i]), reason) for i, reason in decoded.skipped]
    if skipped:
        warnings.warn(imagefiles.skipped_message([s[0] for s in skipped], len(names), folder), stacklevel=2)
    data = CelebA(
        decoded.images, attrs[keep], attribute_names, names[keep], split, root,
        landmarks=None if landmarks is None else landmarks[keep].astype(np.int32), landmark_names=landmark_names,
        identity=None if identity is None else identity[keep, 0].astype(np.int64),
        pose=None if pose is None else pose[keep].astype(np.float32), pose_names=pose_names, skipped=skipped)
    if verbose:
        how = "from the cache" if decoded.from_cache else f"decoded in {decoded.seconds:.1f} s"
        print(f"CelebA {split}: {len(data):,} images {image_size}x{image_size} from {paths.shown(root)} ({how}).")
    return data


def load(root, split="train", image_size=64, attributes=None, batch_size=64, shuffle=None, seed=0,
         with_pose=False, crop="square", verbose=True, drop_remainder=False):
    """A tf.data.Dataset of (image float32 (s, s, 3) in [-1, 1], attributes float32 in {0, 1}),
    batched (batch_size=None: unbatched); with_pose adds (yaw, pitch) as a third element.

    shuffle=None shuffles the train split only: val and test keep the partition file's order, so
    an evaluation reads the same images in the same order every time. Every image of the split is
    yielded; drop_remainder=True drops the last short batch, for training only (see
    `imagefiles.dataset`).
    """
    data = read(root, split, image_size, attributes, crop, verbose)
    if not len(data):
        raise GanLabError(f"The CelebA {split} split in {data.root} has no images ({PARTITION} lists none "
                          f"for it, or none could be read).")
    extras = [data.attributes]
    if with_pose:
        if data.pose is None:
            raise GanLabError(f"with_pose=True needs {POSE} in {data.root}; real CelebA has no pose labels, "
                              f"only gan_lab.data.procedural_faces writes them.")
        extras.append(data.pose)
    shuffle = split == "train" if shuffle is None else shuffle
    return imagefiles.dataset(data.images, *extras, batch_size=batch_size, shuffle=shuffle, seed=seed,
                              drop_remainder=drop_remainder)


def md5(path, chunk=1 << 20) -> str:
    """A file's MD5 hex digest, read a chunk at a time (the image zip is 1.4 GB)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(root) -> dict:
    """Check files placed by hand against the published MD5s.

    Returns {file name: "ok" | "missing" | "bad checksum" | "extracted"}; "extracted" means the
    zip is gone but img_align_celeba/ is there (its images have no published checksums).
    """
    root = Path(root).expanduser()
    return {name: verify_status(root, name) for name in FILES}


def verify_status(root, name) -> str:
    """One file's status for `verify`."""
    path = root / name
    if path.is_file():
        return "ok" if md5(path) == FILES[name] else "bad checksum"
    return "extracted" if name == f"{IMAGES}.zip" and (root / IMAGES).is_dir() else "missing"


def _fetch(url, dest, timeout=60) -> None:
    """Stream `url` to the file `dest` (the one network call, patched in tests)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def download(root) -> Path:
    """Fetch the official files from CelebA's Google Drive into `root`, checking each MD5.

    Files already present with the right checksum are kept. Any failure (offline, Drive's
    download quota, a wrong checksum) raises a GanLabError saying where to get the files by hand.
    """
    root = writable_dir(Path(root).expanduser(), "CelebA folder")
    manual = (f"Download {', '.join(FILES)} by hand from {HOME} (Google Drive folder {DRIVE}), place them in "
              f"{paths.shown(root)}, and check them with gan_lab.data.celeba.verify({paths.shown(root)!r}).")
    for name, expected in FILES.items():
        dest, part = root / name, root / f"{name}.part"
        if verify_status(root, name) in ("ok", "extracted"):  # nothing to fetch
            continue
        try:
            _fetch(DRIVE_URL.format(DRIVE_IDS[name]), part)
        except OSError as err:  # urllib's URLError and socket timeouts are OSErrors
            part.unlink(missing_ok=True)
            raise GanLabError(f"Could not download CelebA's {name} ({err}). {manual}") from err
        got = md5(part)
        if got != expected:
            part.unlink()
            raise GanLabError(f"Downloaded {name} has MD5 {got}, not the published {expected}: Google Drive "
                              f"often serves a 'quota exceeded' page instead of the file. {manual}")
        os.replace(part, dest)
    return root
