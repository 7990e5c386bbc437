"""Keras -> ONNX (tf2onnx) -> OpenVINO IR (ovc API), INT8 through NNCF, each step checked
against Keras on the same latents (the parity gate).

Files are written to a temporary folder beside the output and moved into place only
after parity passes, so a failed conversion leaves nothing behind.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from gan_lab import modelfolder
from gan_lab.errors import GanLabError

# Max abs difference from Keras on a [-1, 1] image that a conversion may show. Chosen from
# measurement (notebook 02): FP32 lands near 1e-6, FP16 weights near 1e-3.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
DEFAULT_OPSET = 17


def load_keras(path):
    """Load a .keras model with safe_mode; say plainly when safe_mode refuses it."""
    import keras

    path = Path(path)
    if not path.exists():
        raise GanLabError(f"{path} does not exist.")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as err:
        if "safe_mode" in str(err) or "Lambda" in str(err):
            raise GanLabError(f"{path} contains a Lambda layer (arbitrary Python code), which gan_lab refuses "
                              "to load (safe_mode=True). Rebuild the model with standard layers.") from err
        raise GanLabError(f"{path} is not a loadable Keras model ({err}).") from err
    except Exception as err:
        raise GanLabError(f"{path} is not a loadable Keras model ({err}).") from err


def generator_signature(model, name="model"):
    """(latent_dim, image_shape) of a single-latent generator, or a GanLabError.

    Functional and Sequential models declare their inputs; a subclassed model is read from
    the shape it was built with, and its image shape from one forward pass.
    """
    if getattr(model, "inputs", None):
        shapes = [tuple(t.shape) for t in model.inputs]
        outputs = len(model.outputs)
    else:
        built = getattr(model, "_build_shapes_dict", None) or {}
        if not built:
            raise GanLabError(f"{name} has no known input shape; call it once on a latent batch before converting.")
        shapes = [tuple(s) for s in built.values()]
        outputs = 1
    if len(shapes) != 1 or outputs != 1 or len(shapes[0]) != 2 or shapes[0][1] is None:
        raise GanLabError(f"{name} takes inputs {shapes} and has {outputs} output(s): not a single-latent "
                          "generator (one latent vector (n, d) in, one image out).")
    latent_dim = int(shapes[0][1])
    if getattr(model, "outputs", None):
        image_shape = model.outputs[0].shape[1:]
    else:
        image_shape = model(np.zeros((1, latent_dim), np.float32), training=False).shape[1:]
    return latent_dim, tuple(int(d) for d in image_shape)


def to_onnx(model, path, opset=DEFAULT_OPSET, batch=None) -> Path:
    """A generator to ONNX: input `z` (batch, latent_dim), output `image`."""
    latent_dim, _ = generator_signature(model)
    return trace_to_onnx(model, path, (batch, latent_dim), "z", "image", opset)


def trace_to_onnx(model, path, input_shape, input_name, output_name, opset=DEFAULT_OPSET) -> Path:
    """Keras -> ONNX via tf2onnx: trace the model in a tf.function with an input signature
    (tf2onnx's `from_keras` does not work with Keras 3). A None first dimension is named "batch"."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec(input_shape, tf.float32, name=input_name)]

    @tf.function(input_signature=spec)
    def run(x):
        return {output_name: model(x, training=False)}

    proto, _ = tf2onnx.convert.from_function(run, input_signature=spec, opset=opset)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if dim.dim_param:  # tf2onnx names the dynamic batch "unk__N"; say what it is
            dim.dim_param = "batch"
    onnx.save(proto, str(path))
    return Path(path)


def to_ir(onnx_path, xml_path, batch=None, fp16=True):
    """ONNX -> OpenVINO IR with openvino.convert_model + save_model (the API behind `ovc`)."""
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    if batch is not None:
        model.reshape({0: [batch, model.inputs[0].get_partial_shape()[1].get_length()]})
    ov.save_model(model, str(xml_path), compress_to_fp16=fp16)
    return Path(xml_path)


def ovc_command(onnx_path, out_dir, batch=None, latent_dim=None, fp16=True) -> str:
    """The equivalent command line (mo's --input_shape/--data_type became --input/--compress_to_fp16)."""
    cmd = f"ovc {onnx_path} --output_model {Path(out_dir) / 'generator.xml'}"
    if batch is not None:
        cmd += f" --input [{batch},{latent_dim}]"
    return cmd + ("" if fp16 else " --compress_to_fp16=False")


def quantize_int8(onnx_path, out_xml, latent_dim, batch=None, samples=300, seed=0):
    """INT8 post-training quantisation with NNCF of the FP32 model, calibrated on latents
    from the prior N(0, I)."""
    import nncf
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    if batch is not None:
        model.reshape({0: [batch, latent_dim]})
    calib = np.random.default_rng(seed).standard_normal((samples, batch or 1, latent_dim)).astype(np.float32)
    quantized = nncf.quantize(model, nncf.Dataset(list(calib)), subset_size=samples)
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return Path(out_xml)


def parity(reference, candidate) -> dict:
    """Max and mean absolute difference between two float image batches."""
    diff = np.abs(np.asarray(reference, np.float64) - np.asarray(candidate, np.float64))
    return {"max_abs": float(diff.max()), "mean_abs": float(diff.mean())}


def _gate(step, figures, tolerance):
    if not figures["max_abs"] <= tolerance:
        raise GanLabError(f"Parity check failed at {step}: max |difference| from Keras is {figures['max_abs']:.2e}, "
                          f"above the tolerance {tolerance:.0e}. Nothing was written.")


def _ir_metadata(xml_path, info):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(xml_path))
    for key, value in info.items():
        model.set_rt_info(str(value), ["gan_lab", key])
    tmp = Path(xml_path).with_name("meta-" + Path(xml_path).name)
    ov.save_model(model, str(tmp), compress_to_fp16=False)  # weights already in their final precision
    os.replace(tmp, xml_path)
    os.replace(tmp.with_suffix(".bin"), Path(xml_path).with_suffix(".bin"))


