"""The style-based face generator (StyleGAN2, Karras et al. 2020), sized for two CPU cores.

    mapping        z -> w: pixel norm, `depth` equalised dense layers at a learning-rate multiplier of 0.01
    synthesis      ws (n, num_ws, w_dim) -> image: a learned 4x4 constant; per resolution an upsampling
                   modulated 3x3 convolution and a second one, each with per-pixel noise of learned strength,
                   and a modulated 1x1 toRGB added to the blurred, upsampled image so far (skip outputs)
    generator      z -> image at truncation psi = 1 with the fixed noise: mapping, truncation toward the mean
                   w (tracked in training), the same w for every layer, synthesis
    discriminator  residual: fromRGB, per resolution two 3x3 convolutions (average-pooled between them) and a
                   1x1 skip; minibatch standard deviation at 4x4, a 3x3 convolution, two dense layers -> logit

The modulated convolution is StyleGAN2's non-fused form (NVlabs networks.py): scale the input channels by
the style, run one shared convolution, scale the output by the demodulation factor rsqrt(s^2 @ sum(W^2) + 1e-8).
It is plain Mul/Conv/MatMul, runs batched on a CPU (the fused form needs grouped convolutions, which
TensorFlow does not run there) and exports to ONNX. Weights are stored N(0, 1) and scaled by their He
constant at run time (equalised learning rate). Noise is random when called with training=True (the
stochastic variation) and a fixed buffer otherwise (deterministic, exportable).

Widths: `base` channels at the image's side, doubling per halving up to `cap`. The defaults (base 16,
cap 128 at 64x64: 128/128/64/32/16 channels) cost 213 MFLOP per generated image and 118 per
discriminated one (`flops.flops_per_image`; the DCGAN: 31 each), 1.9 GFLOP per training image, which
trains at ~44 images/s on two cores without XLA (XLA runs the blur's depthwise convolution 7x slower).
"""

import math

import keras
import numpy as np
from keras import layers, ops

from gan_lab import distribute
from gan_lab.errors import GanLabError
from gan_lab.latent import check_psi, layer_resolution, style_groups  # noqa: F401  (the W layout, NumPy only)

SQRT2 = math.sqrt(2.0)
register = keras.saving.register_keras_serializable(package="gan_lab")


def _lrelu(x):
    """Leaky ReLU with StyleGAN's gain sqrt(2), which keeps the signal's variance."""
    return ops.leaky_relu(x, 0.2) * SQRT2


