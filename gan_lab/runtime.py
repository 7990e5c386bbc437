"""One generator interface over Keras, ONNX Runtime and OpenVINO.

    gen = load_generator("models/mnist/generator.xml")   # or .keras / .onnx
    images = gen.generate(z)                              # uint8 (n, H, W, C)

The backend follows the file's suffix. Latents are checked before inference: a wrong
size, dtype or a NaN is refused with a message, never passed to the model.
"""

from pathlib import Path

import numpy as np

from gan_lab import images, modelfolder
from gan_lab.errors import GanLabError


class Generator:
    """Common part: latent checks, chunking, conversion to uint8."""

    backend = "?"

    def __init__(self, path, latent_dim, image_shape, batch=None):
        self.path = Path(path)
        self.latent_dim, self.image_shape, self.batch = int(latent_dim), tuple(image_shape), batch
        info = modelfolder.read_info(self.path.parent)
        self.value_range = tuple(info.get("value_range", (-1.0, 1.0)))

    def __repr__(self):
        return f"<{type(self).__name__} {self.path.name}: z({self.latent_dim}) -> {self.image_shape}>"

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

    def sample_latents(self, n, seed=0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def generate_raw(self, z) -> np.ndarray:
        """Float images in the model's value range, for parity checks."""
        z = self.check_latents(z)
        if self.batch is None:
            return self._run(z)
        parts = []
        for i in range(0, len(z), self.batch):  # a static-batch model is fed in padded chunks
            chunk = z[i:i + self.batch]
            padded = np.concatenate([chunk, np.zeros((self.batch - len(chunk), self.latent_dim), np.float32)])
            parts.append(self._run(padded)[:len(chunk)])
        return np.concatenate(parts)

    def generate(self, z) -> np.ndarray:
        return images.to_uint8(self.generate_raw(z), self.value_range)

    def _run(self, z):
        raise NotImplementedError


class KerasGenerator(Generator):
    backend = "keras"

    def __init__(self, path):
        from gan_lab.convert import load_keras, generator_signature

        self.model = load_keras(path)
        latent_dim, image_shape = generator_signature(self.model, path)
        super().__init__(path, latent_dim, image_shape)

    def _run(self, z):
        import keras

        return keras.ops.convert_to_numpy(self.model(z, training=False))


class OnnxGenerator(Generator):
    backend = "onnxruntime"

    def __init__(self, path, threads=None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise GanLabError(f"{path} is not a readable ONNX model ({str(err).splitlines()[0]}); "
                              "convert it again with `gan-lab convert`.") from err
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise GanLabError(f"{path} has {len(inputs)} inputs: not a single-latent generator.")
        shape = inputs[0].shape
        self.input_name = inputs[0].name
        batch = shape[0] if isinstance(shape[0], int) else None
        super().__init__(path, shape[1], self.session.get_outputs()[0].shape[1:], batch)

    def _run(self, z):
        return self.session.run(None, {self.input_name: z})[0]


class OpenVINOGenerator(Generator):
    backend = "openvino"

    def __init__(self, path, device="CPU", config=None):
        import openvino as ov

        path = Path(path)
        if not path.with_suffix(".bin").exists():
            raise GanLabError(f"{path.with_suffix('.bin')} is missing: an IR needs its .xml and .bin side by side.")
        core = ov.Core()
        if device not in core.available_devices and device not in ("AUTO", "MULTI", "HETERO"):
            raise GanLabError(f"OpenVINO device {device!r} is not available here; "
                              f"choose one of {core.available_devices} or AUTO.")
        try:
            model = core.read_model(path)
        except Exception as err:
            raise GanLabError(f"{path} is not a readable OpenVINO IR ({str(err).splitlines()[0]}); "
                              "convert it again with `gan-lab convert`.") from err
        if len(model.inputs) != 1:
            raise GanLabError(f"{path} has {len(model.inputs)} inputs: not a single-latent generator.")
        self.device = device
        self.compiled = core.compile_model(model, device, config or {})
        self.request = self.compiled.create_infer_request()
        shape = model.inputs[0].get_partial_shape()
        batch = shape[0].get_length() if shape[0].is_static else None
        out = model.outputs[0].get_partial_shape()
        super().__init__(path, shape[1].get_length(), [d.get_length() for d in list(out)[1:]], batch)

    def _run(self, z):
        return self.request.infer({0: z})[0].copy()


BACKENDS = {".keras": KerasGenerator, ".onnx": OnnxGenerator, ".xml": OpenVINOGenerator}


def load_generator(path, device="CPU") -> Generator:
    """Open a generator file; the backend follows the suffix (.keras, .onnx, .xml)."""
    path = Path(path)
    if path.is_dir():
        path = path / "generator.keras"
    if path.suffix not in BACKENDS:
        raise GanLabError(f"Cannot tell the backend of {path}: use a .keras, .onnx or .xml file.")
    if not path.exists():
        raise GanLabError(f"{path} does not exist.")
    if path.suffix == ".xml":
        return OpenVINOGenerator(path, device)
    return BACKENDS[path.suffix](path)
