"""gan_lab: generative image models on ordinary CPUs, from Keras to OpenVINO."""

import os

# Pin Keras to the TensorFlow backend and quiet TensorFlow's C++ logging before anything
# imports them; users can still override both.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _import_tensorflow_quietly():
    """Import TensorFlow with the C-level stderr muted: on a machine without a GPU it prints
    CUDA probing lines that are not errors and would clutter every notebook and log."""
    import sys

    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401

            tensorflow.config.list_physical_devices()  # the CUDA probe happens here, muted too
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_import_tensorflow_quietly()

from gan_lab.errors import GanLabError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["GanLabError", "__version__"]
