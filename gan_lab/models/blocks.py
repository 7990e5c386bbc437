"""Building blocks the GAN builders share: doubling a map's side, spectral normalisation, and the
z-only generator of a self-conditioned GAN."""

import statistics

import keras
import numpy as np
from keras import layers, ops

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
    return SpectralNorm(layer) if norm == "spectral" else layer


@keras.saving.register_keras_serializable(package="gan_lab")
class SpectralNorm(layers.Wrapper):
    """A Dense or Conv2D whose kernel is divided by its largest singular value, estimated with one power
    iteration per training call (the vector u is kept between calls), as in Miyato et al. (2018).

    Why not `keras.layers.SpectralNormalization`: it overwrites the kernel variable with W / sigma on every
    call (a cond over the whole kernel and an assignment, three times per training step), which cost the
    face DCGAN 29% of its speed. Here W / sigma is a value of the forward pass only and the gradient
    flows through sigma, as in the paper."""

    def build(self, input_shape):
        super().build(input_shape)
        inner = self.layer
        if not isinstance(inner, (layers.Dense, layers.Conv2D)) or getattr(inner, "groups", 1) != 1 \
                or getattr(inner, "data_format", "channels_last") != "channels_last":
            raise GanLabError(f"SpectralNorm wraps a Dense or an ungrouped channels-last Conv2D, not {inner.name!r}.")
        self.u = self.add_weight((1, inner.kernel.shape[-1]), keras.initializers.RandomNormal(0, 1, seed=0),
                                 trainable=False, name="u")

    def call(self, inputs, training=False):
        inner = self.layer
        weights = ops.reshape(inner.kernel, (-1, inner.kernel.shape[-1]))
        v = _unit(ops.matmul(self.u, ops.transpose(weights)))
        u = _unit(ops.matmul(v, weights))
        if training:
            self.u.assign(u)
        sigma = ops.sum(ops.matmul(ops.stop_gradient(v), weights) * ops.stop_gradient(u))
        kernel = inner.kernel / sigma
        if isinstance(inner, layers.Conv2D):
            y = ops.conv(inputs, kernel, inner.strides, inner.padding, dilation_rate=inner.dilation_rate)
        else:
            y = ops.matmul(inputs, kernel)
        if inner.use_bias:
            y = y + inner.bias
        return inner.activation(y) if inner.activation is not None else y

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


def _unit(x):
    return x / (ops.sqrt(ops.sum(ops.square(x))) + 1e-12)


@keras.saving.register_keras_serializable(package="gan_lab")
class ClusterPick(layers.Layer):
    """z (n, 1 + d) -> (cluster (n, 1) int32, the other d components): the first component picks a
    cluster by where it falls among the normal quantiles of the clusters' cumulative `shares`, so
    clusters come in their shares. The thresholds are rounded to float16 values: an FP16 IR keeps
    them exactly, and no latent changes cluster in conversion."""

    def __init__(self, shares, **kwargs):
        super().__init__(**kwargs)
        self.shares = [float(s) for s in shares]
        cumulative = np.clip(np.cumsum(self.shares)[:-1], 1e-6, 1 - 1e-6)
        quantiles = [statistics.NormalDist().inv_cdf(float(c)) for c in cumulative]
        self.thresholds = np.asarray(quantiles, np.float16).astype(np.float32)[None, :]

    def call(self, z):
        above = ops.cast(z[:, :1] >= ops.convert_to_tensor(self.thresholds), "int32")
        return ops.sum(above, axis=1, keepdims=True), z[:, 1:]

    def get_config(self):
        return super().get_config() | {"shares": self.shares}


def self_conditioned_generator(conditional, shares, name="generator"):
    """A z-only generator from a conditional one trained on clusters (`training.self_condition`): its
    latent is one component longer than the conditional one's, and that component picks the cluster."""
    latent_dim = int(conditional.inputs[0].shape[-1])
    z = keras.Input((latent_dim + 1,), name="z")
    cluster, rest = ClusterPick(shares, name="cluster")(z)
    image = conditional([rest, cluster])
    return keras.Model(z, layers.Identity(name="image")(image), name=name)
