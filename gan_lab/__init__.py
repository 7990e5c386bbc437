"""gan_lab: generative image models on ordinary CPUs, from Keras to OpenVINO.

Importing the package is light: TensorFlow, ONNX Runtime and OpenVINO load only in the modules
that use them (tests/test_layers.py checks it).
"""

import os

from gan_lab import quiet
from gan_lab.errors import GanLabError

# Pin Keras to the TensorFlow backend and quiet TensorFlow's C++ logging before anything
# imports them; users can still override both.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
quiet.install()

__version__ = "0.1.0"
__all__ = ["GanLabError", "__version__"]
