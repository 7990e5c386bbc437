"""The runner: one model file, its inputs by name, `run(...)` with NumPy arrays in and out.

    runner = runtime.load("models/mnist/generator.xml")   # or .onnx, .keras
    runner.inputs        # (Tensor('z', (None, 100), float32),)
    images, = runner.run(z)          # positional, or runner.run(z=z)

Inputs are checked before inference (count, names, shape, dtype, NaN/inf), each refusal naming
the input and what it takes. A backend's runner only says how to open its file and how to run a
batch; batching of static-shape models lives here, once.
"""

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_lab.errors import GanLabError
from gan_lab import backends


@dataclass(frozen=True)
class Tensor:
    """An input or output: name, shape (None for a dimension of any size) and dtype."""

    name: str
    shape: tuple
    dtype: np.dtype

    def __repr__(self):
        return f"Tensor({self.name!r}, {self.shape}, {np.dtype(self.dtype).name})"

    def describe(self) -> str:
        dims = ", ".join("n" if i == 0 and d is None else "any" if d is None else str(d)
                         for i, d in enumerate(self.shape))
        return f"{np.dtype(self.dtype).name} of shape ({dims}{',' if len(self.shape) == 1 else ''})"

    def check(self, value, model) -> np.ndarray:
        """`value` as this input's dtype, or a GanLabError naming the input and what it takes."""
        array = np.asarray(value)
        want = np.dtype(self.dtype)
        takes = f"{model} takes {self.name!r} as {self.describe()}"
        if array.ndim != len(self.shape) or any(d is not None and d != a for d, a in zip(self.shape, array.shape)):
            raise GanLabError(f"{takes}; got shape {array.shape}.")
        if want.kind == "f" and array.dtype.kind not in "f":
            raise GanLabError(f"{takes}; got dtype {array.dtype}. Floating point values are needed.")
        if want.kind in "iu" and array.dtype.kind not in "iu":
            raise GanLabError(f"{takes}; got dtype {array.dtype}. Whole numbers (e.g. class labels) are needed.")
        if want.kind == "f" and not np.isfinite(array).all():
            raise GanLabError(f"{takes}; {self.name!r} contains NaN or infinite values.")
        return np.ascontiguousarray(array, dtype=want)


class Runner:
    """What every backend shares: input checks and feeding a static-batch model in chunks.
    A subclass sets `inputs`, `outputs`, `batch` (a fixed batch size, or None) and `_infer`."""

    backend = "?"

    def __init__(self, path, inputs, outputs, batch=None, device="CPU"):
        self.path, self.inputs, self.outputs = Path(path), tuple(inputs), tuple(outputs)
        self.batch, self.device = batch, device

    def __repr__(self):
        ins = ", ".join(f"{t.name}{t.shape}" for t in self.inputs)
        return f"<{type(self).__name__} {self.path.name} ({ins})>"

    @property
    def input_names(self) -> tuple:
        return tuple(t.name for t in self.inputs)

    def check(self, *args, **named) -> list:
        """The inputs in model order, checked and cast; positional or by name, not both."""
        if args and named:
            raise GanLabError(f"Pass {self.path.name}'s inputs either by position or by name "
                              f"({', '.join(self.input_names)}), not both.")
        if named:
            unknown = sorted(set(named) - set(self.input_names))
            missing = [n for n in self.input_names if n not in named]
            if unknown or missing:
                raise GanLabError(f"{self.path.name} takes inputs {', '.join(self.input_names)}; "
                                  f"unknown: {unknown or '-'}, missing: {missing or '-'}.")
            args = tuple(named[n] for n in self.input_names)
        if len(args) != len(self.inputs):
            raise GanLabError(f"{self.path.name} takes {len(self.inputs)} input(s) "
                              f"({', '.join(t.name + ': ' + t.describe() for t in self.inputs)}); got {len(args)}.")
        arrays = [t.check(a, self.path.name) for t, a in zip(self.inputs, args)]
        if len({len(a) for a in arrays}) > 1:
            raise GanLabError(f"The inputs of {self.path.name} must have the same batch size; got "
                              f"{', '.join(f'{t.name}: {len(a)}' for t, a in zip(self.inputs, arrays))}.")
        return arrays

    def run(self, *args, **named) -> list:
        """Checked inputs in, the model's outputs (a list of NumPy arrays) out."""
        return self.run_checked(self.check(*args, **named))

    def run_checked(self, arrays) -> list:
        """Outputs for inputs already checked; a static-batch model is fed in zero-padded chunks."""
        if self.batch is None:
            return self._infer(arrays)
        n, parts = len(arrays[0]), []
        for i in range(0, n, self.batch):
            chunk = [a[i:i + self.batch] for a in arrays]
            size = len(chunk[0])
            padded = [np.concatenate([c, np.zeros((self.batch - size, *c.shape[1:]), c.dtype)]) for c in chunk]
            parts.append([out[:size] for out in self._infer(padded)])
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]

    def _infer(self, arrays) -> list:
        raise NotImplementedError


def load(path, device="CPU", **options) -> Runner:
    """Open a model file (.keras, .onnx, .xml) with the backend its suffix names.

    `device`: OpenVINO's device (CPU, GPU, AUTO ... as `core.available_devices` lists them);
    ONNX Runtime maps CPU to its CPU provider (or takes `providers=`); Keras runs where
    TensorFlow puts it. `options` go to the backend's runner (e.g. OpenVINO's `config`)."""
    path = Path(path)
    backend = backends.for_path(path)
    if not path.exists():
        raise GanLabError(f"{path} does not exist.")
    module, name = backend.runner.split(":")
    # Imported on demand: opening an .xml never loads TensorFlow, and `import gan_lab.runtime` stays light.
    runner_class = getattr(importlib.import_module(module), name)
    return runner_class(path, device=device, **options)


def cpu_share(threads) -> dict | None:
    """OpenVINO properties for one of several processes that share the CPU (Ray actors, service
    replicas): `threads` inference threads and no pinning. Pinned, every such process puts its threads on
    the first cores, so two one-thread processes share core 0 (measured: 3.7 s a shard each instead of 2.4)."""
    return {"INFERENCE_NUM_THREADS": int(threads), "ENABLE_CPU_PINNING": False} if threads else None
