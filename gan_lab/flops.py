"""Arithmetic counted from a model, and the machine's own peak to hold it against.

    flops_per_image(model)        2 x multiply-adds of its Dense and convolution layers, per image
    gan_training_flops(g, d)      per training image of a GAN step (both networks, both passes)
    sgemm_peak()                  this machine's FP32 matrix-multiply rate (GFLOP/s), the roofline
    sgemm_rates()                 that rate through NumPy's BLAS and through TensorFlow
    describe_machine()            the processor, its cores and that peak, in one line
"""

import os
import platform
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from keras import layers


def sgemm_peak(n=2048, seconds=3.0) -> float:
    """This machine's FP32 matrix-multiply rate in GFLOP/s (all cores, best of runs): the faster of
    NumPy's BLAS and TensorFlow's matmul. The roofline for the models, which run on TensorFlow's and
    OpenVINO's kernels: on an AVX-512 AMD EPYC TensorFlow's reached 464 GFLOP/s where NumPy's reached 247."""
    return max(sgemm_rates(n, seconds).values())


def sgemm_rates(n=2048, seconds=3.0) -> dict:
    """{"numpy": GFLOP/s, "tensorflow": GFLOP/s}: an n x n FP32 product, each timed for seconds / 2."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    return {"numpy": _best_rate(lambda: a @ b, n, seconds / 2),
            "tensorflow": _best_rate(lambda: tf.linalg.matmul(ta, tb).numpy(), n, seconds / 2)}


def _best_rate(product, n, seconds) -> float:
    product()  # warm-up
    best, start = 0.0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        product()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def describe_machine(seconds=1.5) -> str:
    """One line naming this machine for figures measured on it: processor, cores, SGEMM peak."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    processor = names[0] if names else (platform.processor() or platform.machine())
    return f"{processor}, {os.cpu_count()} cores, SGEMM peak {sgemm_peak(seconds=seconds):.0f} GFLOP/s"


def flops_per_image(model) -> float:
    """Multiply-adds x 2 of the Dense and convolution layers of a Keras model, per image (layers
    inside wrappers such as SpectralNorm included; a custom layer counts itself through
    a `flops_per_image()` method, as the style-based model's do)."""
    total = 0
    for outer in _leaf_layers(model):
        layer = getattr(outer, "layer", outer)  # a wrapper's own shapes, its inner layer's kernel
        if hasattr(layer, "flops_per_image"):
            total += layer.flops_per_image()
        elif isinstance(layer, layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            kh, kw, a, b = layer.kernel.shape  # Conv2D: (kh, kw, in, out); transpose: (kh, kw, out, in)
            spatial = outer.output.shape if isinstance(layer, layers.Conv2D) else outer.input.shape
            total += 2 * spatial[1] * spatial[2] * kh * kw * a * b
    return float(total)


def gan_training_flops(generator, discriminator) -> float:
    """FLOPs per training image of one D step and one G step, a backward pass counted as two
    forwards: D step = G forward + D forward and backward on real and fake (G + 6 D); G step = G and
    D forward and backward (3 G + 3 D). R1 and augmentation come on top (a few per cent)."""
    g, d = flops_per_image(generator), flops_per_image(discriminator)
    return 4 * g + 9 * d


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer
