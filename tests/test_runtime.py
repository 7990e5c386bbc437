"""The one runtime: any model file opens as a runner with named inputs; bad input is refused
before inference with a message naming the input and what it takes; the backend registry."""

import numpy as np
import pytest

from gan_lab import GanLabError, backends
from gan_lab.runtime import load

FILES = ("generator.keras", "generator.onnx", "generator.xml")


@pytest.fixture(scope="module", params=FILES)
def runner(request, tiny_folder):
    return load(tiny_folder / request.param)


def test_a_runner_names_its_inputs_and_runs_by_position_or_name(runner):
    (z,) = runner.inputs
    assert z.name == "z" and z.shape == (None, 16) and z.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    (by_position,), (by_name,) = runner.run(x), runner.run(z=x)
    assert by_position.shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(by_position, by_name)


@pytest.mark.parametrize("args, named, message", [
    ((), {}, r"takes 1 input\(s\) \(z: float32 of shape \(n, 16\)\); got 0"),
    ((np.zeros((2, 16)), np.zeros((2, 16))), {}, r"takes 1 input\(s\).*got 2"),
    ((np.zeros((2, 15), np.float32),), {}, r"takes 'z' as float32 of shape \(n, 16\); got shape \(2, 15\)"),
    ((np.zeros((2, 4, 4), np.float32),), {}, r"got shape \(2, 4, 4\)"),
    ((np.zeros((2, 16), np.int64),), {}, "got dtype int64. Floating point"),
    ((np.full((2, 16), np.nan, np.float32),), {}, "'z' contains NaN or infinite"),
    ((), {"latent": np.zeros((2, 16))}, r"unknown: \['latent'\], missing: \['z'\]"),
    ((np.zeros((2, 16)),), {"z": np.zeros((2, 16))}, "either by position or by name"),
])
def test_bad_inputs_are_refused_before_inference(runner, args, named, message):
    with pytest.raises(GanLabError, match=message):
        runner.run(*args, **named)


def test_float64_latents_are_cast_not_refused(runner):
    assert runner.run(np.zeros((1, 16), np.float64))[0].dtype == np.float32


def test_unknown_suffix_missing_file_and_unknown_device(tmp_path, tiny_folder):
    with pytest.raises(GanLabError, match=r"use a \.keras, .* or \.\w+ file"):
        load(tmp_path / "model.pt")
    with pytest.raises(GanLabError, match="does not exist"):
        load(tmp_path / "generator.onnx")
    with pytest.raises(GanLabError, match="OpenVINO device 'NPU9' is not available here; choose one of CPU"):
        load(tiny_folder / "generator.xml", device="NPU9")
    with pytest.raises(GanLabError, match="ONNX Runtime here runs on .*CPUExecutionProvider.*got device .GPU."):
        load(tiny_folder / "generator.onnx", device="GPU")


def test_auto_device_runs(tiny_folder):
    assert load(tiny_folder / "generator.xml", device="AUTO").run(np.zeros((2, 16)))[0].shape == (2, 8, 8, 1)


def test_the_registry_names_every_backend_once():
    assert [b.suffix for b in backends.BACKENDS] == [".xml", ".onnx", ".keras"]
    assert backends.named("ONNX Runtime") is backends.named("onnx") is backends.for_path("a/b.onnx")
    assert len(backends.BENCH_METHODS) == len(set(backends.BENCH_METHODS)) == 9
    with pytest.raises(GanLabError, match="Unknown backend 'tflite'"):
        backends.named("tflite")
