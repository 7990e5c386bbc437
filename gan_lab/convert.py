"""Keras -> ONNX (tf2onnx) -> OpenVINO IR (the API behind `ovc`), INT8 through NNCF, for any Keras
model whose inputs are arrays: a latent, a latent and a class label, an image. Each step is
checked against Keras on inputs of the model's own kind (the parity gate).

    convert("models/mnist/generator.keras", "models/mnist", int8=True)
    convert(a2b_model, "runs/cyclegan", stem="a2b", images=faces_uint8)

Files are written to a temporary folder beside the output and moved into place only after
parity passes, so a failed conversion leaves nothing behind.
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

import nncf
import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import tensorflow as tf
import tf2onnx

from gan_lab import images, latent, modelfolder, paths
from gan_lab.data import procedural_faces
from gan_lab.errors import GanLabError
from gan_lab.models.io import input_specs, load_keras, outputs_of
from gan_lab.runtime import runner as runtime_runner

# Max abs difference from Keras on a [-1, 1] image that a conversion may show. Chosen from
# measurement (notebook 02): FP32 lands near 1e-6, FP16 weights near 1e-3.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
DEFAULT_OPSET = 17
STEMS = ("generator", "mapping", "synthesis", "a2b", "b2a", "sr", "classifier")


def input_kind(shape, dtype) -> str:
    """'label' (whole numbers), 'latent' (n, d), 'styles' (n, layers, d: a synthesis network's per-layer
    ws) or 'image' (n, h, w, c): what to feed an input."""
    if np.dtype(dtype).kind in "iu":
        return "label"
    kind = {2: "latent", 3: "styles", 4: "image"}.get(len(shape))
    if kind is None:
        raise GanLabError(f"Cannot convert an input of shape {shape}: gan_lab converts latents (n, d), per-layer "
                          "styles (n, layers, d), class labels and images (n, h, w, c).")
    return kind


def sample_inputs(specs, n, seed=0, pictures=None, num_classes=None, value_range=(-1.0, 1.0), size=64) -> list:
    """Inputs of each input's kind: latents from the prior N(0, I), labels uniform over the classes,
    images from `pictures` (uint8 or float in `value_range`) or else procedural faces."""
    rng, out = np.random.default_rng(seed), []
    for name, shape, dtype in specs:
        kind = input_kind(shape, dtype)
        if kind == "latent":
            out.append(latent.sample(n, int(shape[1]), seed))
        elif kind == "styles":  # N(0, I) like a latent: the check is numerical, any typical scale will do
            out.append(rng.standard_normal((n, *shape[1:])).astype(np.float32))
        elif kind == "label":
            if not num_classes:
                raise GanLabError(f"Input {name!r} takes class labels: pass num_classes (or set it in model.json).")
            out.append(rng.integers(0, num_classes, (n, *shape[1:])).astype(dtype))
        else:
            out.append(_images(pictures, n, shape, value_range, size, seed))
    return out


def _images(pictures, n, shape, value_range, size, seed) -> np.ndarray:
    h, w, c = (d or size for d in shape[1:])
    if pictures is not None and None in shape[1:3]:  # a fully convolutional model: the pictures' size
        h, w = np.shape(pictures)[1:3]
    if pictures is None:
        pictures = procedural_faces.faces(n, size=max(h, w), seed=seed)["images"][:, :h, :w]
        pictures = pictures.mean(-1, keepdims=True).astype(np.uint8) if c == 1 else pictures
    pictures = np.asarray(pictures)[:n]
    if pictures.shape[1:] != (h, w, c):
        raise GanLabError(f"The model takes images of shape ({h}, {w}, {c}); the images given are {pictures.shape[1:]}.")
    return images.to_float(pictures, value_range)


OUTPUT_NAMES = {"mapping": "w"}  # every other network's output is an image


def _io_names(specs, n_outputs, stem="generator") -> tuple:
    """ONNX names: z / ws / label / image for the inputs, image (or output, or w) for the outputs."""
    kinds = [input_kind(s, d) for _, s, d in specs]
    names = [{"latent": "z", "styles": "ws"}.get(k, k) for k in kinds]
    names = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
    out = OUTPUT_NAMES.get(stem) or ("output" if "image" in names else "image")
    return names, [out] if n_outputs == 1 else [f"{out}_{i}" for i in range(n_outputs)]


def to_onnx(model, path, opset=DEFAULT_OPSET, batch=None, shapes=None, stem="generator") -> Path:
    """Keras -> ONNX via tf2onnx: the model traced in a tf.function with an input signature
    (tf2onnx's `from_keras` does not work with Keras 3). A None first dimension is named "batch".
    `shapes`: the input shapes to trace (default the model's own), e.g. a fully convolutional
    model's image size fixed to the size its parity was checked at."""
    specs = input_specs(model, getattr(model, "name", "model"))
    in_names, out_names = _io_names(specs, len(outputs_of(model, specs)), stem)
    shapes = shapes or [shape for _, shape, _ in specs]
    signature = [tf.TensorSpec((batch, *shape[1:]), tf.as_dtype(dtype), name=name)
                 for (_, _, dtype), shape, name in zip(specs, shapes, in_names)]

    @tf.function(input_signature=signature)
    def run(*xs):
        out = model(list(xs) if len(xs) > 1 else xs[0], training=False)
        return dict(zip(out_names, out if isinstance(out, (list, tuple)) else [out]))

    proto, _ = tf2onnx.convert.from_function(run, input_signature=signature, opset=opset)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        if dim.dim_param:  # tf2onnx names the dynamic batch "unk__N"; say what it is
            dim.dim_param = "batch"
    onnx.save(proto, str(path))
    return optimize_onnx(path)


def optimize_onnx(path) -> Path:
    """Rewrite an ONNX file with ONNX Runtime's basic graph optimisations (constant folding, redundant
    nodes removed, its transpose optimiser, MatMul + Add fused into Gemm): only the hardware-independent
    level, so the file stays portable ONNX of the same opset.

    Why: tf2onnx wraps every NHWC convolution in a pair of Transposes. In the style-based generator some
    of them also feed a Shape (nearest upsampling reads the shape of its input), which kept OpenVINO from
    cancelling them: it ran 31 Transposes as layers of their own, 43% of its time at batch 64, and was
    slower than ONNX Runtime. ONNX Runtime rewrites Shape(Transpose(x)) as a Gather of Shape(x); then
    OpenVINO keeps 5 and runs that model 2x faster."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    optimized = Path(path).with_name("optimized-" + Path(path).name)
    options.optimized_model_filepath = str(optimized)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    model = onnx.load(str(optimized))
    optimized.unlink()
    used = {node.domain for node in model.graph.node} | {""}
    kept = [op for op in model.opset_import if op.domain in used]  # ORT lists every domain it knows
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.save(model, str(path))
    return Path(path)


def _read_onnx(onnx_path, batch):
    model = ov.convert_model(str(onnx_path))
    if batch is not None:
        model.reshape({i: [batch, *list(p.get_partial_shape())[1:]] for i, p in enumerate(model.inputs)})
    return model


def to_ir(onnx_path, xml_path, batch=None, fp16=True) -> Path:
    """ONNX -> OpenVINO IR with openvino.convert_model + save_model (the API behind `ovc`)."""
    ov.save_model(_read_onnx(onnx_path, batch), str(xml_path), compress_to_fp16=fp16)
    return Path(xml_path)


def ovc_command(onnx_path, out_dir, stem="generator", batch=None, shapes=None, fp16=True) -> str:
    """The equivalent command line (mo's --input_shape/--data_type became --input/--compress_to_fp16)."""
    cmd = f"ovc {onnx_path} --output_model {Path(out_dir) / (stem + '.xml')}"
    if batch is not None and shapes:
        cmd += " --input " + ",".join("[" + ",".join(str(d) for d in (batch, *s[1:])) + "]" for s in shapes)
    return cmd + ("" if fp16 else " --compress_to_fp16=False")


def quantize_int8(onnx_path, out_xml, calibration, batch=None) -> Path:
    """INT8 post-training quantisation with NNCF of the FP32 model, calibrated one sample at a
    time on `calibration` (a list of input arrays of the model's own kind)."""
    model = _read_onnx(onnx_path, batch)
    rows = batch or 1
    items = [[a[i:i + rows] for a in calibration] for i in range(0, len(calibration[0]) - rows + 1, rows)]
    quantized = nncf.quantize(model, nncf.Dataset(items), subset_size=len(items))
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return Path(out_xml)


def parity(reference, candidate) -> dict:
    """Max and mean absolute difference between two float batches (or lists of them)."""
    pairs = zip(reference, candidate) if isinstance(reference, list) else [(reference, candidate)]
    diffs = [np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) for a, b in pairs]
    return {"max_abs": float(max(d.max() for d in diffs)), "mean_abs": float(np.mean([d.mean() for d in diffs]))}


def _gate(step, figures, tolerance):
    if not figures["max_abs"] <= tolerance:
        raise GanLabError(f"Parity check failed at {step}: max |difference| from Keras is {figures['max_abs']:.2e}, "
                          f"above the tolerance {tolerance:.0e}. Nothing was written.")


def _ir_metadata(xml_path, info):
    model = ov.Core().read_model(str(xml_path))
    for key, value in info.items():
        model.set_rt_info(str(value), ["gan_lab", key])
    tmp = Path(xml_path).with_name("meta-" + Path(xml_path).name)
    ov.save_model(model, str(tmp), compress_to_fp16=False)  # weights already in their final precision
    os.replace(tmp, xml_path)
    os.replace(tmp.with_suffix(".bin"), Path(xml_path).with_suffix(".bin"))


def _run(path, inputs) -> list:
    return runtime_runner.load(path).run(*inputs)


def convert(keras_model, out_dir, stem="generator", opset=DEFAULT_OPSET, batch=None, fp32=False, int8=False,
            parity_samples=None, seed=0, value_range=None, num_classes=None, images=None, image_size=64,
            fp32_fallback=False, verbose=True) -> dict:
    """Convert a Keras model (a .keras path or a model) to `stem`.onnx, `stem`.xml and optionally
    `stem`-int8.xml in `out_dir`, each checked against Keras on the same inputs.

    value_range, num_classes: the model's output range and number of classes (default: from the
    model.json beside the .keras file, else [-1, 1] and none); images: uint8 pictures for the parity
    and calibration of an image input (default: procedural faces); parity_samples: 1,000 latents,
    or 64 images; fp32_fallback: when the FP16 IR misses its gate, convert the same ONNX again with FP32
    weights (a barely trained generator's outputs reach far beyond the image range, where FP16 weights
    err by more than 1e-2) and record the miss. Returns the report that is also merged into out_dir/model.json."""
    start = time.perf_counter()
    if stem not in STEMS:
        raise GanLabError(f"Unknown file stem {stem!r}; gan_lab names its networks {', '.join(STEMS)}.")
    keras_path, model = (Path(keras_model), load_keras(keras_model)) if isinstance(keras_model, (str, os.PathLike)) \
        else (None, keras_model)
    source_info = modelfolder.read_info(keras_path.parent) if keras_path else {}
    value_range = [float(v) for v in (value_range or source_info.get("value_range") or (-1.0, 1.0))]
    num_classes = num_classes or source_info.get("num_classes")
    specs = input_specs(model, keras_path or model.name)
    kinds = [input_kind(s, d) for _, s, d in specs]
    n = parity_samples or (1000 if "image" not in kinds else 64 if images is None else min(64, len(images)))
    inputs = sample_inputs(specs, n, seed, images, num_classes, value_range, image_size)
    reference = _keras_outputs(model, inputs)
    shapes = [(None, *a.shape[1:]) for a in inputs]  # traced at the checked size: static shapes run fastest
    out_dir = paths.writable_dir(out_dir)
    precision = "fp32" if fp32 else "fp16"
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=out_dir))
    try:
        to_onnx(model, work / f"{stem}.onnx", opset, batch, shapes, stem)
        onnx_fig = parity(reference, _run(work / f"{stem}.onnx", inputs))
        _gate("Keras -> ONNX", onnx_fig, TOLERANCE["fp32"])
        to_ir(work / f"{stem}.onnx", work / f"{stem}.xml", batch, fp16=not fp32)
        ir_fig = parity(reference, _run(work / f"{stem}.xml", inputs))
        missed = {}
        if fp32_fallback and not fp32 and not ir_fig["max_abs"] <= TOLERANCE["fp16"]:
            missed, precision, fp32 = {"ir_fp16_missed": ir_fig}, "fp32", True
            to_ir(work / f"{stem}.onnx", work / f"{stem}.xml", batch, fp16=False)
            ir_fig = parity(reference, _run(work / f"{stem}.xml", inputs))
        _gate(f"ONNX -> IR ({precision})", ir_fig, TOLERANCE[precision])
        report = {"source_model": str(keras_path or model.name), "inputs": _describe(specs, kinds, shapes),
                  "opset": opset, "batch": batch, "ir_precision": precision,
                  "parity": {"samples": n, "inputs": "/".join(kinds), "onnx": onnx_fig, **missed,
                             f"ir_{precision}": ir_fig},
                  "ovc_command": ovc_command(f"{stem}.onnx", out_dir, stem, batch, shapes, not fp32)}
        if int8:
            calibration = sample_inputs(specs, 300 if images is None else len(images), seed + 1, images, num_classes,
                                        value_range, image_size)
            quantize_int8(work / f"{stem}.onnx", work / f"{stem}-int8.xml", calibration, batch)
            report["parity"]["ir_int8"] = parity(reference, _run(work / f"{stem}-int8.xml", inputs))
        meta = {"stem": stem, "inputs": report["inputs"], "value_range": value_range, **_shapes(specs, reference),
                "source_model": report["source_model"], "parity_max_abs": ir_fig["max_abs"]}
        for xml in work.glob("*.xml"):
            _ir_metadata(xml, meta)
        for path in work.iterdir():
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["sizes_bytes"] = {p.name: p.stat().st_size for p in sorted(out_dir.glob(f"{stem}*"))
                             if p.suffix in (".onnx", ".xml", ".bin") and p.name.split(".")[0].split("-")[0] == stem}
    report["convert_seconds"] = round(time.perf_counter() - start, 1)
    modelfolder.ModelFolder(out_dir).record_conversion(stem, report, value_range=value_range,
                                                       num_classes=num_classes, shapes=_shapes(specs, reference))
    if verbose:
        print(parity_table(report))
    return report


