"""Upscaling 64x64 faces to 128-1024 px: bilinear, or a small ESPCN super-resolution model.

    up = load_upscaler("models/face-sr/sr.xml")   # or .keras / .onnx
    big = up.upscale(faces_uint8_64, 1024)         # SR x4 to 256, then bilinear to 1024

The truth is known here: procedural faces can be drawn at any size, so a face drawn at 256 px and
area-averaged to 64 px is a real (low, high) pair. The model learns from such pairs and is scored
(PSNR, SSIM) against the 256-px drawings of faces it never saw, beside plain bilinear.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from gan_lab import modelfolder
from gan_lab.errors import GanLabError

LOW = 64  # the generators' image size: what every upscaler takes
SIZES = (128, 256, 512, 1024)
HELDOUT_SEED = 1_000_003  # faces for the figures; training refuses this seed
VALIDATION_SEED = 1_000_004  # faces for the per-epoch validation loss
TOLERANCE = {"onnx": 1e-4, "ir_fp16": 1e-2}  # max |diff| from Keras on [0, 1] images, as in convert.py


# ----------------------------------------------------------------------------- images

def _check_uint8(images, what="images") -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise GanLabError(f"{what} must be uint8 RGB of shape (n, h, w, 3); got {images.dtype} {images.shape}. "
                          "Convert float images with gan_lab.images.to_uint8 first.")
    return images


def bilinear(images, size) -> np.ndarray:
    """uint8 (n, h, w, 3) -> uint8 (n, size, size, 3) by bilinear interpolation (antialias off, as
    most viewers enlarge), rounded and clipped: the baseline SR has to beat."""
    import tensorflow as tf

    images = _check_uint8(images)
    out = tf.image.resize(images.astype(np.float32), (int(size), int(size)), method="bilinear", antialias=False)
    return np.clip(np.rint(out.numpy()), 0, 255).astype(np.uint8)


def downsample(images, factor) -> np.ndarray:
    """Area average over factor x factor blocks: how a camera (or the drawing at low size) makes the
    low-resolution side of a pair."""
    images = _check_uint8(images)
    n, h, w, c = images.shape
    if h % factor or w % factor:
        raise GanLabError(f"Cannot area-average {h}x{w} images by {factor}: the size must be a multiple of the factor.")
    blocks = images.reshape(n, h // factor, factor, w // factor, factor, c).astype(np.float32)
    return np.clip(np.rint(blocks.mean(axis=(2, 4))), 0, 255).astype(np.uint8)


def _to_unit(images) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def _from_unit(x) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x, np.float32) * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- model

def build_sr(scale=4, filters=(64, 32), channels=3, residual=True):
    """ESPCN (Shi et al. 2016): features at low resolution, then a sub-pixel convolution
    (channels * scale**2 maps rearranged by depth_to_space), so every convolution runs on the
    small image. residual=True adds the bilinear upsampling, so the net learns only the detail
    bilinear misses (measured: higher PSNR for the same training). Input any (h, w) in [0, 1];
    output (h * scale, w * scale) in [0, 1]. Standard layers and ops only: loads with safe_mode."""
    import keras
    from keras import layers

    image = keras.Input((None, None, channels), name="image")
    x = layers.Conv2D(filters[0], 5, padding="same", activation="tanh", name="features")(image)
    x = layers.Conv2D(filters[1], 3, padding="same", activation="tanh", name="mapping")(x)
    x = layers.Conv2D(channels * scale ** 2, 3, padding="same", name="subpixel",
                      kernel_initializer="zeros" if residual else "glorot_uniform")(x)
    x = keras.ops.depth_to_space(x, scale, data_format="channels_last")  # an op, not a Lambda
    if residual:
        x = layers.Add(name="plus_bilinear")([x, layers.UpSampling2D(scale, interpolation="bilinear")(image)])
        x = layers.ReLU(max_value=1.0, name="clip")(x)
    else:
        x = layers.Activation("sigmoid", name="clip")(x)
    return keras.Model(image, x, name=f"espcn_x{scale}")


def training_pairs(n, low=LOW, scale=4, seed=0) -> tuple:
    """(low uint8 (n, low, low, 3), high uint8 (n, low*scale, low*scale, 3)): procedural faces
    drawn at the high size and area-averaged down."""
    from gan_lab.data import procedural_faces

    high = procedural_faces.faces(n, size=low * scale, seed=seed)["images"]
    return downsample(high, scale), high


def _batches(low, high, batch_size, patch, seed):
    """Endless float batches of random low-res patch x patch crops and their high-res twins.
    Small crops buy more, noisier steps for the same arithmetic (measured: +0.7 dB over whole
    faces at equal time); the uint8 pairs stay uint8 in memory."""
    rng = np.random.default_rng(seed)
    scale = high.shape[1] // low.shape[1]
    while True:
        picks = rng.integers(0, len(low), batch_size)
        ys, xs = rng.integers(0, low.shape[1] - patch + 1, (2, batch_size))
        yield (_to_unit(np.stack([low[i, y:y + patch, x:x + patch] for i, y, x in zip(picks, ys, xs)])),
               _to_unit(np.stack([high[i, scale * y:scale * (y + patch), scale * x:scale * (x + patch)]
                                  for i, y, x in zip(picks, ys, xs)])))


def train(out_dir, epochs=6, n_train=1000, seed=0, batch_size=16, verbose=1, scale=4, filters=(64, 32),
          residual=True, loss="mse", learning_rate=1e-3, patch=32, n_val=64) -> dict:
    """Train an ESPCN on n_train procedural pairs; save out_dir/sr.keras atomically and model.json.

    Adam on MSE (PSNR is a function of MSE; L1 measured 1.3 dB lower), seeded. An epoch is as many
    patches as cover the training faces once. Validation faces have their own seed, neither the
    training nor the held-out one."""
    import keras

    from gan_lab.paths import writable_dir

    if seed in (HELDOUT_SEED, VALIDATION_SEED):
        raise GanLabError(f"seed {seed} draws the held-out or validation faces; train with another seed.")
    out_dir = writable_dir(out_dir)
    if not 0 < patch <= LOW:
        raise GanLabError(f"patch must be between 1 and {LOW} (low-res pixels); got {patch}.")
    start, cpu = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(seed)
    low, high = training_pairs(n_train, scale=scale, seed=seed)
    val_low, val_high = training_pairs(n_val, scale=scale, seed=VALIDATION_SEED)
    draw_seconds = time.perf_counter() - start
    model = build_sr(scale, filters, residual=residual)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    steps = max(1, n_train * (LOW // patch) ** 2 // batch_size)
    history = model.fit(_batches(low, high, batch_size, patch, seed), steps_per_epoch=steps, epochs=epochs,
                        validation_data=(_to_unit(val_low), _to_unit(val_high)), validation_batch_size=batch_size,
                        shuffle=False, verbose=verbose)
    modelfolder.save_keras(model, Path(out_dir) / "sr.keras")
    report = {"task": "super-resolution", "architecture": "espcn", "scale": scale, "low_size": LOW,
              "high_size": LOW * scale, "filters": list(filters), "residual": residual, "loss": loss,
              "learning_rate": learning_rate, "epochs": epochs, "steps_per_epoch": steps, "n_train": n_train,
              "batch_size": batch_size, "patch": patch, "seed": seed,
              "validation": {"seed": VALIDATION_SEED, "n": n_val},
              "history": {k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()},
              "draw_seconds": round(draw_seconds, 1), "train_seconds": round(time.perf_counter() - start, 1),
              "train_cpu_seconds": round(time.process_time() - cpu, 1),
              "data_source": "procedural faces drawn at 256 px, area-averaged to 64 px",
              "parameters": int(model.count_params())}
    modelfolder.write_info(out_dir, **report)
    return report


# ----------------------------------------------------------------------------- conversion

def _load_keras(path):
    from gan_lab.convert import load_keras

    return load_keras(path)


def _onnx(model, path, opset=17):
    """Input "image" (batch, 64, 64, 3), output "upscaled", dynamic batch."""
    from gan_lab.convert import trace_to_onnx

    trace_to_onnx(model, path, (None, LOW, LOW, 3), "image", "upscaled", opset)


def convert(keras_path_or_model, out_dir, parity_samples=32, seed=HELDOUT_SEED) -> dict:
    """sr.keras -> sr.onnx (FP32) -> sr.xml/.bin (FP16 weights), each compared with Keras on
    held-out faces and written only if within TOLERANCE (a failed step leaves nothing behind)."""
    from gan_lab.convert import parity, to_ir
    from gan_lab.paths import writable_dir

    start = time.perf_counter()
    model = keras_path_or_model
    if isinstance(model, (str, os.PathLike)):
        model = _load_keras(model)
    out_dir = writable_dir(out_dir)
    low = _to_unit(training_pairs(parity_samples, seed=seed)[0])
    reference = np.asarray(model(low, training=False))
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        _onnx(model, work / "sr.onnx")
        figures = {"onnx": parity(reference, OnnxUpscaler(work / "sr.onnx").upscale_raw(low))}
        to_ir(work / "sr.onnx", work / "sr.xml", fp16=True)
        figures["ir_fp16"] = parity(reference, OpenVINOUpscaler(work / "sr.xml").upscale_raw(low))
        for step, fig in figures.items():
            if not fig["max_abs"] <= TOLERANCE[step]:
                raise GanLabError(f"Parity check failed at {step}: max |difference| from Keras is "
                                  f"{fig['max_abs']:.2e}, above {TOLERANCE[step]:.0e}. Nothing was written.")
        for path in work.iterdir():
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"parity": {"samples": parity_samples, "seed": seed, "value_range": [0.0, 1.0], **figures},
              "onnx_input": {"name": "image", "shape": ["batch", LOW, LOW, 3]}, "ir_precision": "fp16",
              "sizes_bytes": {p.name: p.stat().st_size for p in sorted(out_dir.glob("sr.*")) if p.suffix != ".json"},
              "convert_seconds": round(time.perf_counter() - start, 1)}
    modelfolder.write_info(out_dir, conversion=report)
    return report


# ----------------------------------------------------------------------------- runtime

def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size not in SIZES:
        raise GanLabError(f"size must be one of {', '.join(map(str, SIZES))}; got {size!r}. "
                          "For another size, resize the 256-px result yourself.")


class Upscaler:
    """Common part: input checks, SR at x scale, then bilinear to the asked size."""

    backend = "?"

    def __init__(self, path):
        self.path = Path(path)
        probe = self._run(np.zeros((1, LOW, LOW, 3), np.float32))
        self.scale = probe.shape[1] // LOW  # read from the model itself, not from a side file

    def __repr__(self):
        return f"<{type(self).__name__} {self.path.name}: {LOW} -> {LOW * self.scale} px>"

    def upscale_raw(self, x, chunk=64) -> np.ndarray:
        """Float [0, 1] (n, 64, 64, 3) -> float (n, 64*scale, 64*scale, 3), for parity checks; in
        chunks, as a 64-filter feature map of 1,000 faces would take 1 GB."""
        x = np.ascontiguousarray(x, np.float32)
        return np.concatenate([self._run(x[i:i + chunk]) for i in range(0, len(x), chunk)])

    def upscale(self, images, size) -> np.ndarray:
        """uint8 (n, 64, 64, 3) -> uint8 (n, size, size, 3): SR at x scale, bilinear for the rest."""
        _check_size(size)
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != (LOW, LOW, 3) or images.ndim != 4:
            raise GanLabError(f"upscale takes uint8 images of shape (n, {LOW}, {LOW}, 3); got {images.dtype} "
                              f"{images.shape}. Use gan_lab.images.to_uint8 for float images, images[None] for one.")
        sr = _from_unit(self.upscale_raw(_to_unit(images)))
        return sr if size == sr.shape[1] else bilinear(sr, size)

    def _run(self, x):
        raise NotImplementedError


class KerasUpscaler(Upscaler):
    backend = "keras"

    def __init__(self, path):
        self.model = _load_keras(path)
        super().__init__(path)

    def _run(self, x):
        return np.asarray(self.model(x, training=False))


class OnnxUpscaler(Upscaler):
    backend = "onnxruntime"

    def __init__(self, path):
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:
            raise GanLabError(f"{path} is not a readable ONNX model ({str(err).splitlines()[0]}).") from err
        self.input_name = self.session.get_inputs()[0].name
        super().__init__(path)

    def _run(self, x):
        return self.session.run(None, {self.input_name: x})[0]


class OpenVINOUpscaler(Upscaler):
    """OpenVINO with runtime.OpenVINOGenerator's measured settings: LATENCY hint, static shapes
    compiled once per batch size (powers of two up to max_batch; a remainder is zero-padded)."""

    backend = "openvino"

    def __init__(self, path, device="CPU", max_batch=16):
        import openvino as ov

        path = Path(path)
        if not path.with_suffix(".bin").exists():
            raise GanLabError(f"{path.with_suffix('.bin')} is missing: an IR needs its .xml and .bin side by side.")
        self.core, self.device, self.max_batch = ov.Core(), device, max_batch
        try:
            self.model = self.core.read_model(path)
        except Exception as err:
            raise GanLabError(f"{path} is not a readable OpenVINO IR ({str(err).splitlines()[0]}).") from err
        self._compiled = {}
        super().__init__(path)

    def _request(self, n):
        if n not in self._compiled:
            model = self.model.clone()
            model.reshape([n, LOW, LOW, 3])
            self._compiled[n] = self.core.compile_model(model, self.device, {"PERFORMANCE_HINT": "LATENCY"}) \
                .create_infer_request()
        return self._compiled[n]

    def _run(self, x):
        parts = []
        for i in range(0, len(x), self.max_batch):
            chunk = x[i:i + self.max_batch]
            n = min(1 << (len(chunk) - 1).bit_length(), self.max_batch)
            padded = np.concatenate([chunk, np.zeros((n - len(chunk), *chunk.shape[1:]), np.float32)])
            parts.append(self._request(n).infer({0: padded})[0][:len(chunk)].copy())
        return np.concatenate(parts)


BACKENDS = {".keras": KerasUpscaler, ".onnx": OnnxUpscaler, ".xml": OpenVINOUpscaler}


def load_upscaler(path) -> Upscaler:
    """Open sr.keras (safe_mode), sr.onnx (ONNX Runtime) or sr.xml (OpenVINO); a folder means its sr.keras."""
    path = Path(path)
    if path.is_dir():
        path = path / "sr.keras"
    if path.suffix not in BACKENDS:
        raise GanLabError(f"Cannot tell the backend of {path}: use a .keras, .onnx or .xml file.")
    if not path.exists():
        raise GanLabError(f"{path} does not exist.")
    return BACKENDS[path.suffix](path)


# ----------------------------------------------------------------------------- measurement

def _scores(truth, guess, chunk=50) -> dict:
    import tensorflow as tf

    psnr, ssim = [], []
    for i in range(0, len(truth), chunk):
        a, b = (tf.constant(v[i:i + chunk], tf.float32) for v in (truth, guess))
        psnr.append(tf.image.psnr(a, b, max_val=255.0).numpy())
        ssim.append(tf.image.ssim(a, b, max_val=255.0).numpy())
    return {"psnr": round(float(np.concatenate(psnr).mean()), 3), "ssim": round(float(np.concatenate(ssim).mean()), 4)}


def compare(upscaler, n=200, size=256, seed=HELDOUT_SEED) -> dict:
    """Mean PSNR (dB) and SSIM of bilinear and of `upscaler` against the true size-px drawings of
    n held-out faces, both starting from the same 64-px area averages."""
    return _compare({"sr": upscaler}, n, size, seed)


def _compare(upscalers, n, size, seed) -> dict:
    from gan_lab.data import procedural_faces

    _check_size(size)
    truth = procedural_faces.faces(n, size=size, seed=seed)["images"]
    low = downsample(truth, size // LOW)
    scores = {name: _scores(truth, up.upscale(low, size)) for name, up in upscalers.items()}
    return {"n": n, "size": size, "seed": seed, "bilinear": _scores(truth, bilinear(low, size)), **scores}


def latency_ms(upscaler, size=256, seconds=2.0) -> dict:
    """Median and p95 time of one 64 -> size upscale (uint8 in, uint8 out), after warm-up."""
    from gan_lab.bench import time_requests

    _, times = time_requests(lambda x: upscaler.upscale(x, size), lambda: np.zeros((1, LOW, LOW, 3), np.uint8),
                             seconds=seconds)
    return {"median": round(float(np.median(times)), 3), "p95": round(float(np.percentile(times, 95)), 3),
            "size": size, "requests": len(times)}


def make_folder(out_dir, n_eval=200, **train_kwargs) -> dict:
    """Everything behind models/face-sr: train, convert, score each backend on held-out faces and
    time OpenVINO; all of it recorded in model.json with the call that reproduces it."""
    args = "".join(f", {k}={json.dumps(v) if isinstance(v, str) else v!r}" for k, v in train_kwargs.items())
    call = f"upscale.make_folder({json.dumps(str(out_dir))}{args}, n_eval={n_eval})"
    command = f"python -c 'from gan_lab import upscale; {call}'"
    start = time.perf_counter()
    train(out_dir, **train_kwargs)
    convert(Path(out_dir) / "sr.keras", out_dir)
    ov_upscaler = load_upscaler(Path(out_dir) / "sr.xml")
    backends = {"sr": load_upscaler(Path(out_dir) / "sr.keras"), "sr_onnx": load_upscaler(Path(out_dir) / "sr.onnx"),
                "sr_openvino": ov_upscaler}
    quality = _compare(backends, n_eval, 256, HELDOUT_SEED)
    info = {"quality": quality, "openvino_latency_ms": latency_ms(ov_upscaler), "command": command,
            "make_seconds": round(time.perf_counter() - start, 1)}
    modelfolder.write_info(out_dir, **info)
    return modelfolder.read_info(out_dir)