def convert(keras_model, out_dir, opset=DEFAULT_OPSET, batch=None, fp32=False, int8=False,
            parity_samples=1000, seed=0, value_range=None, verbose=True) -> dict:
    """Convert a Keras generator (a .keras path or a model) to ONNX, IR and optionally INT8 IR
    in `out_dir`, each checked against Keras on the same latents.

    value_range: the generator's output range (default: from model.json beside the .keras
    file, else [-1, 1]). Returns the report that is also merged into out_dir/model.json.
    """
    from gan_lab.paths import writable_dir
    from gan_lab.runtime import OnnxGenerator, OpenVINOGenerator

    start = time.perf_counter()
    if isinstance(keras_model, (str, os.PathLike)):
        keras_path, model = Path(keras_model), load_keras(keras_model)
        value_range = value_range or modelfolder.read_info(keras_path.parent).get("value_range")
    else:
        keras_path, model = None, keras_model
    value_range = [float(v) for v in (value_range or (-1.0, 1.0))]
    latent_dim, image_shape = generator_signature(model, keras_path or model.name)
    out_dir = writable_dir(out_dir)
    z = np.random.default_rng(seed).standard_normal((parity_samples, latent_dim)).astype(np.float32)
    reference = np.concatenate([np.asarray(model(z[i:i + 250], training=False)) for i in range(0, len(z), 250)])
    precision = "fp32" if fp32 else "fp16"
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        to_onnx(model, work / "generator.onnx", opset, batch)
        onnx_fig = parity(reference, OnnxGenerator(work / "generator.onnx").generate_raw(z))
        _gate("Keras -> ONNX", onnx_fig, TOLERANCE["fp32"])
        to_ir(work / "generator.onnx", work / "generator.xml", batch, fp16=not fp32)
        ir_fig = parity(reference, OpenVINOGenerator(work / "generator.xml").generate_raw(z))
        _gate(f"ONNX -> IR ({precision})", ir_fig, TOLERANCE[precision])
        report = {"source_model": str(keras_path or model.name), "latent_dim": latent_dim, "image_shape": list(image_shape),
                  "opset": opset, "batch": batch, "ir_precision": precision,
                  "parity": {"samples": parity_samples, "onnx": onnx_fig, f"ir_{precision}": ir_fig},
                  "ovc_command": ovc_command("generator.onnx", out_dir, batch, latent_dim, not fp32)}
        if int8:
            quantize_int8(work / "generator.onnx", work / "generator-int8.xml", latent_dim, batch, seed=seed)
            report["parity"]["ir_int8"] = parity(reference, OpenVINOGenerator(work / "generator-int8.xml").generate_raw(z))
        meta = {"latent_dim": latent_dim, "image_shape": list(image_shape), "value_range": value_range,
                "source_model": report["source_model"], "parity_max_abs": ir_fig["max_abs"]}
        for xml in work.glob("*.xml"):
            _ir_metadata(xml, meta)
        for path in work.iterdir():
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["sizes_bytes"] = {p.name: p.stat().st_size for p in sorted(out_dir.glob("generator*")) if p.suffix != ".json"}
    report["convert_seconds"] = round(time.perf_counter() - start, 1)
    modelfolder.write_info(out_dir, value_range=value_range, conversion=report, latent_dim=latent_dim,
                           image_shape=list(image_shape))
    if verbose:
        print(parity_table(report))
    return report


def parity_table(report) -> str:
    rows = [f"{'step':18s} {'max |diff|':>11s} {'mean |diff|':>12s}"]
    for step, fig in report["parity"].items():
        if isinstance(fig, dict):
            rows.append(f"{step:18s} {fig['max_abs']:11.2e} {fig['mean_abs']:12.2e}")
    rows.append(f"(against Keras on {report['parity']['samples']:,} latents)")
    return "\n".join(rows)