def _keras_outputs(model, inputs, chunk=250) -> list:
    parts = []
    for i in range(0, len(inputs[0]), chunk):
        xs = [a[i:i + chunk] for a in inputs]
        out = model(xs if len(xs) > 1 else xs[0], training=False)
        parts.append([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
    outs = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    return outs if len(outs) > 1 else outs[0]


def _describe(specs, kinds, shapes) -> list:
    """The converted model's inputs (their ONNX / IR names) for model.json."""
    names, _ = _io_names(specs, 1)
    return [{"name": name, "kind": kind, "shape": ["batch", *shape[1:]], "dtype": np.dtype(dtype).name}
            for name, (_, _, dtype), kind, shape in zip(names, specs, kinds, shapes)]


def _shapes(specs, reference) -> dict:
    """latent_dim / image_shape for model.json, where the model has them."""
    first = reference[0] if isinstance(reference, list) else reference
    out = {"image_shape": list(first.shape[1:])}
    latents = [s for _, s, d in specs if input_kind(s, d) == "latent"]
    if latents:
        out["latent_dim"] = int(latents[0][1])
    return out


def parity_table(report) -> str:
    rows = [f"{'step':18s} {'max |diff|':>11s} {'mean |diff|':>12s}"]
    for step, fig in report["parity"].items():
        if isinstance(fig, dict):
            rows.append(f"{step:18s} {fig['max_abs']:11.2e} {fig['mean_abs']:12.2e}")
    kind = report["parity"].get("inputs", "latent").replace("latent", "latents").replace("image", "images")
    rows.append(f"(against Keras on {report['parity']['samples']:,} {kind})")
    return "\n".join(rows)
