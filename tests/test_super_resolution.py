"""Upscaling 64-px faces: bilinear and area averaging exact, the ESPCN model safe to load, trainable
and convertible, bad input refused, and the shipped models/face-sr beating bilinear on held-out faces."""

import json

import keras
import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf

from gan_lab import GanLabError, convert, images, paths
from gan_lab.metrics import super_resolution as sr_metrics
from gan_lab.models.espcn import build_sr
from gan_lab.modelfolder import ModelFolder
from gan_lab.runtime import load_upscaler
from gan_lab.training import super_resolution

SHIPPED = paths.shipped("face-sr")


def test_bilinear_keeps_dtype_range_and_constants():
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    for size in (32, 256):
        out = images.bilinear(faces, size)
        assert out.dtype == np.uint8 and out.shape == (2, size, size, 3)
        assert faces.min() <= out.min() and out.max() <= faces.max()  # interpolation never overshoots
    flat = np.full((1, 64, 64, 3), 77, np.uint8)
    assert (images.bilinear(flat, 1024) == 77).all()
    with pytest.raises(GanLabError, match="uint8"):
        images.bilinear(faces.astype(np.float32), 128)


@pytest.mark.parametrize("size", [32, 128, 256, 1024])
def test_bilinear_is_tensorflows_resize_bit_for_bit(size):
    faces = np.random.default_rng(size).integers(0, 256, (2, 64, 48, 3), dtype=np.uint8)
    want = tf.image.resize(faces.astype(np.float32), (size, size), method="bilinear", antialias=False).numpy()
    np.testing.assert_array_equal(images.bilinear(faces, size), np.clip(np.rint(want), 0, 255).astype(np.uint8))


def test_downsample_averages_each_block():
    blocks = np.array([[10, 20], [30, 41]], np.uint8)
    image = np.repeat(np.repeat(blocks, 2, 0), 2, 1)[None, :, :, None].repeat(3, axis=3)  # 2x2 blocks
    np.testing.assert_array_equal(images.downsample(image, 2)[0, :, :, 0], blocks)
    mixed = np.array([[0, 1], [1, 1]], np.uint8)[None, :, :, None].repeat(3, axis=3)
    assert images.downsample(mixed, 2).item(0) == 1  # 0.75 rounds to 1
    with pytest.raises(GanLabError, match="multiple of the factor"):
        images.downsample(np.zeros((1, 6, 6, 3), np.uint8), 4)


@pytest.mark.parametrize("scale", [2, 4])
def test_build_sr_upscales_any_size_and_round_trips_with_safe_mode(tmp_path, scale):
    keras.utils.set_random_seed(0)
    model = build_sr(scale, filters=(8, 8))
    x = np.random.default_rng(1).random((2, 12, 20, 3)).astype(np.float32)
    y = np.asarray(model(x))
    assert y.shape == (2, 12 * scale, 20 * scale, 3) and 0 <= y.min() and y.max() <= 1
    model.save(tmp_path / "sr.keras")
    assert "Lambda" not in model.to_json()
    loaded = keras.saving.load_model(tmp_path / "sr.keras", safe_mode=True, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), y, atol=1e-6)


