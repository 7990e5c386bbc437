"""The MNIST GAN builders: the classic dense GAN and a small convolutional DCGAN.

Generators map a latent vector to an image in [-1, 1] (tanh); discriminators map an
image to one logit (no sigmoid: the losses work on logits, which is stabler).
"""

import keras
from keras import layers

from gan_lab.errors import GanLabError

IMAGE_SHAPE = (28, 28, 1)


def mlp_generator(latent_dim=100, widths=(256, 512, 1024), image_shape=IMAGE_SHAPE, name="generator"):
    """The classic Keras MNIST generator: noise -> 256 -> 512 -> 1024 -> 784 tanh."""
    z = keras.Input((latent_dim,), name="z")
    x = z
    for width in widths:
        x = layers.Dense(width)(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Dense(int(image_shape[0] * image_shape[1] * image_shape[2]), activation="tanh")(x)
    image = layers.Reshape(image_shape, name="image")(x)
    return keras.Model(z, image, name=name)


def mlp_discriminator(image_shape=IMAGE_SHAPE, widths=(1024, 512, 256), dropout=0.3, name="discriminator"):
    """The classic discriminator: 784 -> 1024 -> 512 -> 256 (LeakyReLU, dropout) -> 1 logit."""
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten()(image)
    for width in widths:
        x = layers.Dense(width)(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model(image, layers.Dense(1, name="logit")(x), name=name)


def conv_generator(latent_dim=100, filters=(64, 32), kernel=4, image_shape=IMAGE_SHAPE, name="generator"):
    """DCGAN generator: Dense -> 7x7 map -> Conv2DTranspose x2 (stride 2, BatchNorm) -> tanh."""
    side = image_shape[0] // 4
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(side * side * filters[0], use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((side, side, filters[0]))(x)
    x = layers.Conv2DTranspose(filters[1], kernel, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    image = layers.Conv2DTranspose(image_shape[2], kernel, strides=2, padding="same", activation="tanh", name="image")(x)
    return keras.Model(z, image, name=name)


def conv_discriminator(image_shape=IMAGE_SHAPE, filters=(32, 64), kernel=4, dropout=0.3, name="discriminator"):
    """DCGAN discriminator: strided Conv2D x2 (LeakyReLU, dropout) -> 1 logit."""
    image = keras.Input(image_shape, name="image")
    x = image
    for width in filters:
        x = layers.Conv2D(width, kernel, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    return keras.Model(image, layers.Dense(1, name="logit")(x), name=name)


ARCHITECTURES = {
    "mlp": (mlp_generator, mlp_discriminator),
    "dcgan": (conv_generator, conv_discriminator),
}


def build(arch="dcgan", latent_dim=100, g_widths=None, d_widths=None):
    """(generator, discriminator) for one of ARCHITECTURES; widths default to the builder's."""
    if arch not in ARCHITECTURES:
        raise GanLabError(f"Unknown MNIST architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.")
    make_g, make_d = ARCHITECTURES[arch]
    g_kw = {} if g_widths is None else {"widths" if arch == "mlp" else "filters": tuple(g_widths)}
    d_kw = {} if d_widths is None else {"widths" if arch == "mlp" else "filters": tuple(d_widths)}
    return make_g(latent_dim=latent_dim, **g_kw), make_d(**d_kw)
