"""The class-conditional MNIST GAN end to end: (z, label) -> digit trained with a projection
discriminator, converted with parity on both inputs, drawn on every backend, the CLI's --label and
the digit picker; bad labels refused."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_lab import GanLabError, convert
from gan_lab.cli import main
from gan_lab.models import mnist as mnist_models
from gan_lab.runtime import load_generator
from gan_lab.training.gan import GAN
from gan_lab.widgets import DigitPicker


def tiny_cgan():
    keras.utils.set_random_seed(0)
    g, d = mnist_models.build("cgan", latent_dim=8, g_widths=(8, 4), d_widths=(4, 8), upsample="nearest",
                              norm="spectral")
    gan = GAN(g, d, seed=0, num_classes=10)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), augment="translation", r1_gamma=0.1,
                r1_every=1)
    gan.build_optimizers()
    return gan


def test_a_conditional_step_trains_both_networks_on_labelled_digits(digits_subset):
    gan = tiny_cgan()
    g0, d0 = gan.generator.get_weights()[0].copy(), gan.discriminator.get_weights()[0].copy()
    labels = np.arange(32) % 10
    logs = gan.train_step((tf.constant(digits_subset[:32]), tf.constant(labels)))
    assert np.isfinite(float(logs["d_loss"])) and np.isfinite(float(logs["g_loss"]))
    assert not np.allclose(g0, gan.generator.get_weights()[0]) and not np.allclose(d0, gan.discriminator.get_weights()[0])
    assert gan.draw(np.zeros((20, 8), "float32")).shape == (20, 28, 28, 1)


def test_the_projection_discriminator_reads_the_label():
    _, d = mnist_models.build("cgan", latent_dim=8, g_widths=(8, 4), d_widths=(4, 8))
    image = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)).astype("float32")
    one, other = (keras.ops.convert_to_numpy(d([image, np.full((2, 1), c, "int32")])) for c in (1, 7))
    assert not np.allclose(one, other)


@pytest.fixture(scope="module")
def cgan_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("cgan")
    tiny_cgan().ema_generator.save(out / "generator.keras")
    convert.convert(out / "generator.keras", out, num_classes=10, parity_samples=50, verbose=False)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["generator.keras", "generator.onnx", "generator.xml"])
def test_every_backend_draws_the_asked_digits(cgan_folder, name):
    gen = load_generator(cgan_folder / name)
    z = gen.sample_latents(4, seed=1)
    assert gen.conditional and gen.num_classes == 10 and gen.generate(z, [0, 3, 3, 9]).shape == (4, 28, 28, 1)
    reference = load_generator(cgan_folder / "generator.keras").generate_raw(z, np.array([0, 3, 3, 9]))
    assert np.abs(gen.generate_raw(z, np.array([0, 3, 3, 9])) - reference).max() <= 1e-2
    assert np.array_equal(gen.generate(z, 5), gen.generate(z, [5, 5, 5, 5]))  # one label for all


@pytest.mark.slow
@pytest.mark.parametrize("labels, message", [
    (None, "class-conditional: pass labels"),
    ([0, 1, 2, 10], r"labels must lie in 0..9; got 0..10"),
    ([0, 1, -1, 2], r"labels must lie in 0..9; got -1..2"),
    ([0.0, 1.0, 2.0, 3.0], "whole numbers, one per latent; got float64"),
    ([1, 2], "must be 4 whole numbers"),
])
def test_bad_labels_are_refused_before_inference(cgan_folder, labels, message):
    gen = load_generator(cgan_folder / "generator.xml")
    with pytest.raises(GanLabError, match=message):
        gen.generate(gen.sample_latents(4), labels)


@pytest.mark.slow
def test_labels_for_an_unconditional_generator_are_refused(tiny_folder):
    gen = load_generator(tiny_folder / "generator.onnx")
    with pytest.raises(GanLabError, match="not class-conditional; call generate"):
        gen.generate(gen.sample_latents(2), [1, 2])


@pytest.mark.slow
def test_cli_generate_with_a_label(cgan_folder, tiny_folder, tmp_path, capsys):
    assert main(["generate", str(cgan_folder / "generator.xml"), "-n", "4", "--label", "7", "--out",
                 str(tmp_path / "sevens.png")]) == 0
    assert (tmp_path / "sevens.png").stat().st_size > 0
    assert main(["generate", str(tiny_folder / "generator.xml"), "--label", "7", "--out", str(tmp_path / "x.png")]) == 1
    assert "--label is for class-conditional generators" in capsys.readouterr().err


@pytest.mark.slow
def test_the_digit_picker_draws_the_chosen_digit(cgan_folder, tiny_folder):
    picker = DigitPicker(load_generator(cgan_folder / "generator.xml"), count=5)
    first = picker.images.copy()
    picker.digit.value = 4
    assert picker.images.shape == (5, 28, 28, 1) and not np.array_equal(first, picker.images)
    picker.seed.value = 3
    assert picker.image_widget.value[:4] == b"\x89PNG" and "OpenVINO" in picker.status.value
    shown = picker.images.copy()
    picker.device.value = "AUTO"  # compiled anew for the device OpenVINO picks: the same digits
    assert picker.generator.runner.device == "AUTO" and np.abs(picker.images.astype(int) - shown).max() <= 1
    with pytest.raises(GanLabError, match="not class-conditional"):
        DigitPicker(load_generator(tiny_folder / "generator.xml"))
