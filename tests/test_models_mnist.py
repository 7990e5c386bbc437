import numpy as np
import pytest

from gan_lab import GanLabError
from gan_lab.models import mnist


@pytest.mark.parametrize("arch", sorted(set(mnist.ARCHITECTURES) - set(mnist.CONDITIONAL)))  # cgan: test_conditional
def test_generators_and_discriminators_have_the_right_shapes(arch):
    g, d = mnist.build(arch, latent_dim=16)
    z = np.random.default_rng(0).standard_normal((3, 16)).astype("float32")
    images = g.predict(z, verbose=0)
    assert images.shape == (3, 28, 28, 1)
    assert np.abs(images).max() <= 1.0  # tanh
    assert d.predict(images, verbose=0).shape == (3, 1)


def test_classic_mlp_matches_the_classic_layout():
    g = mnist.mlp_generator()
    dense = [layer.units for layer in g.layers if layer.__class__.__name__ == "Dense"]
    assert g.inputs[0].shape[-1] == 100 and dense == [256, 512, 1024, 784]
    d = mnist.mlp_discriminator()
    assert [layer.units for layer in d.layers if layer.__class__.__name__ == "Dense"] == [1024, 512, 256, 1]
    assert any(layer.__class__.__name__ == "Dropout" for layer in d.layers)


def test_widths_and_latent_size_are_parameters():
    g, d = mnist.build("mlp", latent_dim=32, g_widths=(64, 128), d_widths=(128, 64))
    assert g.inputs[0].shape[-1] == 32
    assert [layer.units for layer in g.layers if layer.__class__.__name__ == "Dense"] == [64, 128, 784]
    g, d = mnist.build("dcgan", latent_dim=8, g_widths=(16, 8), d_widths=(8, 16))
    assert g.count_params() < mnist.conv_generator(latent_dim=8).count_params()


def test_unknown_architecture_lists_the_choices():
    with pytest.raises(GanLabError, match="dcgan"):
        mnist.build("resnet")


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_minibatch_std_lets_the_discriminator_see_the_batch(arch, tmp_path):
    import keras

    keras.utils.set_random_seed(0)  # the effect at initialisation is small: unseeded draws fell below 1e-4
    _, d = mnist.build(arch, mbstd=True)
    _, plain = mnist.build(arch)
    rng = np.random.default_rng(0)
    first = rng.uniform(-1, 1, (1, 28, 28, 1)).astype("float32")
    same = np.repeat(first, 4, axis=0)  # a batch without variety
    varied = np.concatenate([first, rng.uniform(-1, 1, (3, 28, 28, 1)).astype("float32")])
    # The first image's logit depends on its batch-mates with mbstd, not without it.
    assert abs(float(d(same)[0, 0]) - float(d(varied)[0, 0])) > 1e-4
    np.testing.assert_allclose(plain(same)[0], plain(varied)[0], atol=1e-6)
    # The added feature is the spread across the group: zero for identical samples.
    features = keras.Model(d.inputs, d.get_layer("mbstd").output)
    assert np.allclose(np.asarray(features(same))[..., -1], 1e-4, atol=1e-4)  # sqrt(0 + 1e-8)
    assert np.asarray(features(varied))[..., -1].min() > 0.01
    d.save(tmp_path / "d.keras")
    again = keras.models.load_model(tmp_path / "d.keras", safe_mode=True)
    np.testing.assert_allclose(again(varied), d(varied), atol=1e-6)


def test_minibatch_std_is_refused_for_the_conditional_discriminator():
    with pytest.raises(GanLabError, match="unconditional"):
        mnist.build("cgan", mbstd=True)
