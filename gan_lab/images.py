"""Image helpers: value ranges, resizing, grids and PNG files (NumPy and Pillow only)."""

from pathlib import Path

import numpy as np

from gan_lab.errors import GanLabError


def to_uint8(images, value_range=(-1.0, 1.0)) -> np.ndarray:
    """Float images in `value_range` -> uint8 in [0, 255], clipped, rounded."""
    lo, hi = value_range
    scaled = (np.asarray(images, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_float(images, value_range=(-1.0, 1.0)) -> np.ndarray:
    """uint8 images -> float32 in `value_range`; float images are taken as already in it."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        lo, hi = value_range
        return images.astype(np.float32) / np.float32(255.0 / (hi - lo)) + np.float32(lo)
    return images.astype(np.float32, copy=False)


def check_uint8(images, what="images", channels=3) -> np.ndarray:
    """`images` as uint8 (n, h, w, channels), or a GanLabError saying how to get there."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != channels:
        raise GanLabError(f"{what} must be uint8 of shape (n, h, w, {channels}); got {images.dtype} {images.shape}. "
                          "Convert float images with gan_lab.images.to_uint8, add a batch axis with images[None].")
    return images


def _bilinear_taps(n_in, n_out):
    """Source rows (lower, upper) and weights of each output row, half-pixel centres (as TF2)."""
    src = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * np.float32(n_in / n_out) - np.float32(0.5)
    floor = np.floor(src)
    lower = np.clip(floor.astype(np.int64), 0, n_in - 1)
    upper = np.clip(np.ceil(src).astype(np.int64), 0, n_in - 1)
    return lower, upper, (src - floor).astype(np.float32)


def bilinear(images, size) -> np.ndarray:
    """uint8 (n, h, w, c) -> uint8 (n, size, size, c) by bilinear interpolation, antialias off (as
    most viewers enlarge): the same arithmetic as `tf.image.resize(..., "bilinear")`, bit for bit
    (tests/test_images.py), without loading TensorFlow. The baseline super-resolution has to beat."""
    images = check_uint8(images, channels=np.shape(images)[-1])
    x = images.astype(np.float32)
    y0, y1, fy = _bilinear_taps(x.shape[1], int(size))
    x0, x1, fx = _bilinear_taps(x.shape[2], int(size))
    fx, fy = fx[None, None, :, None], fy[None, :, None, None]
    top, bottom = x[:, y0], x[:, y1]
    top = top[:, :, x0] + (top[:, :, x1] - top[:, :, x0]) * fx
    bottom = bottom[:, :, x0] + (bottom[:, :, x1] - bottom[:, :, x0]) * fx
    return np.clip(np.rint(top + (bottom - top) * fy), 0, 255).astype(np.uint8)


def downsample(images, factor) -> np.ndarray:
    """Area average over factor x factor blocks: how a camera (or the drawing at low size) makes the
    low-resolution side of a pair."""
    images = check_uint8(images)
    n, h, w, c = images.shape
    if h % factor or w % factor:
        raise GanLabError(f"Cannot area-average {h}x{w} images by {factor}: the size must be a multiple of the factor.")
    blocks = images.reshape(n, h // factor, factor, w // factor, factor, c).astype(np.float32)
    return np.clip(np.rint(blocks.mean(axis=(2, 4))), 0, 255).astype(np.uint8)


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


def png_bytes(image, zoom=1) -> bytes:
    """PNG of a uint8 (H, W, C) image, enlarged `zoom` times with nearest neighbours (crisp pixels)."""
    import io

    from PIL import Image

    image = np.asarray(image)
    if image.shape[-1] == 1:
        image = image[..., 0]
    if zoom > 1:
        image = image.repeat(zoom, axis=0).repeat(zoom, axis=1)
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", compress_level=1)  # level 1: fast, still small
    return out.getvalue()


def read_png(path) -> np.ndarray:
    """An image file (a path or a file object) -> uint8 array (H, W, C), or (H, W) for a grey one."""
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img)
