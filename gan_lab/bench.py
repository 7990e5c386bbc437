"""Generation speed, side by side: Keras (predict, eager, tf.function with and without XLA),
ONNX Runtime, OpenVINO as a user would first call it (sync, LATENCY hint), async
(AsyncInferQueue, THROUGHPUT hint), and gan_lab's own OpenVINO path (FP32/FP16 and INT8).

Each backend runs requests of a given batch size for a fixed time, several times over; the
repeats of all backends are interleaved, so a slow spell of a shared machine hits them all
alike. Figures are medians over repeats, with their spread. CPU use per core is sampled during
each run, and achieved FLOP/s is set against an SGEMM probe of this machine's peak.
"""

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import openvino as ov
import psutil
import tensorflow as tf
from tqdm.auto import tqdm

from gan_lab import backends as registry
from gan_lab.errors import GanLabError
from gan_lab.flops import describe_machine, flops_per_image, sgemm_peak  # noqa: F401 (part of bench's API)
from gan_lab.modelfolder import ModelFolder
from gan_lab.models.io import load_keras
from gan_lab.runtime import load, load_generator

BACKENDS = registry.BENCH_METHODS  # the ways of running each backend of the registry, in table order
DEFAULT_BATCHES = (1, 8, 64, 256)
SETTLE = 0.2  # seconds of quiet before each timed repeat: thread pools of the previous backend
#               (ONNX Runtime's spin, TBB's, TensorFlow's) stop competing for the cores


@dataclass
class Result:
    model: str
    backend: str
    batch: int
    images_per_s: float  # median over repeats
    images_per_s_spread: tuple  # (min, max) over repeats
    p50_ms: float  # per request
    p95_ms: float
    cpu_percent: list  # mean per core during the runs
    flops_per_image: float
    peak_share: float = float("nan")  # achieved FLOP/s / SGEMM peak
    cpu_timeline: list = field(default_factory=list, repr=False)  # (seconds since start, per-core %)


class CpuSampler:
    """Per-core CPU use (psutil) sampled in a background thread; times relative to `t0`."""

    def __init__(self, interval=0.1, t0=None):
        self.interval, self.samples, self._stop = interval, [], threading.Event()
        self.t0 = time.perf_counter() if t0 is None else t0

    def __enter__(self):
        psutil.cpu_percent(percpu=True)  # the first call only primes the counters
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        # The kernel books a core's idle time at its first tick after waking, so the first sample
        # holds idle time from before the run (a busy loop read 0-50%): it is dropped.
        if self._stop.wait(self.interval):
            return
        psutil.cpu_percent(percpu=True)
        while not self._stop.wait(self.interval):
            self.samples.append((time.perf_counter() - self.t0, psutil.cpu_percent(percpu=True)))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def mean_per_core(self):
        return _mean_per_core(self.samples)


def find_variants(path) -> dict:
    """The generator files of a model folder, by variant (keras, onnxruntime, openvino,
    openvino-int8), found beside `path`."""
    path = Path(path)
    found = ModelFolder(path if path.is_dir() else path.parent).files("generator")
    if not path.is_dir() and path.exists():
        backend = registry.for_path(path).name
        found["openvino-int8" if backend == "openvino" and "int8" in path.name else backend] = path
    if not found:
        raise GanLabError(f"No generator files found at {path}.")
    return found


def time_requests(run, make_input, seconds=1.0, warmup=3, min_requests=5):
    """Run `run(x)` repeatedly for about `seconds`; return (images/s, latencies in ms)."""
    x = make_input()
    for _ in range(warmup):
        run(x)
    latencies, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(latencies) < min_requests:
        t = time.perf_counter()
        run(x)
        latencies.append((time.perf_counter() - t) * 1e3)
    elapsed = time.perf_counter() - start
    return len(latencies) * len(x) / elapsed, latencies


def save_json(results, path, **extra) -> Path:
    path = Path(path)
    path.write_text(json.dumps({**extra, "results": [asdict(r) for r in results]}, indent=1, default=float))
    return path


def _keras_runners(path):
    model = load_keras(path)
    plain = tf.function(lambda z: model(z, training=False), jit_compile=False, reduce_retracing=True)
    xla = tf.function(lambda z: model(z, training=False), jit_compile=True, reduce_retracing=True)
    return model, {
        "keras-predict": lambda z: model.predict(z, batch_size=len(z), verbose=0),
        "keras-eager": lambda z: keras.ops.convert_to_numpy(model(z, training=False)),
        "tf-function": lambda z: plain(z).numpy(),
        "tf-function-xla": lambda z: xla(z).numpy(),
    }


