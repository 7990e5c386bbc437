"""Conversion Keras -> ONNX -> OpenVINO IR (+INT8) for generators gan_lab did not build,
the one runtime interface over three backends, and bad input refused cleanly."""

import json

import keras
import numpy as np
import pytest
from keras import layers

import openvino as ov

from gan_lab import GanLabError, convert
from gan_lab.runtime import cpu_share, load, load_generator


def dense_sequential():
    return keras.Sequential([keras.Input((16,), name="z"), layers.Dense(64), layers.LeakyReLU(0.2),
                             layers.Dense(8 * 8, activation="tanh"), layers.Reshape((8, 8, 1))], name="dense")


def convt_functional():
    z = keras.Input((12,))
    x = layers.Dense(4 * 4 * 16, use_bias=False)(z)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(layers.Reshape((4, 4, 16))(x))
    x = layers.Conv2DTranspose(8, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    return keras.Model(z, layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(x))


class UpsampleGenerator(keras.Model):
    """Subclassed: UpSampling2D + Conv2D, sigmoid, 3 channels."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(4 * 4 * 8, activation="relu")
        self.reshape = layers.Reshape((4, 4, 8))
        self.up = layers.UpSampling2D()
        self.conv = layers.Conv2D(3, 3, padding="same", activation="sigmoid")

    def call(self, z):
        return self.conv(self.up(self.reshape(self.dense(z))))


def upsample_subclassed():
    model = UpsampleGenerator()
    model(np.zeros((1, 10), np.float32))
    return model


def _randomise_bn(model):  # trained-like batch-norm statistics, so parity tests them
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.2, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))


def test_fp16_weights_that_miss_the_gate_fall_back_to_fp32_without_redoing_the_onnx(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), layers.Dense(256, kernel_initializer=keras.initializers.RandomNormal(
        stddev=40.0)), layers.Dense(8 * 8), layers.Reshape((8, 8, 1))])  # raw outputs in the hundreds
    with pytest.raises(GanLabError, match=r"ONNX -> IR \(fp16\)"):
        convert.convert(model, tmp_path / "strict", parity_samples=32, verbose=False)
    assert not list((tmp_path / "strict").glob("generator.*"))  # nothing written
    report = convert.convert(model, tmp_path / "auto", parity_samples=32, fp32_fallback=True, verbose=False)
    assert report["ir_precision"] == "fp32" and report["parity"]["ir_fp16_missed"]["max_abs"] > 1e-2
    assert report["parity"]["ir_fp32"]["max_abs"] <= 1e-4 and "--compress_to_fp16=False" in report["ovc_command"]
    info = json.loads((tmp_path / "auto" / "model.json").read_text())
    assert info["conversions"]["generator"]["ir_precision"] == "fp32"


@pytest.mark.parametrize("build, value_range", [(dense_sequential, None), (convt_functional, None),
                                                (upsample_subclassed, (0.0, 1.0))])
@pytest.mark.slow
def test_three_kinds_of_generator_convert_within_tolerance(tmp_path, build, value_range):
    keras.utils.set_random_seed(0)
    model = build()
    _randomise_bn(model)
    report = convert.convert(model, tmp_path, fp32=True, parity_samples=200, value_range=value_range, verbose=False)
    assert report["parity"]["onnx"]["max_abs"] <= 1e-4 and report["parity"]["ir_fp32"]["max_abs"] <= 1e-4
    info = json.loads((tmp_path / "model.json").read_text())
    latent_dim = info["latent_dim"]
    z = np.random.default_rng(1).standard_normal((5, latent_dim)).astype("float32")
    want = np.asarray(model(z, training=False))
    for name in ("generator.onnx", "generator.xml"):
        gen = load_generator(tmp_path / name)
        assert gen.latent_dim == latent_dim and gen.image_shape == tuple(want.shape[1:])
        np.testing.assert_allclose(gen.generate_raw(z), want, atol=1e-4)
        assert gen.generate(z).dtype == np.uint8 and gen.generate(z).shape == want.shape
    assert info["value_range"] == list(value_range or (-1.0, 1.0)) and info["latent_dim"] == latent_dim


@pytest.mark.slow
def test_fp16_default_static_batch_int8_and_rt_info(tmp_path):
    keras.utils.set_random_seed(0)
    model = convt_functional()
    model.save(tmp_path / "generator.keras")
    out = tmp_path / "out"
    report = convert.convert(tmp_path / "generator.keras", out, batch=4, int8=True, parity_samples=64, verbose=False)
    assert report["ir_precision"] == "fp16" and report["parity"]["ir_fp16"]["max_abs"] <= 1e-2
    assert {"generator.onnx", "generator.xml", "generator.bin", "generator-int8.xml", "generator-int8.bin",
            "model.json"} == {p.name for p in out.iterdir()}
    gen = load_generator(out / "generator.xml")
    assert gen.batch == 4 and gen.generate(gen.sample_latents(10)).shape == (10, 16, 16, 1)  # fed in chunks
    ir = ov.Core().read_model(out / "generator.xml")
    assert ir.get_rt_info(["gan_lab", "latent_dim"]).astype(str) == "12"
    assert ir.get_rt_info(["gan_lab", "value_range"]).astype(str) == "[-1.0, 1.0]"
    assert "--input [4,12]" in report["ovc_command"]
    assert report["sizes_bytes"]["generator-int8.bin"] < report["sizes_bytes"]["generator.bin"]


@pytest.fixture(scope="module")
def mnist_backends(tiny_folder):
    return [load_generator(tiny_folder / name) for name in ("generator.keras", "generator.onnx", "generator.xml")]


@pytest.mark.parametrize("z, message", [
    (np.zeros((2, 15), np.float32), r"shape \(n, 16\); got \(2, 15\)"),
    (np.zeros((2, 16), np.int32), "floating point"),
    (np.full((1, 16), np.nan, np.float32), "NaN or infinite"),
    (np.full((1, 16), np.inf, np.float32), "NaN or infinite"),
])
def test_bad_latents_are_refused_before_inference_by_every_backend(mnist_backends, z, message):
    for gen in mnist_backends:
        with pytest.raises(GanLabError, match=message):
            gen.generate(z)


def test_backends_agree_on_the_same_latents(mnist_backends):
    z = mnist_backends[0].sample_latents(8, seed=3)
    keras_img, onnx_img, ov_img = (gen.generate(z).astype(int) for gen in mnist_backends)
    assert np.abs(keras_img - onnx_img).max() <= 1 and np.abs(keras_img - ov_img).max() <= 2


def test_xml_without_its_bin(tmp_path, mnist_backends):
    xml = tmp_path / "generator.xml"
    xml.write_bytes(mnist_backends[2].path.read_bytes())
    with pytest.raises(GanLabError, match="generator.bin is missing"):
        load_generator(xml)


@pytest.mark.parametrize("name", ["generator.xml", "generator.onnx"])
def test_truncated_model_files_are_refused(tmp_path, mnist_backends, name):
    source = mnist_backends[2].path.parent / name
    broken = tmp_path / name
    broken.write_bytes(source.read_bytes()[: len(source.read_bytes()) // 2])
    if name.endswith(".xml"):
        (tmp_path / "generator.bin").write_bytes(source.with_suffix(".bin").read_bytes())
    with pytest.raises(GanLabError, match="not a readable"):
        load_generator(broken)


def test_lambda_layer_is_refused_plainly(tmp_path):
    model = keras.Sequential([keras.Input((4,)), layers.Lambda(lambda x: x * 2.0), layers.Dense(4)])
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(GanLabError, match="Lambda layer.*safe_mode"):
        convert.convert(tmp_path / "lambda.keras", tmp_path / "out", verbose=False)
    assert not (tmp_path / "out").exists()


def test_two_latents_convert_but_are_not_a_generator(tmp_path):
    a, b = keras.Input((4,)), keras.Input((3,))
    model = keras.Model([a, b], layers.Dense(4)(layers.Concatenate()([a, b])))
    report = convert.convert(model, tmp_path, fp32=True, parity_samples=16, verbose=False)
    assert [i["name"] for i in report["inputs"]] == ["z_0", "z_1"] and report["parity"]["ir_fp32"]["max_abs"] <= 1e-4
    assert load(tmp_path / "generator.xml").run(np.ones((2, 4)), np.ones((2, 3)))[0].shape == (2, 4)
    with pytest.raises(GanLabError, match="not a generator"):
        load_generator(tmp_path / "generator.onnx")


def test_unwritable_output_folder(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(GanLabError, match="Cannot create the output folder|is a file"):
        convert.convert(dense_sequential(), tmp_path / "a-file" / "out", verbose=False)


def test_parity_failure_raises_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(convert.TOLERANCE, "fp16", 1e-12)
    keras.utils.set_random_seed(0)
    with pytest.raises(GanLabError, match="Parity check failed at ONNX -> IR \\(fp16\\).*Nothing was written"):
        convert.convert(convt_functional(), tmp_path, parity_samples=16, verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(GanLabError, match=".keras, .onnx or .xml"):
        load_generator(tmp_path / "generator.h5")
    with pytest.raises(GanLabError, match="does not exist"):
        load_generator(tmp_path / "generator.onnx")


def test_openvino_default_path_static_shapes_and_chunks(mnist_backends):
    keras_gen, _, ov_gen = mnist_backends
    z = keras_gen.sample_latents(150, seed=5)  # 64 + 64 + 22: three requests, the last padded to 32
    small = load_generator(ov_gen.path, max_batch=64)
    compiled = lambda: sorted(shapes[0][0] for shapes in small.runner._requests)  # noqa: E731
    raw = small.generate_raw(z)
    assert np.abs(raw - keras_gen.generate_raw(z)).max() <= 1e-2  # FP16 tolerance, chunk by chunk
    assert compiled() == [32, 64]  # static shapes: one compiled model per power of two
    assert small.generate_raw(z[:3]).shape == (3, 8, 8, 1) and compiled() == [4, 32, 64]
    first = small.generate_raw(z[:1])
    small.generate_raw(z[1:2])
    assert np.array_equal(first, small.generate_raw(z[:1]))  # results are copies, not the request's buffer
    assert small.runner.config["PERFORMANCE_HINT"] == "LATENCY"
    assert small.runner.config["INFERENCE_PRECISION_HINT"] == "f32"  # no bfloat16 on AVX-512 BF16 CPUs
    one_thread = load_generator(ov_gen.path, config=cpu_share(1))  # one of several processes
    assert one_thread.generate(z[:2]).shape == (2, 8, 8, 1)
    compiled = one_thread.runner.compiled_model
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert compiled.get_property("ENABLE_CPU_PINNING") is False  # else every such process pins to core 0

