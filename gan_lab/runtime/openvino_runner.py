"""The OpenVINO runner, with the settings notebook 03 measured fastest on these CPUs.

- Static shapes: the IR is reshaped to a fixed batch and compiled once per batch size (1, 2, 4,
  ... up to `max_batch`; a remainder is zero-padded up to the next of these), since a
  dynamic-shape model re-runs shape inference on every call.
- The LATENCY hint: one stream using every core, so a single image is as quick as it gets, and
  a big batch is fed as `max_batch`-sized requests that already fill both cores. Async requests
  over THROUGHPUT streams were slower here (notebook 03 compares them).
- Input and output tensors bound once per shape: a call copies the inputs in and the outputs
  out, with no per-call tensor wrapping.
- FP32 arithmetic (INFERENCE_PRECISION_HINT f32): on a CPU with AVX-512 BF16 OpenVINO would
  otherwise compute in bfloat16 (max |difference| from Keras 0.04 instead of 0.003 on the MNIST
  generator), and the same seed would give different images on different machines.
"""

import numpy as np
import openvino as ov

from gan_lab.errors import GanLabError
from gan_lab.runtime.runner import Runner, Tensor

GENERIC_DEVICES = ("AUTO", "MULTI", "HETERO")


def available_devices() -> list:
    """OpenVINO's devices on this machine (CPU, GPU, NPU ...), plus AUTO, which picks among them."""
    return [*ov.Core().available_devices, "AUTO"]


def check_device(device, core=None) -> str:
    """`device` if OpenVINO can compile for it here (a device of this machine, or AUTO/MULTI/HETERO),
    else a GanLabError that lists the choices."""
    if device not in (core or ov.Core()).available_devices and device.split(":")[0] not in GENERIC_DEVICES:
        raise GanLabError(f"OpenVINO device {device!r} is not available here; "
                          f"choose one of {', '.join(available_devices())}.")
    return device


def _dtype(element_type) -> np.dtype:
    return np.dtype(element_type.to_dtype()) if element_type.is_static() else np.dtype("float32")


def _tensor(port) -> Tensor:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return Tensor(port.get_any_name(), shape, _dtype(port.get_element_type()))


class OpenVINORunner(Runner):
    """`config` adds or overrides OpenVINO properties (e.g. {"INFERENCE_NUM_THREADS": 1})."""

    backend = "openvino"

    def __init__(self, path, device="CPU", config=None, max_batch=64):
        if not path.with_suffix(".bin").exists():
            raise GanLabError(f"{path.with_suffix('.bin')} is missing: an IR needs its .xml and .bin side by side.")
        self.core = ov.Core()
        check_device(device, self.core)
        try:
            self.model = self.core.read_model(path)
        except Exception as err:
            raise GanLabError(f"{path} is not a readable OpenVINO IR ({str(err).splitlines()[0]}); "
                              "convert it again with `gan-lab convert`.") from err
        self.config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", **(config or {})}
        inputs = [_tensor(p) for p in self.model.inputs]
        static = inputs[0].shape[0] if inputs and inputs[0].shape else None
        self.max_batch = static or max_batch
        self._requests = {}  # input shapes -> (infer request, bound input arrays, output tensors)
        self.compiled_model = None  # the latest compiled (per batch size), for its properties
        super().__init__(path, [Tensor(t.name, (None, *t.shape[1:]), t.dtype) for t in inputs],
                         [_tensor(p) for p in self.model.outputs], static, device)

    def _request(self, shapes):
        if shapes not in self._requests:
            model = self.model
            if self.batch is None or any(None in t.shape[1:] for t in self.inputs):
                model = self.model.clone()  # a static-batch, static-size IR is used as it is
                model.reshape({i: list(s) for i, s in enumerate(shapes)})
            self.compiled_model = self.core.compile_model(model, self.device, self.config)
            request = self.compiled_model.create_infer_request()
            bound = [np.zeros(s, t.dtype) for s, t in zip(shapes, self.inputs)]
            for i, array in enumerate(bound):
                request.set_input_tensor(i, ov.Tensor(array, shared_memory=True))
            self._requests[shapes] = request, bound, [request.get_output_tensor(k) for k in range(len(self.outputs))]
        return self._requests[shapes]

    def run_checked(self, arrays) -> list:
        n = len(arrays[0])
        if n <= self.max_batch:  # the common case, kept lean: idle threads sleep after ~20 us
            return [out.copy() for out in self._infer(arrays)]
        outs = None
        for i in range(0, n, self.max_batch):
            part = self._infer([a[i:i + self.max_batch] for a in arrays])
            if outs is None:
                outs = [np.empty((n, *p.shape[1:]), p.dtype) for p in part]
            for out, p in zip(outs, part):
                out[i:i + len(p)] = p
        return outs

    def _infer(self, arrays) -> list:
        """Outputs for up to max_batch rows, as views of the request's output tensors."""
        n = len(arrays[0])
        size = self.batch or min(1 << (n - 1).bit_length(), self.max_batch)
        request, bound, results = self._request(tuple((size, *a.shape[1:]) for a in arrays))
        for buffer, array in zip(bound, arrays):
            buffer[:n] = array
            buffer[n:] = 0
        request.infer()
        return [r.data[:n] for r in results]
