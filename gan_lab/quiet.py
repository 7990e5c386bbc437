"""TensorFlow, imported quietly whenever something first imports it.

On a machine without a GPU, TensorFlow's first import and its first device query print CUDA
probing lines to the C-level stderr; they are not errors, yet they would clutter every
notebook, log and CLI call. `install()` puts a finder on `sys.meta_path` that runs TensorFlow's
own import (and the device probe) with file descriptor 2 pointed at /dev/null. `import gan_lab`
therefore stays light: TensorFlow loads only in the modules that need it, and loads quietly.
"""

import importlib.abc
import os
import sys
from contextlib import contextmanager


@contextmanager
def muted_stderr():
    """Point file descriptor 2 at /dev/null for the duration (C++ logging writes there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with muted_stderr():
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # the CUDA probe happens here, muted too


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # find the real spec (and never wrap twice)
        try:
            import importlib.util

            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install():
    """Mute TensorFlow's import-time noise from now on (no effect once it is imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())