def _onnx_runner(path):
    """ONNX Runtime's own call, without gan_lab's checks around it."""
    session = load(path).session
    name = session.get_inputs()[0].name
    return lambda z: session.run(None, {name: z})[0]


def _openvino_sync(path, hint="LATENCY"):
    """OpenVINO as a user first calls it: the dynamic-shape IR, one request, a dict of inputs."""
    compiled = ov.Core().compile_model(str(path), "CPU", {"PERFORMANCE_HINT": hint})
    request = compiled.create_infer_request()
    return lambda z: request.infer({0: z})[0]


class _AsyncRunner:
    """OpenVINO AsyncInferQueue with the THROUGHPUT hint: as many requests in flight as the
    plugin recommends; one call pushes `jobs` batches and waits for all of them."""

    def __init__(self, path):
        compiled = ov.Core().compile_model(str(path), "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        self.jobs = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.queue = ov.AsyncInferQueue(compiled, self.jobs)
        self.queue.set_callback(self._done)
        self.latencies = []  # ms from start_async to completion, per request

    def _done(self, request, started):
        self.latencies.append((time.perf_counter() - started) * 1e3)

    def __call__(self, z):
        for _ in range(self.jobs):
            self.queue.start_async({0: z}, time.perf_counter())
        self.queue.wait_all()


def _gan_lab_openvino(path):
    """What `load_generator(path).generate` does with its defaults."""
    return load_generator(path).generate_raw


def runners(variants, backends=BACKENDS):
    """{backend: callable(z)} for the requested backends whose files exist."""
    out = {}
    if "keras" in variants and set(registry.named("keras").bench) & set(backends):
        _, ks = _keras_runners(variants["keras"])
        out.update({k: v for k, v in ks.items() if k in backends})
    if "onnxruntime" in variants and "onnxruntime" in backends:
        out["onnxruntime"] = _onnx_runner(variants["onnxruntime"])
    makers = {"openvino-sync": ("openvino", _openvino_sync), "openvino-async": ("openvino", _AsyncRunner),
              "openvino-gan_lab": ("openvino", _gan_lab_openvino),
              "openvino-int8": ("openvino-int8", _gan_lab_openvino)}
    for backend, (variant, make) in makers.items():
        if variant in variants and backend in backends:
            out[backend] = make(variants[variant])
    return out


def run(path, batches=DEFAULT_BATCHES, backends=BACKENDS, seconds=1.0, repeats=3, peak=None, progress=True):
    """Benchmark one generator (and the other formats beside it); returns a list of Result."""
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise GanLabError(f"Unknown backend(s) {sorted(unknown)}; choose from {', '.join(BACKENDS)}.")
    variants = find_variants(path)
    if "keras" not in variants:
        raise GanLabError(f"Benchmarks need generator.keras beside {path} (to count FLOPs and as the reference).")
    reference = load_keras(variants["keras"])
    flops, latent_dim = flops_per_image(reference), reference.inputs[0].shape[-1]
    fns = runners(variants, backends)
    results, t0 = [], time.perf_counter()
    with tqdm(total=len(fns) * len(batches) * repeats, desc=_model_name(path), unit="run",
              disable=not progress) as bar:
        for batch in batches:
            z = lambda: np.random.default_rng(batch).standard_normal((batch, latent_dim)).astype(np.float32)  # noqa: E731
            runs = {backend: ([], [], []) for backend in fns}  # rates, latencies, CPU samples
            for _ in range(repeats):  # interleaved: repeat 1 of every backend, then repeat 2, ...
                for backend, fn in fns.items():
                    _measure_once(fn, z, seconds, t0, *runs[backend])
                    bar.update(1)
            for backend, (rates, lat, samples) in runs.items():
                rate = float(np.median(rates))
                results.append(Result(str(path), backend, batch, rate, (min(rates), max(rates)),
                                      float(np.percentile(lat, 50)), float(np.percentile(lat, 95)),
                                      _mean_per_core(samples), flops,
                                      rate * flops / (peak * 1e9) if peak else float("nan"), samples))
    return results


def _model_name(path):
    path = Path(path)
    return (path if path.is_dir() else path.parent).name or str(path)


def _measure_once(fn, make_input, seconds, t0, rates, latencies, samples):
    """One timed repeat of `fn`; appends its images/s, request latencies and CPU samples."""
    if hasattr(fn, "latencies"):
        fn.latencies = []
    time.sleep(SETTLE)
    with CpuSampler(t0=t0) as cpu:
        rate, ms = time_requests(fn, make_input, seconds)
    rates.append(rate * getattr(fn, "jobs", 1))  # an async call runs `jobs` requests at once
    latencies.extend(fn.latencies if hasattr(fn, "latencies") else ms)  # async: per request, from the callback
    samples.extend(cpu.samples)


def _mean_per_core(samples):
    return [float(v) for v in np.mean([s for _, s in samples], axis=0)] if samples else []


def layer_profile(path, batch, calls=50, config=None) -> list:
    """Where OpenVINO spends its time: per executed node, mean microseconds per call, its share,
    and achieved GFLOP/s for the matrix layers (FullyConnected, (De)Convolution)."""
    core = ov.Core()
    model = core.read_model(path)
    model.reshape([batch, model.inputs[0].get_partial_shape()[1].get_length()])
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True, **(config or {})})
    request = compiled.create_infer_request()
    z = np.random.default_rng(0).standard_normal(tuple(model.inputs[0].shape)).astype(np.float32)
    for _ in range(5):
        request.infer({0: z})
    totals = {}
    for _ in range(calls):
        request.infer({0: z})
        for info in request.profiling_info:
            key = (info.node_name, info.node_type, info.exec_type)
            totals[key] = totals.get(key, 0.0) + info.real_time.total_seconds() * 1e6 / calls
    flops = {op.get_friendly_name(): _node_flops(op) for op in compiled.get_runtime_model().get_ordered_ops()}
    whole = sum(totals.values())
    rows = [{"node": name, "type": kind, "exec": impl, "us": us, "share": us / whole,
             "gflops": flops.get(name, 0) / us / 1e3 if flops.get(name) else float("nan")}
            for (name, kind, impl), us in totals.items() if us > 0]
    return sorted(rows, key=lambda r: -r["us"])


