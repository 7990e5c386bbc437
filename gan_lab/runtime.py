"""One generator interface over Keras, ONNX Runtime and OpenVINO.

    gen = load_generator("models/mnist/generator.xml")   # or .keras / .onnx
    images = gen.generate(z)                              # uint8 (n, H, W, C)

The backend follows the file's suffix. Latents are checked before inference: a wrong
size, dtype or a NaN is refused with a message, never passed to the model.
"""

from pathlib import Path

import numpy as np

from gan_lab import images, latent, modelfolder
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
        return latent.sample(n, self.latent_dim, seed)

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
    """OpenVINO with the settings notebook 03 measured fastest on these CPUs.

    - Static shapes: the IR is reshaped to a fixed batch and compiled once per batch size
      (1, 2, 4, ... up to `max_batch`; a remainder is padded up to the next of these), since a
      dynamic-shape model re-runs shape inference on every call.
    - The LATENCY hint: one stream using every core, so a single image is as quick as it gets,
      and a big batch is fed as `max_batch`-sized requests that already fill both cores. Async
      requests over THROUGHPUT streams were slower here (notebook 03 compares them).
    - Input and output tensors bound once per shape: a call copies z in and the image out, no
      per-call tensor wrapping.
    `config` adds or overrides OpenVINO properties (e.g. {"INFERENCE_NUM_THREADS": 1}).
    """

    backend = "openvino"

    def __init__(self, path, device="CPU", config=None, max_batch=64):
        import openvino as ov

        path = Path(path)
        if not path.with_suffix(".bin").exists():
            raise GanLabError(f"{path.with_suffix('.bin')} is missing: an IR needs its .xml and .bin side by side.")
        self.core = ov.Core()
        if device not in self.core.available_devices and device not in ("AUTO", "MULTI", "HETERO"):
            raise GanLabError(f"OpenVINO device {device!r} is not available here; "
                              f"choose one of {self.core.available_devices} or AUTO.")
        try:
            self.model = self.core.read_model(path)
        except Exception as err:
            raise GanLabError(f"{path} is not a readable OpenVINO IR ({str(err).splitlines()[0]}); "
                              "convert it again with `gan-lab convert`.") from err
        if len(self.model.inputs) != 1:
            raise GanLabError(f"{path} has {len(self.model.inputs)} inputs: not a single-latent generator.")
        self.device, self.config = device, {"PERFORMANCE_HINT": "LATENCY", **(config or {})}
        shape = self.model.inputs[0].get_partial_shape()
        static = shape[0].get_length() if shape[0].is_static else None
        self.max_batch = static or max_batch
        self._requests = {}  # batch size -> (infer request, bound input array, output tensor)
        out = self.model.outputs[0].get_partial_shape()
        super().__init__(path, shape[1].get_length(), [d.get_length() for d in list(out)[1:]], static)

    def _request(self, n):
        import openvino as ov

        if n not in self._requests:
            model = self.model
            if self.batch is None:  # a static-batch IR is used as it is
                model = self.model.clone()
                model.reshape([n, self.latent_dim])
            request = self.core.compile_model(model, self.device, self.config).create_infer_request()
            bound = np.zeros((n, self.latent_dim), np.float32)
            request.set_input_tensor(ov.Tensor(bound, shared_memory=True))
            self._requests[n] = request, bound, request.get_output_tensor()
        return self._requests[n]

    def generate_raw(self, z) -> np.ndarray:
        z = self.check_latents(z)
        if len(z) <= self.max_batch:  # the common case, kept lean: idle threads sleep after ~20 us
            return self._infer(z).copy()
        out = np.empty((len(z), *self.image_shape), np.float32)
        for i in range(0, len(z), self.max_batch):
            out[i:i + self.max_batch] = self._infer(z[i:i + self.max_batch])
        return out

    def _infer(self, chunk):
        """Images for up to max_batch latents, as a view of the request's output tensor."""
        n = len(chunk)
        request, bound, result = self._request(self.batch or min(1 << (n - 1).bit_length(), self.max_batch))
        bound[:n] = chunk
        bound[n:] = 0
        request.infer()
        return result.data[:n]


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
