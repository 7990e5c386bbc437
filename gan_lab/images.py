"""Image helpers: value ranges, grids and PNG files."""

from pathlib import Path

import numpy as np


def to_uint8(images, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Float images in `value_range` -> uint8 in [0, 255], clipped, rounded."""
    lo, hi = value_range
    scaled = (np.asarray(images, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_float(images) -> np.ndarray:
    """uint8 images -> float32 in [-1, 1]; float images are taken as already in [-1, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    return images.astype(np.float32, copy=False)


def grid(images, cols=None, pad=2, pad_value=255) -> np.ndarray:
    """Tile uint8 images (n, H, W, C) into one (rows*H, cols*W, C) picture."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, dtype=images.dtype)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = img
    return out


def save_png(image, path, scale=1) -> Path:
    """Write a uint8 (H, W, C) or (H, W) image as PNG, enlarged `scale` times (nearest)."""
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path
