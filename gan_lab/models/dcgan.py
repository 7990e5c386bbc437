"""The face DCGAN (Radford et al., 2015), sized for two CPU cores.

Generator: z -> Dense -> 4x4 map -> Conv2DTranspose (stride 2, BatchNorm, ReLU) up to the image
size -> tanh. Discriminator: strided Conv2D (BatchNorm after the first, LeakyReLU) down to 4x4 ->
one logit. The paper's widths (1024..128) cost ~1 GFLOP per 64x64 image; the default here
(base 24: 192..24 channels) costs 31 MFLOP per network and trains at ~200 images/s on two cores
(base 32: 55 MFLOP, 113 images/s; base 16 is no faster: the step is overhead-bound there).
"""

import math

import keras
from keras import layers

from gan_lab.errors import GanLabError

SIZES = (32, 64, 128)


def init():
    """The paper's N(0, 0.02) weights. Keras's Glorot default shrank the signal through four
    transposed convolutions so far that the generator ignored z and collapsed (measured: the
    spread across samples stayed below 0.05 for 500 steps; with this init, faces by step 500)."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def batch_norm():
    """BatchNorm with PyTorch's momentum and epsilon, as in the reference DCGAN."""
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)


def stages(image_size: int) -> int:
    """Number of stride-2 steps between a 4x4 map and the image."""
    if image_size not in SIZES:
        raise GanLabError(f"image_size {image_size} is not supported; choose one of {SIZES}.")
    return int(math.log2(image_size // 4))


def widths(base: int, image_size: int) -> list:
    """Channel widths from the 4x4 map outwards: base * 2**(stages-1), ..., base."""
    n = stages(image_size)
    return [base * 2 ** (n - 1 - i) for i in range(n)]


def generator(latent_dim=128, image_size=64, channels=3, base=24, kernel=4, name="generator"):
    """z (latent_dim,) -> image (image_size, image_size, channels) in [-1, 1]."""
    sizes = widths(base, image_size)
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(4 * 4 * sizes[0], use_bias=False, kernel_initializer=init())(z)
    x = batch_norm()(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((4, 4, sizes[0]))(x)
    for width in sizes[1:]:
        x = layers.Conv2DTranspose(width, kernel, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=init())(x)
        x = batch_norm()(x)
        x = layers.ReLU()(x)
    image = layers.Conv2DTranspose(channels, kernel, strides=2, padding="same", activation="tanh",
                                   kernel_initializer=init(), name="image")(x)
    return keras.Model(z, image, name=name)


def downsample(image, base, kernel=4):
    """Strided Conv2D stack from the image down to a 4x4 map, flattened; BatchNorm after every
    layer but the first (as in the paper). Shared by the discriminator and the VAE's encoder."""
    x = image
    for i, width in enumerate(widths(base, image.shape[1])[::-1]):
        x = layers.Conv2D(width, kernel, strides=2, padding="same", use_bias=i == 0, kernel_initializer=init())(x)
        if i:
            x = batch_norm()(x)
        x = layers.LeakyReLU(0.2)(x)
    return layers.Flatten()(x)


def discriminator(image_size=64, channels=3, base=24, kernel=4, name="discriminator"):
    """image -> one logit. No BatchNorm on the first layer (as in the paper)."""
    image = keras.Input((image_size, image_size, channels), name="image")
    logit = layers.Dense(1, kernel_initializer=init(), name="logit")(downsample(image, base, kernel))
    return keras.Model(image, logit, name=name)


def build(latent_dim=128, image_size=64, base=24, channels=3):
    """(generator, discriminator) for faces of `image_size` pixels."""
    return (generator(latent_dim, image_size, channels, base),
            discriminator(image_size, channels, base))