def widths(image_size=64, base=16, cap=128) -> dict:
    """{resolution: channels} from 4 up to `image_size`: `base` at the image's side, doubling per halving,
    at most `cap`."""
    if image_size not in (32, 64, 128):
        raise GanLabError(f"image_size {image_size} is not supported; choose 32, 64 or 128.")
    return {4 * 2 ** i: min(cap, base * image_size // (4 * 2 ** i)) for i in range(int(math.log2(image_size // 4)) + 1)}


def num_ws(image_size) -> int:
    """Style inputs of the synthesis network: one per convolution (1 at 4x4, 2 per larger resolution)
    plus the last toRGB's (each toRGB shares the next convolution's w, as in StyleGAN2)."""
    return 2 * int(math.log2(image_size // 4)) + 2


@register
class PixelNorm(layers.Layer):
    """x / sqrt(mean(x^2) + 1e-8) over the features: z on the sphere before the mapping."""

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + 1e-8)


@register
class EqualDense(layers.Layer):
    """Dense with an equalised learning rate: weights N(0, 1/lr_mul), scaled by lr_mul/sqrt(fan_in) at run time."""

    def __init__(self, units, lr_mul=1.0, bias_init=0.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.lr_mul, self.bias_init, self.activation = units, lr_mul, bias_init, activation

    def build(self, input_shape):
        self.fan_in = int(input_shape[-1])
        self.kernel = self.add_weight((self.fan_in, self.units), keras.initializers.RandomNormal(0, 1 / self.lr_mul),
                                      name="kernel")
        self.bias = self.add_weight((self.units,), keras.initializers.Constant(self.bias_init / self.lr_mul),
                                    name="bias")

    def call(self, x):
        y = ops.matmul(x, self.kernel * (self.lr_mul / math.sqrt(self.fan_in))) + self.bias * self.lr_mul
        return _lrelu(y) if self.activation == "lrelu" else y

    def flops_per_image(self) -> float:
        return 2.0 * self.fan_in * self.units

    def get_config(self):
        return super().get_config() | {"units": self.units, "lr_mul": self.lr_mul, "bias_init": self.bias_init,
                                       "activation": self.activation}


@register
class EqualConv2D(layers.Layer):
    """A 'same' convolution with an equalised learning rate (the discriminator's)."""

    def __init__(self, filters, kernel_size=3, use_bias=True, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.use_bias, self.activation = filters, kernel_size, use_bias, activation

    def build(self, input_shape):
        self.side, cin = int(input_shape[1]), int(input_shape[-1])
        self.kernel = self.add_weight((self.kernel_size, self.kernel_size, cin, self.filters),
                                      keras.initializers.RandomNormal(0, 1), name="kernel")
        self.scale = 1 / math.sqrt(self.kernel_size ** 2 * cin)
        self.bias = self.add_weight((self.filters,), "zeros", name="bias") if self.use_bias else None

    def call(self, x):
        y = ops.conv(x, self.kernel * self.scale, padding="same")
        y = y + self.bias if self.bias is not None else y
        return _lrelu(y) if self.activation == "lrelu" else y

    def flops_per_image(self) -> float:
        return 2.0 * self.side ** 2 * float(np.prod(self.kernel.shape))

    def get_config(self):
        return super().get_config() | {"filters": self.filters, "kernel_size": self.kernel_size,
                                       "use_bias": self.use_bias, "activation": self.activation}


@register
class ModulatedConv2D(layers.Layer):
    """[x (n, h, w, cin), w (n, w_dim)] -> (n, h, w, filters): StyleGAN2's modulated convolution, non-fused.
    `noise`: add per-pixel noise of a learned strength (random in training, a fixed buffer otherwise)
    before the bias and the activation; `demodulate`: False for toRGB."""

    def __init__(self, filters, kernel_size=3, demodulate=True, noise=True, activation="lrelu", seed=0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.demodulate = filters, kernel_size, demodulate
        self.noise, self.activation, self.seed = noise, activation, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        self.side, self.cin = int(x_shape[1]), int(x_shape[-1])
        self.affine = EqualDense(self.cin, bias_init=1.0, name="affine")  # the style: 1 + a learned map of w
        self.affine.build(w_shape)
        self.kernel = self.add_weight((self.kernel_size, self.kernel_size, self.cin, self.filters),
                                      keras.initializers.RandomNormal(0, 1), name="kernel")
        self.bias = self.add_weight((self.filters,), "zeros", name="bias")
        if self.noise:
            self.noise_strength = self.add_weight((), "zeros", name="noise_strength")
            self.fixed_noise = self.add_weight((1, self.side, self.side, 1), keras.initializers.RandomNormal(
                0, 1, seed=self.seed), trainable=False, name="fixed_noise")

    def call(self, inputs, training=False):
        x, w = inputs
        style = self.affine(w)
        weight = self.kernel * (1 / math.sqrt(self.kernel_size ** 2 * self.cin))
        y = ops.conv(x * style[:, None, None, :], weight, padding="same")
        if self.demodulate:
            y = y * ops.rsqrt(ops.matmul(ops.square(style), ops.sum(ops.square(weight), axis=(0, 1))) + 1e-8)[:, None, None, :]
        if self.noise:
            # in training, random per image: under tf.distribute, this replica's rows of the global batch's draw
            draw = lambda m: keras.random.normal((m, self.side, self.side, 1), seed=self.seed_generator)  # noqa: E731
            noise = distribute.replica_rows(draw, ops.shape(x)[0]) if training else self.fixed_noise
            y = y + self.noise_strength * noise
        y = y + self.bias
        return _lrelu(y) if self.activation == "lrelu" else y

    def flops_per_image(self) -> float:
        return 2.0 * self.side ** 2 * float(np.prod(self.kernel.shape)) + self.affine.flops_per_image()

    def get_config(self):
        return super().get_config() | {"filters": self.filters, "kernel_size": self.kernel_size,
                                       "demodulate": self.demodulate, "noise": self.noise,
                                       "activation": self.activation, "seed": self.seed}


@register
class Blur(layers.Layer):
    """The fixed [1, 2, 1] x [1, 2, 1] / 16 low-pass filter, per channel (a depthwise convolution, zero
    padded): after nearest-neighbour upsampling it removes the blockiness a learned kernel would
    otherwise have to undo."""

    def call(self, x):
        taps = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
        kernel = np.tile(taps[:, :, None, None], (1, 1, int(x.shape[-1]), 1)).astype("float32")
        return ops.depthwise_conv(x, kernel, padding="same")


@register
class ConstantInput(layers.Layer):
    """The learned 4x4 constant that the synthesis network starts from, repeated for each sample of ws."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        self.const = self.add_weight((1, 4, 4, self.channels), keras.initializers.RandomNormal(0, 1), name="const")

    def call(self, ws):
        return ops.repeat(self.const, ops.shape(ws)[0], axis=0)

    def get_config(self):
        return super().get_config() | {"channels": self.channels}


@register
class PickW(layers.Layer):
    """ws (n, num_ws, w_dim) -> ws[:, index]: the w of one layer."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, ws):
        return ws[:, self.index]

    def get_config(self):
        return super().get_config() | {"index": self.index}


@register
class BroadcastW(layers.Layer):
    """w (n, w_dim) -> ws (n, num_ws, w_dim): the same w for every layer."""

    def __init__(self, num_ws, **kwargs):
        super().__init__(**kwargs)
        self.num_ws = num_ws

    def call(self, w):
        return ops.repeat(ops.expand_dims(w, 1), self.num_ws, axis=1)

    def get_config(self):
        return super().get_config() | {"num_ws": self.num_ws}


@register
class Truncation(layers.Layer):
    """w -> w_avg + psi (w - w_avg): psi < 1 trades diversity for typical, cleaner faces. `w_avg` is the
    mean w, tracked by the trainer (a non-trainable weight, saved with the model)."""

    def __init__(self, psi=1.0, **kwargs):
        super().__init__(**kwargs)
        check_psi(psi)
        self.psi = float(psi)

    def build(self, input_shape):
        self.w_avg = self.add_weight((int(input_shape[-1]),), "zeros", trainable=False, name="w_avg")

    def call(self, w):
        return self.w_avg + self.psi * (w - self.w_avg)

    def get_config(self):
        return super().get_config() | {"psi": self.psi}


@register
class MinibatchStd(layers.Layer):
    """Appends one feature map: the standard deviation of features across groups of `group` samples,
    averaged (StyleGAN2): it lets the discriminator see a lack of variety (mode collapse). Under a
    tf.distribute strategy the groups are those of the global batch (gathered from every replica), as on
    one device."""

    gathers_replicas = True  # a sync point: gan_lab.distribute.syncs

    def __init__(self, group=4, **kwargs):
        super().__init__(**kwargs)
        self.group = group

    def call(self, x):
        local, shared = x, distribute.sharing()
        x = distribute.all_rows(x)  # one device: x itself
        n, (h, w, c) = ops.shape(x)[0], local.shape[1:]
        g = self.group if local.shape[0] is None else math.gcd(self.group, int(local.shape[0]) * shared)
        y = ops.reshape(x, (g, -1, h, w, c))
        y = ops.sqrt(ops.var(y, axis=0) + 1e-8)  # (n/g, h, w, c)
        y = ops.mean(y, axis=(1, 2, 3), keepdims=True)  # (n/g, 1, 1, 1)
        y = ops.tile(y, (g, h, w, 1))
        y = distribute.own_rows(ops.reshape(y, (n, h, w, 1)), ops.shape(local)[0])
        return ops.concatenate([local, y], axis=-1)

    def get_config(self):
        return super().get_config() | {"group": self.group}


def mapping(latent_dim=128, w_dim=128, depth=2, name="mapping"):
    """z (latent_dim,) -> w (w_dim,). StyleGAN2-ADA uses 2 layers for small data sets (8 for FFHQ)."""
    z = keras.Input((latent_dim,), name="z")
    x = PixelNorm()(z)
    for i in range(depth):
        x = EqualDense(w_dim, lr_mul=0.01, activation="lrelu", name=f"fc{i}")(x)
    return keras.Model(z, x, name=name)


def synthesis(w_dim=128, image_size=64, base=16, cap=128, name="synthesis"):
    """ws (num_ws, w_dim) -> image (image_size, image_size, 3), linear (about [-1, 1])."""
    chans = widths(image_size, base, cap)
    ws = keras.Input((num_ws(image_size), w_dim), name="ws")
    pick = [PickW(i, name=f"w{i}")(ws) for i in range(num_ws(image_size))]
    x = ConstantInput(chans[4], name="const")(ws)
    x = ModulatedConv2D(chans[4], seed=4, name="conv4")([x, pick[0]])
    rgb = ModulatedConv2D(3, 1, demodulate=False, noise=False, activation=None, name="rgb4")([x, pick[1]])
    for i, res in enumerate(sorted(chans)[1:]):
        x = Blur(name=f"blur{res}")(layers.UpSampling2D(2, name=f"up{res}")(x))
        x = ModulatedConv2D(chans[res], seed=2 * res, name=f"conv{res}_up")([x, pick[2 * i + 1]])
        x = ModulatedConv2D(chans[res], seed=2 * res + 1, name=f"conv{res}")([x, pick[2 * i + 2]])
        rgb = Blur(name=f"rgb_blur{res}")(layers.UpSampling2D(2, name=f"rgb_up{res}")(rgb))
        skip = ModulatedConv2D(3, 1, demodulate=False, noise=False, activation=None, name=f"rgb{res}")(
            [x, pick[2 * i + 3]])
        rgb = layers.Add(name=f"rgb_sum{res}")([rgb, skip])
    return keras.Model(ws, layers.Identity(name="image")(rgb), name=name)


def generator(latent_dim=128, w_dim=128, image_size=64, base=16, cap=128, depth=2, psi=1.0, name="generator",
              parts=None):
    """z -> image: mapping, truncation (psi), the same w for every layer, synthesis. `parts`: reuse a
    (mapping, synthesis) pair (e.g. to build a truncated twin of a trained generator)."""
    net_map, net_syn = parts or (mapping(latent_dim, w_dim, depth), synthesis(w_dim, image_size, base, cap))
    z = keras.Input((int(net_map.inputs[0].shape[-1]),), name="z")
    w = Truncation(psi, name="truncation")(net_map(z))
    ws = BroadcastW(int(net_syn.inputs[0].shape[1]), name="broadcast")(w)
    return keras.Model(z, net_syn(ws), name=name)


def discriminator(image_size=64, base=16, cap=128, name="discriminator"):
    """image -> one logit: residual blocks, minibatch standard deviation, two dense layers."""
    chans = widths(image_size, base, cap)
    image = keras.Input((image_size, image_size, 3), name="image")
    x = EqualConv2D(chans[image_size], 1, activation="lrelu", name="from_rgb")(image)
    for res in sorted(chans, reverse=True)[:-1]:
        out = chans[res // 2]
        skip = EqualConv2D(out, 1, use_bias=False, name=f"skip{res}")(layers.AveragePooling2D(2)(x))
        y = EqualConv2D(chans[res], 3, activation="lrelu", name=f"conv{res}")(x)
        y = EqualConv2D(out, 3, activation="lrelu", name=f"conv{res}_down")(layers.AveragePooling2D(2)(y))
        x = layers.Rescaling(1 / SQRT2)(layers.Add()([y, skip]))
    x = MinibatchStd(name="mbstd")(x)
    x = EqualConv2D(chans[4], 3, activation="lrelu", name="conv4")(x)
    x = EqualDense(chans[4], activation="lrelu", name="fc")(layers.Flatten()(x))
    return keras.Model(image, EqualDense(1, name="logit")(x), name=name)


def build(latent_dim=128, image_size=64, base=16, cap=128, w_dim=None, depth=2, d_base=None):
    """(generator, discriminator) for faces of `image_size` pixels (w_dim defaults to latent_dim)."""
    return (generator(latent_dim, w_dim or latent_dim, image_size, base, cap, depth),
            discriminator(image_size, d_base or base, cap))


def parts(generator_model) -> tuple:
    """(mapping, synthesis, w_avg) of a style-based generator built by `generator`."""
    try:
        trunc = generator_model.get_layer("truncation")
        return (generator_model.get_layer("mapping"), generator_model.get_layer("synthesis"),
                np.asarray(trunc.w_avg))
    except ValueError:
        raise GanLabError(f"{generator_model.name} is not a style-based generator (no mapping/synthesis/"
                          "truncation layers).") from None


def card(generator_model) -> dict:
    """The model card's W-space entries: w_dim, num_ws and the mean w (for truncation outside Keras)."""
    _, net_syn, w_avg = parts(generator_model)
    return {"style_based": True, "w_dim": int(w_avg.shape[0]), "num_ws": int(net_syn.inputs[0].shape[1]),
            "w_avg": [round(float(v), 6) for v in w_avg]}


def is_style_based(generator_model) -> bool:
    return any(layer.name == "mapping" for layer in generator_model.layers)
