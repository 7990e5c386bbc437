"""The kinds of model, as thin adapters over a runner of any backend.

    gen = load_generator("models/mnist/generator.xml")     # latents (and labels) -> uint8 images
    a2b = load_translator("runs/cyclegan/a2b.onnx")         # uint8 images -> uint8 images
    sr = load_upscaler("models/face-sr/sr.xml")             # uint8 64 px -> uint8 128-1024 px

Each reads its value range from the model.json beside the file, so uint8 in and out is right
for every backend alike.
"""

from pathlib import Path

import numpy as np

from gan_lab import images, latent, modelfolder
from gan_lab.errors import GanLabError
from gan_lab import backends
from gan_lab.runtime.runner import Runner, load

REPR_PREFIX = {"openvino": "OpenVINO", "onnxruntime": "Onnx", "keras": "Keras"}


class Adapter:
    """A runner plus its model.json: path, backend and value range for every kind of model."""

    kind = "model"

    def __init__(self, runner: Runner):
        self.runner, self.path, self.backend = runner, runner.path, runner.backend
        self.info = modelfolder.read_info(self.path.parent)
        self.value_range = tuple(self.info.get("value_range", (-1.0, 1.0)))

    @property
    def label(self) -> str:
        """The backend as a person reads it ("OpenVINO")."""
        return backends.named(self.backend).label

    def __repr__(self):
        return f"<{REPR_PREFIX[self.backend]}{type(self).__name__} {self.path.name}: {self._signature()}>"

    def _signature(self) -> str:
        return ", ".join(t.name for t in self.runner.inputs)


class Generator(Adapter):
    """Latents (and class labels, for a class-conditional generator) -> images."""

    def __init__(self, runner: Runner):
        super().__init__(runner)
        floats = [t for t in runner.inputs if t.dtype.kind == "f" and len(t.shape) == 2]
        ints = [t for t in runner.inputs if t.dtype.kind in "iu"]
        if len(floats) != 1 or len(ints) > 1 or len(runner.inputs) != 1 + len(ints) or len(runner.outputs) != 1:
            raise GanLabError(f"{self.path} takes {list(runner.inputs)} and has {len(runner.outputs)} output(s): not a "
                              "generator (one latent (n, d), optionally one class label, in; one image out).")
        self._latent, self._labels = floats[0], (ints[0] if ints else None)
        self.latent_dim = int(self._latent.shape[1])
        self.image_shape = tuple(int(d) for d in runner.outputs[0].shape[1:])
        self.num_classes = self.info.get("num_classes") if self._labels is not None else None
        self.batch = runner.batch

    @property
    def conditional(self) -> bool:
        return self._labels is not None

    def _signature(self) -> str:
        labels = f", label({self.num_classes or '?'})" if self.conditional else ""
        return f"z({self.latent_dim}){labels} -> {self.image_shape}"

    def check_latents(self, z) -> np.ndarray:
        z = np.asarray(z)
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise GanLabError(f"{self.path.name} takes latents of shape (n, {self.latent_dim}); got {z.shape}.")
        if not np.issubdtype(z.dtype, np.floating):
            raise GanLabError(f"Latents must be floating point; got dtype {z.dtype}.")
        if not np.isfinite(z).all():
            raise GanLabError("Latents contain NaN or infinite values; sample them from a normal distribution.")
        return z.astype(np.float32, copy=False)

    def check_labels(self, labels, n) -> np.ndarray:
        if not self.conditional:
            if labels is not None:
                raise GanLabError(f"{self.path.name} is not class-conditional; call generate(z) without labels.")
            return None
        if labels is None:
            raise GanLabError(f"{self.path.name} is class-conditional: pass labels, one class per latent "
                              f"(0..{(self.num_classes or 0) - 1 if self.num_classes else 'n-1'}).")
        labels = np.asarray(labels)
        if labels.ndim == 0:
            labels = np.full(n, labels)
        labels = labels.reshape(len(labels), *self._labels.shape[1:]) if labels.size == len(labels) else labels
        if len(labels) != n or labels.dtype.kind not in "iu":
            raise GanLabError(f"labels must be {n} whole numbers, one per latent; got {labels.dtype} {labels.shape}.")
        if self.num_classes and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise GanLabError(f"labels must lie in 0..{self.num_classes - 1}; got {labels.min()}..{labels.max()}.")
        return labels

    def sample_latents(self, n, seed=0) -> np.ndarray:
        return latent.sample(n, self.latent_dim, seed)

    def generate_raw(self, z, labels=None) -> np.ndarray:
        """Float images in the model's value range, for parity checks."""
        z = self.check_latents(z)
        labels = self.check_labels(labels, len(z))
        arrays = [z] if labels is None else [z, labels] if self.runner.inputs[0] is self._latent else [labels, z]
        return self.runner.run(*arrays)[0]

    def generate(self, z, labels=None) -> np.ndarray:
        """uint8 images (n, H, W, C)."""
        return images.to_uint8(self.generate_raw(z, labels), self.value_range)


