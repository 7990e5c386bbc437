"""CycleGAN's networks (Zhu et al., 2017), sized for two cores.

    generator       image (s, s, 3) in [-1, 1] -> image: a reflection-padded 7x7 stem, two stride-2
                    3x3 convolutions down, `n_blocks` residual blocks, two doublings up, a reflection-
                    padded 7x7 convolution to RGB and tanh; instance normalisation and ReLU between.
    discriminator   image -> (s/4, s/4, 1) logits, one per overlapping patch (PatchGAN): 4x4 convolutions,
                    stride 2 then 1, instance normalisation and LeakyReLU 0.2.

The paper's generator (64 filters, 9 blocks at 256 px) does 57 G multiply-adds (113 GFLOP) per image, the
lab's default (`width` 16, 6 blocks, 64 px) 0.36 GFLOP, its discriminator (`width` 32, 2 strided layers)
0.09 GFLOP (`flops.flops_per_image`): a training pair costs 18 of each, 8 GFLOP. Upsampling is nearest +
3x3 convolution by default: a stride-2 transposed convolution overlaps unevenly and draws checkerboards
(`upsample="transpose"` gives the paper's). Instance normalisation is `GroupNormalization(groups=-1)`:
one group per channel. `skip` (default on) makes the generator learn the change to its input.
"""

import keras
from keras import layers, ops

from gan_lab.errors import GanLabError
from gan_lab.models import blocks

SIZES = (64, 128)


@keras.saving.register_keras_serializable(package="gan_lab")
class ReflectionPad2D(layers.Layer):
    """Pad the two spatial axes by mirroring the image at its border (no edge of zeros for the
    convolution to find: the paper's padding). Exports to ONNX as Pad(mode="reflect")."""

    def __init__(self, pad=1, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, shape):
        grow = lambda d: None if d is None else d + 2 * self.pad  # noqa: E731
        return (shape[0], grow(shape[1]), grow(shape[2]), shape[3])

    def get_config(self):
        return super().get_config() | {"pad": self.pad}


@keras.saving.register_keras_serializable(package="gan_lab")
class Atanh(layers.Layer):
    """atanh of an image in [-1, 1] (clipped just inside it): what tanh must be given to return the image.
    The skip generator adds it to its last convolution, so an untrained generator returns its input."""

    def call(self, x):
        return ops.arctanh(ops.clip(x, -0.999, 0.999))


@keras.saving.register_keras_serializable(package="gan_lab")
class InstanceNorm(layers.GroupNormalization):
    """`GroupNormalization(groups=-1)` (one group per channel: instance normalisation), its moments taken
    over the two spatial axes of the image itself. Keras' layer reshapes to 5-D first, and OpenVINO ran
    those 5-D means as separate reductions (78% of a translation's time, slower than ONNX Runtime); on
    the 4-D image they fuse into its MVN kernel. Same weights, same numbers."""

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**(kwargs | {"groups": -1, "epsilon": epsilon}))

    def call(self, x):
        mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
        y = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            y = y * self.gamma
        return y + self.beta if self.center else y


def instance_norm(name=None):
    return InstanceNorm(epsilon=1e-5, name=name)


def _conv_norm(x, width, kernel, strides=1, activation="relu", reflect=0, name=None):
    """[reflection pad] -> convolution -> instance norm -> activation (None: none)."""
    if reflect:
        x = ReflectionPad2D(reflect)(x)
    x = layers.Conv2D(width, kernel, strides=strides, padding="valid" if reflect else "same", use_bias=False,
                      kernel_initializer=keras.initializers.RandomNormal(0, 0.02), name=name)(x)
    x = instance_norm()(x)
    if activation == "lrelu":
        return layers.LeakyReLU(0.2)(x)
    return layers.Activation(activation)(x) if activation else x


def _residual(x, width, name):
    """x + [pad, conv, norm, ReLU, pad, conv, norm](x): the block keeps what it does not change."""
    y = _conv_norm(x, width, 3, reflect=1, name=f"{name}_a")
    y = _conv_norm(y, width, 3, activation=None, reflect=1, name=f"{name}_b")
    return layers.Add(name=name)([x, y])


def check_size(image_size):
    if image_size not in SIZES or image_size % 4:
        raise GanLabError(f"image_size must be one of {', '.join(map(str, SIZES))} for the CycleGAN; got {image_size}.")


def generator(image_size=64, width=16, n_blocks=6, upsample="nearest", skip=True, name="generator") -> keras.Model:
    """The ResNet generator: image -> image of the same size, tanh output. `skip`: the last convolution
    adds to atanh(input) before the tanh, so the network learns the change (a residual image, as Shen &
    Liu, 2017, for face attributes) instead of redrawing the whole face through its 16 x 16 bottleneck."""
    check_size(image_size)
    if int(n_blocks) < 1 or int(width) < 1:
        raise GanLabError(f"The generator needs at least one residual block and one filter; got {n_blocks}, {width}.")
    image = keras.Input((image_size, image_size, 3), name="image")
    x = _conv_norm(image, width, 7, reflect=3, name="stem")
    x = _conv_norm(x, width * 2, 3, strides=2, name="down1")
    x = _conv_norm(x, width * 4, 3, strides=2, name="down2")
    for i in range(int(n_blocks)):
        x = _residual(x, width * 4, f"res{i + 1}")
    for i, w in enumerate((width * 2, width), start=1):
        x = blocks.up(x, w, upsample, kernel=3, name=f"up{i}", initializer=keras.initializers.RandomNormal(0, 0.02))
        x = layers.ReLU()(instance_norm()(x))
    x = ReflectionPad2D(3)(x)
    last = "zeros" if skip else keras.initializers.RandomNormal(0, 0.02)  # skip: start as the identity
    x = layers.Conv2D(3, 7, kernel_initializer=last, name="to_rgb")(x)
    if skip:
        x = layers.Add(name="plus_input")([x, Atanh()(image)])
    return keras.Model(image, layers.Activation("tanh", name="tanh")(x), name=name)


def discriminator(image_size=64, width=32, n_layers=2, name="discriminator") -> keras.Model:
    """The PatchGAN: `n_layers` stride-2 4x4 convolutions (the first without normalisation), one at
    stride 1, then one logit per patch. With 2 strided layers a logit sees 34 x 34 pixels, half a
    64-px face (the paper's 3 at 256 px see 70 x 70, a quarter)."""
    check_size(image_size)
    image = keras.Input((image_size, image_size, 3), name="image")
    init = keras.initializers.RandomNormal(0, 0.02)
    x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 4, strides=2, padding="same", kernel_initializer=init,
                                            name="conv1")(image))
    for i in range(1, int(n_layers)):
        x = _conv_norm(x, width * 2 ** i, 4, strides=2, activation="lrelu", name=f"conv{i + 1}")
    x = _conv_norm(x, width * 2 ** int(n_layers), 4, activation="lrelu", name=f"conv{int(n_layers) + 1}")
    out = layers.Conv2D(1, 4, padding="same", kernel_initializer=init, name="patch_logits")(x)
    return keras.Model(image, out, name=name)
