"""The one registry of backends: name, file suffix, label. Bench, widgets, grid and CLI read it.

Light on purpose (no backend is imported here): each entry names the module holding its runner,
which `runtime.load` imports only when a file of that kind is opened.
"""

from dataclasses import dataclass
from pathlib import Path

from gan_lab.errors import GanLabError


@dataclass(frozen=True)
class Backend:
    name: str  # what code and the CLI call it
    suffix: str  # the model file it opens
    label: str  # what a person reads (widgets, tables)
    runner: str  # "module:Class" of its runner
    aliases: tuple = ()
    bench: tuple = ()  # the ways of calling it that `gan_lab.bench` compares


BACKENDS = (
    Backend("openvino", ".xml", "OpenVINO", "gan_lab.runtime.openvino_runner:OpenVINORunner", ("ir", "ov"),
            ("openvino-sync", "openvino-async", "openvino-gan_lab", "openvino-int8")),
    Backend("onnxruntime", ".onnx", "ONNX Runtime", "gan_lab.runtime.onnx_runner:OnnxRunner", ("onnx", "ort"),
            ("onnxruntime",)),
    Backend("keras", ".keras", "Keras", "gan_lab.runtime.keras_runner:KerasRunner", ("tensorflow",),
            ("keras-predict", "keras-eager", "tf-function", "tf-function-xla")),
)
NAMES = tuple(b.name for b in BACKENDS)
SUFFIXES = tuple(b.suffix for b in BACKENDS)
# Benchmark methods in table order: the slowest way first, gan_lab's own path last.
BENCH_METHODS = tuple(m for b in reversed(BACKENDS) for m in b.bench)


def named(name) -> Backend:
    """The backend called `name` (its name, label or an alias, any case)."""
    key = str(name).lower()
    for backend in BACKENDS:
        if key in (backend.name, backend.label.lower(), *backend.aliases):
            return backend
    raise GanLabError(f"Unknown backend {name!r}; choose one of {', '.join(NAMES)}.")


def for_path(path) -> Backend:
    """The backend that opens `path`, by its suffix."""
    suffix = Path(path).suffix.lower()
    for backend in BACKENDS:
        if suffix == backend.suffix:
            return backend
    *rest, last = reversed(SUFFIXES)
    raise GanLabError(f"Cannot tell the backend of {path}: use a {', '.join(rest)} or {last} file.")
