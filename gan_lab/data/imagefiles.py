"""Image files -> square uint8 arrays -> a tf.data pipeline; shared by the CelebA and folder readers.

One decoder for every source, so real images always go through the same crop, resize and
quantisation (clean-fid's point: quality figures compare only when they do). Decoding runs
in a thread pool (PIL releases the GIL while it decodes and resizes), and the decoded
arrays are cached under `gan_lab.paths.cache_dir()`, keyed by the files' names, sizes and
modification times, so a second read of the same files skips decoding.
"""

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from gan_lab import paths
from gan_lab.errors import GanLabError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CACHE_VERSION = "imagefiles-1"  # bump when decoding changes, so old caches are not reused
WHITE = (255, 255, 255)


def to_rgb(img):
    """Any PIL mode -> RGB: 16-bit scaled to 8, transparency composited on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # PIL's own convert clips 16-bit values at 255 instead of scaling them.
        gray = np.asarray(img, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE + (255,)), rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def square_box(width, height, fraction=1.0):
    """The central square whose side is `fraction` of the shorter side, as a PIL box."""
    side = min(width, height) * fraction
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def decode(path, size, crop=1.0) -> np.ndarray:
    """One image file -> uint8 (size, size, 3): upright, RGB, central square, Lanczos resize."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            # Decode big JPEGs at a reduced DCT scale, keeping at least twice the target
            # resolution, so Lanczos still does the final (antialiased) step.
            factor = 2 * size / (min(img.size) * crop)
            img.draft("RGB", (int(img.size[0] * factor) + 1, int(img.size[1] * factor) + 1))
        ImageOps.exif_transpose(img, in_place=True)  # phone photos store their rotation in EXIF
        img = to_rgb(img)
        box = square_box(*img.size, fraction=crop)
        # reducing_gap=3: big non-JPEG images are first shrunk by an integer factor (fast), which
        # Pillow documents as indistinguishable from a plain Lanczos; CelebA (178 -> 64) is unaffected.
        small = img.resize((size, size), Image.LANCZOS, box=box, reducing_gap=3.0)
        return np.asarray(small, dtype=np.uint8)


@dataclass
class Decoded:
    images: np.ndarray  # uint8 (n_ok, size, size, 3), in input order
    kept: np.ndarray  # int64 indices into the input file list of the images decoded
    skipped: list = field(default_factory=list)  # (index, reason) of files that would not decode
    seconds: float = 0.0  # time spent decoding; 0 when read from the cache
    from_cache: bool = False


def _workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _decode_all(files, size, crop, progress=False) -> Decoded:
    start = time.perf_counter()
    out = np.empty((len(files), size, size, 3), np.uint8)
    ok = np.zeros(len(files), bool)
    reasons = {}

    def work(chunk):
        for i in chunk:
            try:
                out[i] = decode(files[i], size, crop)
                ok[i] = True
            except Exception as err:  # any decoder failure means one bad file, never a failed read
                reasons[i] = f"{type(err).__name__}: {err}".replace(str(files[i]), Path(files[i]).name)  # no machine paths
        return len(chunk)

    # Chunks, not one task per file: 200,000 futures would cost more than the decoding they wrap.
    chunks = [range(i, min(i + 256, len(files))) for i in range(0, len(files), 256)]
    with ThreadPoolExecutor(max_workers=_workers()) as pool, _progress(len(files), progress) as bar:
        for done in pool.map(work, chunks):
            bar.update(done)
    kept = np.flatnonzero(ok)
    images = out if len(kept) == len(files) else out[kept]
    return Decoded(images, kept, sorted(reasons.items()), time.perf_counter() - start)


def _progress(total, show):
    """A tqdm bar when asked for, else a stand-in that ignores updates."""
    if show:
        return tqdm(total=total, desc="Decoding images", unit="img")
    return nullcontext(SimpleNamespace(update=lambda n: None))


