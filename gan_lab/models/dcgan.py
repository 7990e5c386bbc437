"""The face DCGAN (Radford et al., 2015), sized for two CPU cores.

Generator: z -> Dense -> 4x4 map -> Conv2DTranspose (stride 2, BatchNorm, ReLU) up to the image
size -> tanh. Discriminator: strided Conv2D (BatchNorm after the first, LeakyReLU) down to 4x4 ->
one logit. Options from the training toolkit: `upsample="nearest"|"bilinear"` grows the image by
upsampling then a 3x3 convolution (no checkerboard: a stride-2 transposed 4x4 kernel overlaps
unevenly); `norm="spectral"` normalises the discriminator's weights instead of BatchNorm;
`classes` makes a conditional pair (the label's embedding beside z; a projection discriminator), which
self-conditioning trains on clusters of the faces.

The paper's widths (1024..128) cost ~1 GFLOP per 64x64 image; the default here (base 24: 192..24 channels) costs 31 MFLOP per network and trains at ~200 images/s on two cores
(base 32: 55 MFLOP, 113 images/s; base 16 is no faster: the step is overhead-bound there).
"""

import math

import keras
from keras import layers

from gan_lab.errors import GanLabError
from gan_lab.models.blocks import normed, up
from gan_lab.models.stylegan import MinibatchStd

SIZES = (32, 64, 128)
D_NORMS = ("batch", "spectral", "none")


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


def generator(latent_dim=128, image_size=64, channels=3, base=24, kernel=4, name="generator", upsample="transpose",
              classes=None, embed=32):
    """z (latent_dim,) -> image (image_size, image_size, channels) in [-1, 1]; with `classes`, a
    conditional generator (z, label) -> image: the label's learned `embed`-long embedding joins z."""
    sizes = widths(base, image_size)
    z = keras.Input((latent_dim,), name="z")
    inputs, x = z, z
    if classes:
        label = keras.Input((1,), dtype="int32", name="label")
        inputs, x = [z, label], layers.Concatenate()([z, layers.Flatten()(layers.Embedding(classes, embed)(label))])
    x = layers.Dense(4 * 4 * sizes[0], use_bias=False, kernel_initializer=init())(x)
    x = batch_norm()(x)
    x = layers.ReLU()(x)
    x = layers.Reshape((4, 4, sizes[0]))(x)
    for width in sizes[1:]:
        x = layers.ReLU()(batch_norm()(up(x, width, upsample, kernel, initializer=init())))
    return keras.Model(inputs, up(x, channels, upsample, kernel, "tanh", "image", init()), name=name)


def downsample(image, base, kernel=4, norm="batch", mbstd=False):
    """Strided Conv2D stack from the image down to a 4x4 map, flattened; BatchNorm after every
    layer but the first (as in the paper), or spectral norm on every layer, or neither.
    Shared by the discriminator and the VAE's encoder; `mbstd` appends the minibatch std map (a discriminator's)."""
    if norm not in D_NORMS:
        raise GanLabError(f"Unknown discriminator normalisation {norm!r}; choose one of {', '.join(D_NORMS)}.")
    x = image
    for i, width in enumerate(widths(base, image.shape[1])[::-1]):
        conv = layers.Conv2D(width, kernel, strides=2, padding="same", use_bias=i == 0 or norm != "batch",
                             kernel_initializer=init())
        x = normed(conv, norm)(x)
        if i and norm == "batch":
            x = batch_norm()(x)
        x = layers.LeakyReLU(0.2)(x)
    return layers.Flatten()(MinibatchStd(name="mbstd")(x) if mbstd else x)


def discriminator(image_size=64, channels=3, base=24, kernel=4, name="discriminator", norm="batch", classes=None,
                  mbstd=False):
    """image -> one logit. No BatchNorm on the first layer (as in the paper). With `classes`,
    (image, label) -> logit through a projection (Miyato & Koyama, 2018): the logit adds
    <embed(label), phi(image)> to the unconditional one, phi being the flattened 4x4 features."""
    image = keras.Input((image_size, image_size, channels), name="image")
    phi = downsample(image, base, kernel, norm, mbstd)
    logit = normed(layers.Dense(1, kernel_initializer=init(), name="logit" if not classes else None), norm)(phi)
    if not classes:
        return keras.Model(image, logit, name=name)
    label = keras.Input((1,), dtype="int32", name="label")
    embedded = layers.Flatten()(layers.Embedding(classes, phi.shape[-1], embeddings_initializer=init())(label))
    logit = layers.Add(name="logit")([logit, layers.Dot(axes=1)([embedded, phi])])
    return keras.Model([image, label], logit, name=name)


def build(latent_dim=128, image_size=64, base=24, channels=3, upsample="transpose", norm="batch", d_base=None,
          classes=None, mbstd=False):
    """(generator, discriminator) for faces of `image_size` pixels; `d_base`: the discriminator's
    width (default the generator's); `classes`: a conditional pair (generator (z, label), projection
    discriminator), e.g. for self-conditioning on clusters of the faces; `mbstd`: minibatch std in the
    discriminator."""
    return (generator(latent_dim, image_size, channels, base, upsample=upsample, classes=classes),
            discriminator(image_size, channels, d_base or base, norm=norm, classes=classes, mbstd=mbstd))