class Translator(Adapter):
    """Images -> images of the same kind (CycleGAN's a2b / b2a), uint8 in and out."""

    def __init__(self, runner: Runner):
        super().__init__(runner)
        if len(runner.inputs) != 1 or len(runner.inputs[0].shape) != 4 or len(runner.outputs) != 1:
            raise GanLabError(f"{self.path} takes {list(runner.inputs)}: not an image-to-image model.")
        self.image_shape = runner.inputs[0].shape[1:]

    def _signature(self) -> str:
        return f"{self.image_shape} -> {self.runner.outputs[0].shape[1:]}"

    def translate_raw(self, x) -> np.ndarray:
        return self.runner.run(x)[0]

    def translate(self, pictures) -> np.ndarray:
        pictures = images.check_uint8(pictures, channels=self.image_shape[-1] or 3)
        return images.to_uint8(self.translate_raw(images.to_float(pictures, self.value_range)), self.value_range)


class Upscaler(Translator):
    """64-px faces -> larger faces: the model's own factor (x4), then bilinear to the asked size."""

    LOW = 64  # the face generators' image size: what every upscaler takes
    SIZES = (128, 256, 512, 1024)

    def __init__(self, runner: Runner):
        super().__init__(runner)
        self.value_range = tuple(self.info.get("value_range", (0.0, 1.0)))  # the SR model works in [0, 1]
        self.scale = self.info.get("scale") or self._probe_scale()

    def _probe_scale(self) -> int:
        return self.runner.run(np.zeros((1, self.LOW, self.LOW, 3), np.float32))[0].shape[1] // self.LOW

    def _signature(self) -> str:
        return f"{self.LOW} -> {self.LOW * self.scale} px"

    def upscale_raw(self, x, chunk=64) -> np.ndarray:
        """Float (n, 64, 64, 3) in the value range -> float (n, 64*scale, 64*scale, 3); in chunks, as a
        64-filter feature map of 1,000 faces would take 1 GB."""
        return np.concatenate([self.translate_raw(x[i:i + chunk]) for i in range(0, len(x), chunk)])

    def upscale(self, pictures, size) -> np.ndarray:
        """uint8 (n, 64, 64, 3) -> uint8 (n, size, size, 3)."""
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size not in self.SIZES:
            raise GanLabError(f"size must be one of {', '.join(map(str, self.SIZES))}; got {size!r}. "
                              "For another size, resize the 256-px result yourself.")
        pictures = np.asarray(pictures)
        if pictures.dtype != np.uint8 or pictures.ndim != 4 or pictures.shape[1:] != (self.LOW, self.LOW, 3):
            raise GanLabError(f"upscale takes uint8 images of shape (n, {self.LOW}, {self.LOW}, 3); got "
                              f"{pictures.dtype} {pictures.shape}. Use gan_lab.images.to_uint8 for float images, "
                              "images[None] for one.")
        sr = images.to_uint8(self.upscale_raw(images.to_float(pictures, self.value_range)), self.value_range)
        return sr if size == sr.shape[1] else images.bilinear(sr, size)


def _open(path, default_stem, device, options):
    path = Path(path)
    if path.is_dir():
        path = path / f"{default_stem}.keras"
    return load(path, device, **options)


def load_generator(path, device="CPU", **options) -> Generator:
    """Open a generator file (.keras, .onnx, .xml); a folder means its generator.keras."""
    return Generator(_open(path, "generator", device, options))


def load_translator(path, device="CPU", **options) -> Translator:
    """Open an image-to-image model (a2b, b2a ...)."""
    return Translator(_open(path, "a2b", device, options))


def load_upscaler(path, device="CPU", **options) -> Upscaler:
    """Open sr.keras (safe_mode), sr.onnx (ONNX Runtime) or sr.xml (OpenVINO); a folder means its sr.keras."""
    return Upscaler(_open(path, "sr", device, options))
