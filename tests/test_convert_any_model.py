"""One conversion pipeline for any Keras model whose inputs are arrays: image-to-image models and a
class-conditional generator that nobody in the project wrote, each checked on inputs of its kind
against Keras (max |difference| <= 1e-4 ONNX, <= 1e-2 FP16 IR), then run through the one runtime."""

import json

import keras
import numpy as np
import pytest
from keras import layers

from gan_lab import GanLabError, convert
from gan_lab.data import procedural_faces
from gan_lab.modelfolder import ModelFolder
from gan_lab.runtime import load, load_generator, load_translator

pytestmark = pytest.mark.slow


def translator_with_skip(size=32):
    """CycleGAN-like: stem, a stride-2 conv down, two residual blocks, upsample, tanh; and a long
    skip from input to output (the image plus a learned correction)."""
    image = keras.Input((size, size, 3))
    x = layers.Conv2D(8, 7, padding="same", activation="relu")(image)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    for _ in range(2):
        y = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = layers.Add()([x, layers.Conv2D(16, 3, padding="same")(y)])
    x = layers.UpSampling2D()(x)
    x = layers.Conv2D(3, 7, padding="same", activation="tanh")(x)
    return keras.Model(image, layers.Activation("tanh")(layers.Add()([image, x])), name="translator")


def bilinear_residual_upscaler():
    """Any-size input, x2 bilinear plus a learned residual, clipped: a fully convolutional model."""
    image = keras.Input((None, None, 3))
    up = layers.UpSampling2D(2, interpolation="bilinear")(image)
    detail = layers.Conv2D(12, 3, padding="same", activation="relu")(image)
    detail = layers.Conv2DTranspose(3, 4, strides=2, padding="same")(detail)
    return keras.Model(image, layers.ReLU(max_value=1.0)(layers.Add()([up, detail])), name="upscaler")


def conditional_generator(classes=10):
    """A latent and a class label (Embedding, as keras-io's conditional GAN does with one-hots)."""
    z, label = keras.Input((16,), name="z"), keras.Input((1,), dtype="int32", name="label")
    embedded = layers.Flatten()(layers.Embedding(classes, 8)(label))
    x = layers.Dense(7 * 7 * 8, activation="relu")(layers.Concatenate()([z, embedded]))
    x = layers.UpSampling2D()(layers.Reshape((7, 7, 8))(x))
    return keras.Model([z, label], layers.Conv2D(1, 3, padding="same", activation="tanh")(x), name="cgan")


def faces(n, size):
    return procedural_faces.faces(n, size=size, seed=3)["images"]


@pytest.mark.parametrize("fp32", [True, False])
def test_a_translator_with_a_skip_connection(tmp_path, fp32):
    keras.utils.set_random_seed(0)
    model = translator_with_skip()
    report = convert.convert(model, tmp_path, stem="a2b", fp32=fp32, images=faces(16, 32), verbose=False)
    assert report["parity"]["onnx"]["max_abs"] <= 1e-4
    assert report["parity"]["ir_fp32" if fp32 else "ir_fp16"]["max_abs"] <= (1e-4 if fp32 else 1e-2)
    assert report["parity"]["inputs"] == "image" and report["parity"]["samples"] == 16
    assert {"a2b.onnx", "a2b.xml", "a2b.bin", "model.json"} == {p.name for p in tmp_path.iterdir()}
    assert ModelFolder(tmp_path).conversion("a2b")["ir_precision"] == ("fp32" if fp32 else "fp16")
    pictures = faces(3, 32)
    want = keras.ops.convert_to_numpy(model((pictures / 127.5 - 1).astype("float32")))
    for name in ("a2b.onnx", "a2b.xml"):
        translator = load_translator(tmp_path / name)
        out = translator.translate(pictures)
        assert out.dtype == np.uint8 and out.shape == pictures.shape
        assert np.abs(translator.translate_raw((pictures / 127.5 - 1).astype("float32")) - want).max() <= 1e-2


def test_a_bilinear_plus_residual_upscaler_of_any_size(tmp_path):
    keras.utils.set_random_seed(0)
    model = bilinear_residual_upscaler()
    model.save(tmp_path / "sr.keras")
    report = convert.convert(tmp_path / "sr.keras", tmp_path, stem="sr", value_range=(0.0, 1.0),
                             images=faces(8, 24), verbose=False)
    assert report["parity"]["onnx"]["max_abs"] <= 1e-4 and report["parity"]["ir_fp16"]["max_abs"] <= 1e-2
    runner = load(tmp_path / "sr.xml")
    assert runner.inputs[0].shape == (None, 24, 24, 3)  # traced at the size its parity was checked at
    assert runner.run(np.full((2, 24, 24, 3), 0.5, np.float32))[0].shape == (2, 48, 48, 3)


def test_a_class_conditional_generator_with_int8(tmp_path):
    keras.utils.set_random_seed(0)
    model = conditional_generator()
    report = convert.convert(model, tmp_path, num_classes=10, int8=True, parity_samples=200, verbose=False)
    assert [i["kind"] for i in report["inputs"]] == ["latent", "label"]
    assert report["parity"]["onnx"]["max_abs"] <= 1e-4 and report["parity"]["ir_fp16"]["max_abs"] <= 1e-2
    assert json.loads((tmp_path / "model.json").read_text())["num_classes"] == 10
    z = np.random.default_rng(0).standard_normal((4, 16)).astype("float32")
    labels = np.array([0, 3, 7, 9])
    want = keras.ops.convert_to_numpy(model([z, labels[:, None].astype("int32")]))
    for name in ("generator.onnx", "generator.xml", "generator-int8.xml"):
        gen = load_generator(tmp_path / name)
        assert gen.conditional and gen.num_classes == 10
        tolerance = 0.5 if "int8" in name else 1e-2
        assert np.abs(gen.generate_raw(z, labels) - want).max() <= tolerance
        with pytest.raises(GanLabError, match="class-conditional: pass labels"):
            gen.generate(z)
        with pytest.raises(GanLabError, match=r"labels must lie in 0..9"):
            gen.generate(z, np.array([0, 1, 2, 10]))


def test_a_label_input_needs_the_number_of_classes(tmp_path):
    with pytest.raises(GanLabError, match="pass num_classes"):
        convert.convert(conditional_generator(), tmp_path / "out", verbose=False)
    assert not (tmp_path / "out").exists()


def test_an_unknown_stem_is_refused(tmp_path):
    with pytest.raises(GanLabError, match="Unknown file stem 'gen'"):
        convert.convert(conditional_generator(), tmp_path, stem="gen", verbose=False)
