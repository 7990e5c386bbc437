"""The ONNX Runtime runner."""

import numpy as np
import onnxruntime as ort

from gan_lab.errors import GanLabError
from gan_lab.runtime.runner import Runner, Tensor

DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
          "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _tensor(node) -> Tensor:
    shape = tuple(d if isinstance(d, int) else None for d in node.shape)
    return Tensor(node.name, shape, np.dtype(DTYPES.get(node.type, np.float32)))


class OnnxRunner(Runner):
    """`device="CPU"` means the CPU provider; `providers` picks others among
    `onnxruntime.get_available_providers()`; `threads` caps the intra-op threads."""

    backend = "onnxruntime"

    def __init__(self, path, device="CPU", providers=None, threads=None):
        available = ort.get_available_providers()
        providers = list(providers or ["CPUExecutionProvider"])
        if device.upper() not in ("CPU", "AUTO") or not set(providers) <= set(available):
            raise GanLabError(f"ONNX Runtime here runs on {', '.join(available)}; got device {device!r}, "
                              f"providers {providers}.")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:
            raise GanLabError(f"{path} is not a readable ONNX model ({str(err).splitlines()[0]}); "
                              "convert it again with `gan-lab convert`.") from err
        inputs = [_tensor(i) for i in self.session.get_inputs()]
        outputs = [_tensor(o) for o in self.session.get_outputs()]
        static = inputs[0].shape[0] if inputs and inputs[0].shape else None  # a static batch is fed in chunks
        inputs = [Tensor(t.name, (None, *t.shape[1:]), t.dtype) for t in inputs]
        super().__init__(path, inputs, outputs, static, device)
        self._names = [t.name for t in inputs]

    def _infer(self, arrays) -> list:
        return self.session.run(None, dict(zip(self._names, arrays)))
