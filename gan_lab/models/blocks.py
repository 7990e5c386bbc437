"""Building blocks the GAN builders share: doubling a map's side, and spectral normalisation."""

from keras import layers

from gan_lab.errors import GanLabError

UPSAMPLING = ("transpose", "nearest", "bilinear")


def up(x, width, upsample, kernel=4, activation=None, name=None, initializer="glorot_uniform"):
    """Double the map's side: a stride-2 transposed convolution, or upsampling then a 3x3 convolution
    (no checkerboard: a stride-2 transposed kernel overlaps unevenly). A layer followed by
    BatchNorm (no activation here) has no bias."""
    if upsample not in UPSAMPLING:
        raise GanLabError(f"Unknown upsampling {upsample!r}; choose one of {', '.join(UPSAMPLING)}.")
    bias = activation is not None
    if upsample == "transpose":
        return layers.Conv2DTranspose(width, kernel, strides=2, padding="same", use_bias=bias, activation=activation,
                                      kernel_initializer=initializer, name=name)(x)
    x = layers.UpSampling2D(2, interpolation=upsample)(x)
    return layers.Conv2D(width, 3, padding="same", use_bias=bias, activation=activation,
                         kernel_initializer=initializer, name=name)(x)


def normed(layer, norm):
    """`layer`, wrapped in spectral normalisation (Miyato et al., 2018) when norm == "spectral"."""
    return layers.SpectralNormalization(layer) if norm == "spectral" else layer