def _node_flops(op) -> float:
    """2 x multiply-adds of a node of OpenVINO's executed graph (0 for the others)."""
    kind = op.get_rt_info()["layerType"].astype(str)
    shapes = [list(i.get_partial_shape().to_shape()) for i in op.inputs()]
    out = list(op.output(0).get_partial_shape().to_shape()) if op.get_output_size() else []
    if kind == "FullyConnected":  # x (M, K) . W (N, K)^T
        return 2.0 * np.prod(shapes[0]) * shapes[1][0]
    if kind == "Deconvolution":  # every input pixel meets a (cout, kh, kw) kernel per input channel
        return 2.0 * np.prod(shapes[0]) * np.prod(shapes[1][1:])
    if kind == "Convolution":
        return 2.0 * np.prod(out) * np.prod(shapes[1][1:])
    return 0.0


def table(results) -> str:
    rows = [f"{'backend':16s} {'batch':>5s} {'images/s':>10s} {'spread':>15s} {'p50 ms':>8s} {'p95 ms':>8s} "
            f"{'CPU % per core':>15s} {'of peak':>8s}"]
    for r in results:
        spread = f"{r.images_per_s_spread[0]:.0f}-{r.images_per_s_spread[1]:.0f}"
        cpu = "/".join(f"{c:.0f}" for c in r.cpu_percent)
        rows.append(f"{r.backend:16s} {r.batch:5d} {r.images_per_s:10.0f} {spread:>15s} {r.p50_ms:8.2f} "
                    f"{r.p95_ms:8.2f} {cpu:>15s} {r.peak_share:8.1%}")
    return "\n".join(rows)


def scorecard(results, ours="openvino-gan_lab") -> list:
    """Per model and batch: gan_lab's OpenVINO path against the fastest other backend, Keras
    predict and eager, with its CPU use and share of peak (the figures issue 4 asks for)."""
    rows = []
    for (model, batch) in dict.fromkeys((r.model, r.batch) for r in results):
        here = {r.backend: r for r in results if (r.model, r.batch) == (model, batch)}
        if ours not in here:
            continue
        mine = here[ours]
        others = [r for b, r in here.items() if b != ours and b != "openvino-int8"]
        best = max(others, key=lambda r: r.images_per_s) if others else None
        ratio = lambda b: mine.images_per_s / here[b].images_per_s if b in here else float("nan")  # noqa: E731
        rows.append({"model": model, "batch": batch, "images_per_s": mine.images_per_s,
                     "fastest_other": best.backend if best else "", "vs_fastest_other": ratio(best.backend) if best else float("nan"),
                     "vs_keras_predict": ratio("keras-predict"), "vs_keras_eager": ratio("keras-eager"),
                     "cpu_min_core": min(mine.cpu_percent) if mine.cpu_percent else float("nan"),
                     "peak_share": mine.peak_share, "int8_speedup": here["openvino-int8"].images_per_s / mine.images_per_s
                     if "openvino-int8" in here else float("nan")})
    return rows
