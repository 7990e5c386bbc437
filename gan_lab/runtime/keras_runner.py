"""The Keras runner: a .keras file loaded with safe_mode, called eagerly in chunks."""

import keras
import numpy as np

from gan_lab.models.io import input_specs, load_keras, outputs_of
from gan_lab.runtime.runner import Runner, Tensor

CHUNK = 256  # images per call: bounds the activations a big request holds at once


class KerasRunner(Runner):
    backend = "keras"

    def __init__(self, path, device="CPU", model=None):
        self.model = model if model is not None else load_keras(path)
        specs = input_specs(self.model, path)
        inputs = [Tensor(name, (None, *shape[1:]), dtype) for name, shape, dtype in specs]
        outputs = [Tensor(name, shape, np.dtype("float32")) for name, shape in outputs_of(self.model, specs)]
        super().__init__(path, inputs, outputs, None, device)

    def _infer(self, arrays) -> list:
        parts = []
        for i in range(0, len(arrays[0]), CHUNK):
            chunk = [a[i:i + CHUNK] for a in arrays]
            out = self.model(chunk if len(chunk) > 1 else chunk[0], training=False)
            parts.append([keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
