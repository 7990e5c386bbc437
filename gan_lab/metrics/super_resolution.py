"""How good an upscaler is: PSNR and SSIM against the true large drawings of held-out procedural
faces, beside plain bilinear, and its OpenVINO latency; `make_folder` builds models/face-sr."""

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from gan_lab import convert, images, modelfolder
from gan_lab.bench import time_requests
from gan_lab.data import procedural_faces
from gan_lab.runtime import Upscaler, load_upscaler
from gan_lab.training import super_resolution
from gan_lab.training.super_resolution import HELDOUT_SEED, LOW


def scores(truth, guess, chunk=50) -> dict:
    """Mean PSNR (dB) and SSIM of uint8 `guess` against uint8 `truth`."""
    psnr, ssim = [], []
    for i in range(0, len(truth), chunk):
        a, b = (tf.constant(v[i:i + chunk], tf.float32) for v in (truth, guess))
        psnr.append(tf.image.psnr(a, b, max_val=255.0).numpy())
        ssim.append(tf.image.ssim(a, b, max_val=255.0).numpy())
    return {"psnr": round(float(np.concatenate(psnr).mean()), 3), "ssim": round(float(np.concatenate(ssim).mean()), 4)}


def compare(upscaler, n=200, size=256, seed=HELDOUT_SEED) -> dict:
    """Mean PSNR and SSIM of bilinear and of `upscaler` against the true size-px drawings of n
    held-out faces, both starting from the same 64-px area averages."""
    return compare_all({"sr": upscaler}, n, size, seed)


def compare_all(upscalers, n, size, seed=HELDOUT_SEED) -> dict:
    """`compare` for several upscalers {name: Upscaler} on the same faces."""
    if size not in Upscaler.SIZES:
        raise ValueError(f"size must be one of {Upscaler.SIZES}")
    truth = procedural_faces.faces(n, size=size, seed=seed)["images"]
    low = images.downsample(truth, size // LOW)
    figures = {name: scores(truth, up.upscale(low, size)) for name, up in upscalers.items()}
    return {"n": n, "size": size, "seed": seed, "bilinear": scores(truth, images.bilinear(low, size)), **figures}


def latency_ms(upscaler, size=256, seconds=2.0) -> dict:
    """Median and p95 time of one 64 -> size upscale (uint8 in, uint8 out), after warm-up."""
    _, times = time_requests(lambda x: upscaler.upscale(x, size), lambda: np.zeros((1, LOW, LOW, 3), np.uint8),
                             seconds=seconds)
    return {"median": round(float(np.median(times)), 3), "p95": round(float(np.percentile(times, 95)), 3),
            "size": size, "requests": len(times)}


def make_folder(out_dir, n_eval=200, **train_kwargs) -> dict:
    """Everything behind models/face-sr: train, convert, score each backend on held-out faces and
    time OpenVINO; all of it recorded in model.json with the call that reproduces it."""
    args = "".join(f", {k}={json.dumps(v) if isinstance(v, str) else v!r}" for k, v in train_kwargs.items())
    call = f"super_resolution.make_folder({json.dumps(str(out_dir))}{args}, n_eval={n_eval})"
    command = f"python -c 'from gan_lab.metrics import super_resolution; {call}'"
    start = time.perf_counter()
    super_resolution.train(out_dir, **train_kwargs)
    low = training_low(32)
    convert.convert(Path(out_dir) / "sr.keras", out_dir, stem="sr", images=low, value_range=(0.0, 1.0),
                    parity_samples=32, verbose=False)
    folder = Path(out_dir)
    ov_upscaler = load_upscaler(folder / "sr.xml")
    backends = {"sr": load_upscaler(folder / "sr.keras"), "sr_onnx": load_upscaler(folder / "sr.onnx"),
                "sr_openvino": ov_upscaler}
    info = {"quality": compare_all(backends, n_eval, 256), "openvino_latency_ms": latency_ms(ov_upscaler),
            "command": command, "make_seconds": round(time.perf_counter() - start, 1)}
    modelfolder.write_info(out_dir, **info)
    return modelfolder.read_info(out_dir)


def training_low(n, seed=HELDOUT_SEED) -> np.ndarray:
    """n held-out 64-px faces (uint8), as an upscaler receives them."""
    return super_resolution.training_pairs(n, seed=seed)[0]