def test_untrained_residual_model_is_bilinear():
    low, _ = super_resolution.training_pairs(2, seed=7)
    out = images.to_uint8(build_sr()(images.to_float(low, (0.0, 1.0))), (0.0, 1.0))
    assert np.abs(out.astype(int) - images.bilinear(low, 256)).max() <= 1  # learning starts from the baseline


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small SR model trained for a few steps and converted: (folder, train report, convert report)."""
    out = tmp_path_factory.mktemp("sr")
    report = super_resolution.train(out, epochs=3, n_train=8, n_val=4, batch_size=4, patch=16, filters=(8, 8),
                                    verbose=0)
    low = super_resolution.training_pairs(4, seed=super_resolution.HELDOUT_SEED)[0]
    return out, report, convert.convert(out / "sr.keras", out, stem="sr", images=low, verbose=False)


@pytest.mark.slow
def test_training_lowers_the_validation_loss_and_writes_the_folder(tiny):
    out, report, _ = tiny
    val = report["history"]["val_loss"]
    assert len(val) == 3 and val[-1] < val[0]
    info = json.loads((out / "model.json").read_text())
    assert info["scale"] == 4 and info["low_size"] == 64 and info["n_train"] == 8 and "sr" in info["conversions"]


def test_training_refuses_the_held_out_seed(tmp_path):
    with pytest.raises(GanLabError, match="held-out"):
        super_resolution.train(tmp_path, seed=super_resolution.HELDOUT_SEED)


@pytest.mark.slow
def test_conversion_keeps_parity_and_names_the_input(tiny):
    out, _, report = tiny
    assert report["parity"]["onnx"]["max_abs"] <= 1e-4 and report["parity"]["ir_fp16"]["max_abs"] <= 1e-2
    assert {"sr.keras", "sr.onnx", "sr.xml", "sr.bin", "model.json"} == {p.name for p in out.iterdir()}
    (source,) = ort.InferenceSession(str(out / "sr.onnx"), providers=["CPUExecutionProvider"]).get_inputs()
    assert source.name == "image" and source.shape == ["batch", 64, 64, 3]


@pytest.mark.slow
def test_every_size_is_sr_then_bilinear(tiny):
    up = load_upscaler(tiny[0] / "sr.xml")
    low, _ = super_resolution.training_pairs(3, seed=11)
    at256 = up.upscale(low, 256)
    assert up.scale == 4 and at256.dtype == np.uint8 and at256.shape == (3, 256, 256, 3)
    for size in (128, 512, 1024):
        np.testing.assert_array_equal(up.upscale(low, size), images.bilinear(at256, size))


@pytest.mark.parametrize("pictures, size, message", [
    (np.zeros((1, 64, 64, 3), np.uint8), 300, "one of 128, 256, 512, 1024; got 300"),
    (np.zeros((1, 64, 64, 3), np.uint8), "256", "got '256'"),
    (np.zeros((1, 64, 64, 3), np.float32), 256, "uint8 images of shape .* got float32"),
    (np.zeros((64, 64, 3), np.uint8), 256, r"images\[None\]"),
    (np.zeros((1, 32, 32, 3), np.uint8), 256, r"\(n, 64, 64, 3\); got uint8 \(1, 32, 32, 3\)"),
    (np.zeros((1, 64, 64, 4), np.uint8), 256, r"\(1, 64, 64, 4\)"),
])
@pytest.mark.slow
def test_upscale_refuses_bad_sizes_and_images(tiny, pictures, size, message):
    up = load_upscaler(tiny[0] / "sr.onnx")
    with pytest.raises(GanLabError, match=message):
        up.upscale(pictures, size)


def test_load_upscaler_refuses_unknown_and_missing_files(tmp_path):
    with pytest.raises(GanLabError, match="backend"):
        load_upscaler(tmp_path / "sr.pt")
    with pytest.raises(GanLabError, match="does not exist"):
        load_upscaler(tmp_path / "sr.onnx")


# ----------------------------------------------------------------------------- the shipped model

@pytest.fixture(scope="module")
def shipped():
    return {suffix: load_upscaler(SHIPPED / f"sr.{suffix}") for suffix in ("keras", "onnx", "xml")}


@pytest.mark.slow
def test_shipped_sr_beats_bilinear_on_held_out_faces(shipped):
    scores = sr_metrics.compare(shipped["xml"], n=20, size=256)
    assert scores["sr"]["psnr"] > scores["bilinear"]["psnr"] + 0.5


def test_shipped_backends_agree(shipped):
    low, _ = super_resolution.training_pairs(8, seed=super_resolution.HELDOUT_SEED)
    reference = shipped["keras"].upscale(low, 256).astype(int)
    assert np.abs(shipped["onnx"].upscale(low, 256) - reference).max() <= 1
    assert np.abs(shipped["xml"].upscale(low, 256) - reference).max() <= 2


def test_shipped_model_card_holds_the_figures():
    info = json.loads((SHIPPED / "model.json").read_text())
    quality = info["quality"]
    assert quality["n"] == 200 and quality["size"] == 256 and quality["seed"] != info["seed"]
    assert quality["sr"]["psnr"] > quality["bilinear"]["psnr"]
    assert ModelFolder(SHIPPED).conversion("sr")["parity"]["ir_fp16"]["max_abs"] <= 1e-2
    assert info["openvino_latency_ms"]["median"] > 0 and info["command"].startswith("python -c")
