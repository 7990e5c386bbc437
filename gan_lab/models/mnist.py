"""The MNIST GAN builders: the classic dense GAN and a small convolutional DCGAN.

Generators map a latent vector to an image in [-1, 1] (tanh); discriminators map an
image to one logit (no sigmoid: the losses work on logits, which is stabler).
"""

import keras
from keras import layers

from gan_lab.errors import GanLabError
from gan_lab.models import blocks
from gan_lab.models.stylegan import MinibatchStd

IMAGE_SHAPE = (28, 28, 1)
D_NORMS = ("none", "spectral")


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


def mlp_discriminator(image_shape=IMAGE_SHAPE, widths=(1024, 512, 256), dropout=0.3, name="discriminator",
                      norm="none", mbstd=False):
    """The classic discriminator: 784 -> 1024 -> 512 -> 256 (LeakyReLU, dropout) -> 1 logit;
    norm="spectral" wraps every Dense in spectral normalisation; mbstd adds minibatch_std's feature."""
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten()(image)
    for width in widths:
        x = normed(layers.Dense(width), norm)(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    if mbstd:
        x = layers.Flatten()(minibatch_std(layers.Reshape((1, 1, widths[-1]))(x)))
    return keras.Model(image, normed(layers.Dense(1, name="logit"), norm)(x), name=name)


def minibatch_std(x):
    """x and one more channel: how much x varies across groups of 4 samples (StyleGAN's minibatch
    standard deviation), so the discriminator sees a batch that lacks variety, e.g. too many ones."""
    return MinibatchStd(name="mbstd")(x)


def conv_generator(latent_dim=100, filters=(64, 32), kernel=4, image_shape=IMAGE_SHAPE, name="generator",
                   upsample="transpose"):
    """DCGAN generator: Dense -> 7x7 map -> Conv2DTranspose x2 (stride 2, BatchNorm) -> tanh;
    upsample="nearest"|"bilinear": upsampling then a 3x3 convolution instead (no checkerboard)."""
    side = image_shape[0] // 4
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(side * side * filters[0], use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((side, side, filters[0]))(x)
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(blocks.up(x, filters[1], upsample, kernel)))
    return keras.Model(z, blocks.up(x, image_shape[2], upsample, kernel, "tanh", "image"), name=name)


def normed(layer, norm):
    """`layer`, spectrally normalised when norm == "spectral"; other norms are refused by name."""
    if norm not in D_NORMS:
        raise GanLabError(f"Unknown discriminator normalisation {norm!r}; choose one of {', '.join(D_NORMS)}.")
    return blocks.normed(layer, norm)


def conv_discriminator(image_shape=IMAGE_SHAPE, filters=(32, 64), kernel=4, dropout=0.3, name="discriminator",
                       norm="none", mbstd=False):
    """DCGAN discriminator: strided Conv2D x2 (LeakyReLU, dropout) -> 1 logit; mbstd adds
    minibatch_std's channel to the last map."""
    image = keras.Input(image_shape, name="image")
    x = image
    for width in filters:
        x = normed(layers.Conv2D(width, kernel, strides=2, padding="same"), norm)(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(minibatch_std(x) if mbstd else x)
    return keras.Model(image, normed(layers.Dense(1, name="logit"), norm)(x), name=name)


def conditional_generator(latent_dim=100, filters=(128, 64), kernel=4, classes=10, embed=32,
                          image_shape=IMAGE_SHAPE, name="generator", upsample="nearest"):
    """(z, label) -> digit: the class enters as a learned embedding concatenated to z (keras-io's
    conditional GAN feeds one-hots; an embedding is the same thing, learned), then the DCGAN stack."""
    side = image_shape[0] // 4
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((1,), dtype="int32", name="label")
    x = layers.Concatenate()([z, layers.Flatten()(layers.Embedding(classes, embed)(label))])
    x = layers.Dense(side * side * filters[0], use_bias=False)(x)
    x = layers.Reshape((side, side, filters[0]))(layers.LeakyReLU(0.2)(layers.BatchNormalization()(x)))
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(blocks.up(x, filters[1], upsample, kernel)))
    return keras.Model([z, label], blocks.up(x, image_shape[2], upsample, kernel, "tanh", "image"), name=name)


def projection_discriminator(filters=(64, 128), kernel=4, classes=10, image_shape=IMAGE_SHAPE, name="discriminator",
                             norm="spectral", dropout=0.3, features=128):
    """(image, label) -> logit with a projection (Miyato & Koyama, 2018): the logit is
    psi(phi(x)) + <embed(y), phi(x)>, so the class is judged through the image's features rather
    than fed in as an input channel. phi is a dense layer over the flattened convolution maps:
    with two convolutions, pooling them (as the paper's deep ResNets do) left the discriminator
    blind to the strokes' layout, and the generator drew one blob per class."""
    image = keras.Input(image_shape, name="image")
    label = keras.Input((1,), dtype="int32", name="label")
    x = image
    for width in filters:
        x = layers.LeakyReLU(0.2)(normed(layers.Conv2D(width, kernel, strides=2, padding="same"), norm)(x))
        if dropout:
            x = layers.Dropout(dropout)(x)
    phi = layers.LeakyReLU(0.2)(normed(layers.Dense(features), norm)(layers.Flatten()(x)))
    unconditional = normed(layers.Dense(1), norm)(phi)
    embedded = layers.Flatten()(layers.Embedding(classes, features)(label))
    projection = layers.Dot(axes=1)([embedded, phi])
    return keras.Model([image, label], layers.Add(name="logit")([unconditional, projection]), name=name)


ARCHITECTURES = {
    "mlp": (mlp_generator, mlp_discriminator),
    "dcgan": (conv_generator, conv_discriminator),
    "cgan": (conditional_generator, projection_discriminator),  # class-conditional
}
CONDITIONAL = ("cgan",)


def build(arch="dcgan", latent_dim=100, g_widths=None, d_widths=None, upsample="transpose", norm="none",
          mbstd=False, classes=None):
    """(generator, discriminator) for one of ARCHITECTURES; widths default to the builder's.
    `upsample` applies to the convolutional generator; `norm` ("spectral" or "none"; "batch" is
    taken as none: these discriminators have no BatchNorm) and `mbstd` (minibatch standard
    deviation; unconditional ones only) to the discriminator; `classes`: how many classes a
    conditional pair tells apart (default 10, the digits)."""
    if arch not in ARCHITECTURES:
        raise GanLabError(f"Unknown MNIST architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.")
    make_g, make_d = ARCHITECTURES[arch]
    g_kw = {} if g_widths is None else {"widths" if arch == "mlp" else "filters": tuple(g_widths)}
    g_kw |= {"latent_dim": latent_dim}
    d_kw = {} if d_widths is None else {"widths" if arch == "mlp" else "filters": tuple(d_widths)}
    if arch in ("dcgan", "cgan"):
        g_kw["upsample"] = upsample
    if mbstd:
        if arch in CONDITIONAL:
            raise GanLabError("Minibatch standard deviation is an option of the unconditional discriminators "
                              "(mlp, dcgan); the conditional one sees the class instead.")
        d_kw["mbstd"] = True
    if classes and arch in CONDITIONAL:
        g_kw["classes"] = d_kw["classes"] = int(classes)
    norm = "none" if norm == "batch" else norm
    return make_g(**g_kw), make_d(norm=norm, **d_kw)
