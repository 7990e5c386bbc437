"""The face VAE (Kingma & Welling, 2013): a convolutional encoder to a Gaussian over latents and
a decoder back to the image.

The decoder is the DCGAN generator's architecture (z -> 4x4 map -> Conv2DTranspose -> tanh), so
it is a generator in gan_lab's sense: it converts, benchmarks and explores like any other.
"""

import keras
from keras import layers

from gan_lab.models import dcgan


def encoder(latent_dim=128, image_size=64, channels=3, base=24, kernel=4, name="encoder"):
    """image -> (z_mean, z_log_var): the DCGAN discriminator's conv stack, then two Dense heads."""
    image = keras.Input((image_size, image_size, channels), name="image")
    x = dcgan.downsample(image, base, kernel)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(image, [z_mean, z_log_var], name=name)


def decoder(latent_dim=128, image_size=64, channels=3, base=24, kernel=4, name="decoder"):
    """z -> image in [-1, 1]: the DCGAN generator's architecture."""
    return dcgan.generator(latent_dim, image_size, channels, base, kernel, name=name)


def build(latent_dim=128, image_size=64, base=24, channels=3):
    """(encoder, decoder) for faces of `image_size` pixels."""
    return (encoder(latent_dim, image_size, channels, base),
            decoder(latent_dim, image_size, channels, base))
