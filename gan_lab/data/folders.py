"""Any folder of face images, unlabelled: your own photos, a scraped set, another data set's images.

Looks recursively for .jpg .jpeg .png .webp .bmp files (any case), takes any size and mode
(grayscale -> RGB, transparency composited on white, 16-bit scaled to 8), crops the central
square and resizes it, through the same decoder and cache as CelebA (`gan_lab.data.imagefiles`).
"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan_lab import paths
from gan_lab.data import imagefiles
from gan_lab.errors import GanLabError


@dataclass
class ImageFolder:
    images: np.ndarray  # uint8 (n, s, s, 3)
    files: list  # paths relative to the folder, aligned with images
    folder: Path
    skipped: list = field(default_factory=list)  # (relative path, reason) of files that would not decode

    def __len__(self):
        return len(self.images)


def read(folder, image_size=64, verbose=True) -> ImageFolder:
    """Every image under `folder` as uint8 (n, s, s, 3); unreadable files are skipped and counted."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise GanLabError(f"The image folder {folder} does not exist or is not a folder.")
    files = imagefiles.list_images(folder)
    if not files:
        raise GanLabError(f"No images in {folder} (looked recursively for {' '.join(imagefiles.EXTENSIONS)}, "
                          f"any case); point to a folder that holds image files.")
    decoded = imagefiles.read_files(files, image_size, tag=f"folder|{folder.resolve()}",
                                    progress=verbose and len(files) > 5000)
    relative = [f.relative_to(folder).as_posix() for f in files]
    skipped = [(relative[i], reason) for i, reason in decoded.skipped]
    if skipped:
        warnings.warn(imagefiles.skipped_message([s[0] for s in skipped], len(files), folder), stacklevel=2)
    if not len(decoded.kept):
        raise GanLabError(f"None of the {len(files)} image files in {folder} could be read, e.g. "
                          f"{skipped[0][0]}: {skipped[0][1]}.")
    data = ImageFolder(decoded.images, [relative[i] for i in decoded.kept], folder, skipped)
    if verbose:
        how = "from the cache" if decoded.from_cache else f"decoded in {decoded.seconds:.1f} s"
        print(f"{paths.shown(folder)}: {len(data):,} images {image_size}x{image_size} ({how}).")
    return data


def load(folder, image_size=64, batch_size=64, shuffle=True, seed=0, verbose=True, drop_remainder=False):
    """A tf.data.Dataset of images float32 (s, s, 3) in [-1, 1], batched (None: unbatched).

    A folder has no splits, so it shuffles by default and yields every image, the last batch
    possibly short (a quality figure over the folder must see all of it); drop_remainder=True
    drops that short batch, for training only (see `imagefiles.dataset`).
    """
    data = read(folder, image_size, verbose)
    return imagefiles.dataset(data.images, batch_size=batch_size, shuffle=shuffle, seed=seed,
                              drop_remainder=drop_remainder)
