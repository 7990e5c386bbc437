"""Which faces a notebook trains on: `DATA="procedural"` (the default, drawn by gan_lab) or the
path of a CelebA folder. Both end up as the same CelebA layout, read by `celeba.read`.
"""

from pathlib import Path

from gan_lab import paths
from gan_lab.data import celeba, procedural_faces
from gan_lab.errors import GanLabError

PROCEDURAL = "procedural"


def procedural_root(n=20_000, size=64, seed=0) -> Path:
    """The cached procedural face set for (n, size, seed), written the first time it is asked for."""
    with paths.cache_lock(f"procedural-faces-{size}px-{n}-seed{seed}") as root:
        if not (root / "list_eval_partition.txt").exists():  # written last, so its presence means complete
            procedural_faces.write_celeba_layout(root, n, size=size, seed=seed)
    return root


def root(data=PROCEDURAL, n=20_000, size=64, seed=0) -> Path:
    """A CelebA-layout folder for `data`: "procedural" or a path to a CelebA copy."""
    if str(data) == PROCEDURAL:
        return procedural_root(n, size, seed)
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise GanLabError(f"DATA={data!r} is neither 'procedural' nor an existing CelebA folder.")
    return folder


def read(data=PROCEDURAL, split="train", size=64, n=20_000, seed=0, verbose=True):
    """`celeba.read` of one split of `data` (see `root`)."""
    return celeba.read(root(data, n, size, seed), split, image_size=size, verbose=verbose)
