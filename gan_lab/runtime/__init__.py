"""One runtime over Keras, ONNX Runtime and OpenVINO.

    runner = runtime.load("models/mnist/generator.xml")      # any .keras, .onnx or .xml
    gen = runtime.load_generator("models/mnist/generator.xml")
    pictures = gen.generate(gen.sample_latents(16))             # uint8 (16, 28, 28, 1)

The backend follows the file's suffix (`gan_lab.backends` is the one registry of them); inputs
are checked before inference. Importing this package loads no backend: each loads with the
first file of its kind.
"""

from gan_lab.runtime.adapters import Generator, Translator, Upscaler, load_generator, load_translator, load_upscaler
from gan_lab.backends import BACKENDS, Backend
from gan_lab.runtime.runner import Runner, Tensor, cpu_share, load

__all__ = ["BACKENDS", "Backend", "Generator", "Runner", "Tensor", "Translator", "Upscaler", "cpu_share", "load",
           "load_generator", "load_translator", "load_upscaler"]