def cache_key(files, size, crop, tag="") -> str:
    """A digest of what the decoded arrays depend on: each file's path, size and mtime."""
    h = hashlib.sha1(f"{CACHE_VERSION}|{tag}|{size}|{crop!r}|{len(files)}".encode())
    for f in files:
        st = os.stat(f)
        h.update(f"\0{f}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _cache_path(files, size, crop, tag) -> Path:
    prefix = hashlib.sha1(f"{tag}|{size}|{crop!r}".encode()).hexdigest()[:10]
    return paths.cache_dir() / "images" / f"{prefix}-{cache_key(files, size, crop, tag)}.npz"


def _save(path: Path, decoded: Decoded):
    path.parent.mkdir(parents=True, exist_ok=True)
    index, reasons = zip(*decoded.skipped) if decoded.skipped else ((), ())
    tmp = paths.temp_beside(path, ".npz")
    np.savez(tmp, images=decoded.images, kept=decoded.kept,
             skipped_index=np.asarray(index, np.int64), skipped_reason=np.asarray(reasons, dtype=str))
    os.replace(tmp, path)  # atomic: a reader never sees half a cache file
    # Older caches of the same files at the same size are stale now: drop them.
    for old in path.parent.glob(path.name.split("-")[0] + "-*.npz"):
        if old != path:
            old.unlink(missing_ok=True)


def _load(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            skipped = list(zip(f["skipped_index"].tolist(), f["skipped_reason"].tolist()))
            return Decoded(f["images"], f["kept"], skipped, 0.0, True)
    except (OSError, ValueError, KeyError):
        return None  # unreadable cache (e.g. a killed write): decode again


def read_files(files, size, crop=1.0, tag="", cache=True, progress=False) -> Decoded:
    """Decode `files` to uint8 (n, size, size, 3), skipping (not failing on) unreadable ones.

    `tag` names the source (e.g. the CelebA root and split) so unrelated reads do not evict
    each other's caches. With `cache`, the arrays come from / go to the cache folder.
    """
    if size < 1:
        raise GanLabError(f"image_size must be a positive number of pixels, not {size}.")
    if not 0 < crop <= 1:
        raise GanLabError(f"crop must be a fraction of the shorter side in (0, 1], not {crop}.")
    files = [str(f) for f in files]
    path = _cache_path(files, size, crop, tag) if cache else None
    if path is not None and path.exists():
        decoded = _load(path)
        if decoded is not None:
            return decoded
    decoded = _decode_all(files, size, crop, progress)
    if path is not None:
        try:
            _save(path, decoded)
        except OSError:
            pass  # a full or read-only cache costs speed next time, not this read
    return decoded


def list_images(folder, extensions=EXTENSIONS) -> list:
    """Image files under `folder`, recursively, sorted; hidden files and folders are ignored
    (`.ipynb_checkpoints`, macOS `._name.jpg` resource forks are not images)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in filenames
                  if not f.startswith(".") and f.lower().endswith(tuple(extensions))]
    return sorted(found)


def skipped_message(names, total, where) -> str:
    """The warning for unreadable files: how many, of how many, and the first few names."""
    first = ", ".join(str(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return f"Skipped {len(names)} unreadable image file(s) of {total} in {paths.shown(where)}: {first}."


def to_unit_range(images):
    """uint8 images (a tf tensor) -> float32 in [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def dataset(images, *extras, batch_size=64, shuffle=True, seed=0, drop_remainder=False):
    """tf.data over in-memory uint8 images (and aligned float arrays): float32 in [-1, 1].

    Shuffles indices rather than images (a shuffle buffer of all of CelebA would hold a second
    copy of it), gathers and converts a whole batch at once; reshuffles each epoch from `seed`.
    Every image is yielded, the last batch possibly short, because evaluation must not lose
    images; `drop_remainder=True` drops that short batch for training, where a GAN step wants
    fixed shapes. It never drops the only batch: fewer images than `batch_size` still give one
    short batch, not an empty dataset that would train on nothing. batch_size=None: unbatched.
    """
    n = len(images)
    if n == 0:
        raise GanLabError("No images to make a dataset from.")
    tensors = [tf.convert_to_tensor(images)] + [tf.convert_to_tensor(np.asarray(e, np.float32)) for e in extras]

    def gather(index):
        picked = [tf.gather(t, index) for t in tensors]
        picked[0] = to_unit_range(picked[0])
        return tuple(picked) if extras else picked[0]

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder and n >= batch_size)
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
