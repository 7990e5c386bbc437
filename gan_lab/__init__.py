"""gan_lab: generative image models on ordinary CPUs, from Keras to OpenVINO."""

import os

# Quiet TensorFlow's C++ start-up chatter and pin Keras to the TensorFlow backend
# before anything imports them; users can still override both.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from gan_lab.errors import GanLabError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["GanLabError", "__version__"]
