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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import openvino as ov
import psutil
import tensorflow as tf
from tqdm.std import tqdm  # plain text: a log, a stored notebook and `make run` show it

from gan_lab import backends as registry
from gan_lab.errors import GanLabError
from gan_lab.flops import describe_machine, flops_per_image, sgemm_peak  # noqa: F401 (part of bench's API)
from gan_lab.modelfolder import ModelFolder
from gan_lab.models.io import load_keras
from gan_lab.runtime import load, load_generator
from gan_lab.runtime.openvino_runner import check_device

BACKENDS = registry.BENCH_METHODS  # the ways of running each backend of the registry, in table order
DEFAULT_BATCHES = (1, 8, 64, 256)
SETTLE = 0.2  # seconds of quiet before each timed repeat: thread pools of the previous backend
#               (ONNX Runtime's spin, TBB's, TensorFlow's) stop competing for the cores
HINTS = ("LATENCY", "THROUGHPUT")
# OpenVINO's inference precision per choice; INT8 is a file (generator-int8.xml), not a hint. A CPU
# without FP16 arithmetic runs the f16 hint in bfloat16 (AVX-512 BF16, AMX) or FP32: the compiled
# model says which, and each result records it.
PRECISIONS = {"FP32": "f32", "FP16": "f16", "INT8": None}


@dataclass(frozen=True)
class OpenVINOSettings:
    """How the OpenVINO backends compile. None leaves each its own default: `openvino-sync` and
    gan_lab's path the LATENCY hint, `openvino-async` THROUGHPUT with OpenVINO's optimal number of
    requests; precision: OpenVINO's own (sync, async) or FP32 (gan_lab's)."""

    device: str = "CPU"
    precision: str | None = None  # FP32, FP16 or INT8 (then every OpenVINO backend runs generator-int8.xml)
    hint: str | None = None  # LATENCY or THROUGHPUT
    streams: int | None = None  # NUM_STREAMS
    requests: int | None = None  # requests in flight for openvino-async

    def __post_init__(self):
        check_device(self.device)
        if self.precision is not None and self.precision not in PRECISIONS:
            raise GanLabError(f"Unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if self.hint is not None and self.hint not in HINTS:
            raise GanLabError(f"Unknown performance hint {self.hint!r}; choose one of {', '.join(HINTS)}.")
        for name in ("streams", "requests"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise GanLabError(f"{name} must be a whole number >= 1 (or None for OpenVINO's choice); got {value!r}.")

    def config(self, hint) -> dict:
        """OpenVINO properties for a backend whose own hint is `hint`."""
        out = {"PERFORMANCE_HINT": self.hint or hint}
        if self.streams:
            out["NUM_STREAMS"] = str(self.streams)
        if PRECISIONS.get(self.precision):
            out["INFERENCE_PRECISION_HINT"] = PRECISIONS[self.precision]
        return out


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
    settings: dict = field(default_factory=dict)  # device, hint, streams, requests, precision as compiled
    repeats: int = 0  # timed repeats behind the figures (fewer than asked while a run is in progress)


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
        if not self.samples:  # a short run on a busy machine: one sample since the priming call
            self.samples.append((time.perf_counter() - self.t0, psutil.cpu_percent(percpu=True)))

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


def compiled_settings(compiled, requests=1) -> dict:
    """What an OpenVINO compiled model runs with: device, hint, streams, requests, precision."""
    def read(name):
        try:
            value = str(compiled.get_property(name))
        except RuntimeError:  # a virtual device (AUTO) does not expose every property
            return "?"
        # "PerformanceMode.THROUGHPUT" (through AUTO), "<Type: 'float32'>", "['CPU']": the bare word
        return value.split(".")[-1] if value.startswith("PerformanceMode.") else value.strip("[]<>'").replace("Type: '", "")
    return {"device": read("EXECUTION_DEVICES"), "hint": read("PERFORMANCE_HINT"), "streams": read("NUM_STREAMS"),
            "requests": requests, "precision": read("INFERENCE_PRECISION_HINT")}


class _SyncRunner:
    """OpenVINO as a user first calls it: the dynamic-shape IR, one request, a dict of inputs."""

    def __init__(self, path, settings):
        compiled = ov.Core().compile_model(str(path), settings.device, settings.config("LATENCY"))
        self.request, self.settings = compiled.create_infer_request(), compiled_settings(compiled)

    def __call__(self, z):
        return self.request.infer({0: z})[0]


class _AsyncRunner:
    """OpenVINO AsyncInferQueue with the THROUGHPUT hint: as many requests in flight as the
    plugin recommends (or `settings.requests`); one call pushes `jobs` batches and waits for all."""

    def __init__(self, path, settings):
        compiled = ov.Core().compile_model(str(path), settings.device, settings.config("THROUGHPUT"))
        self.jobs = settings.requests or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self.settings = compiled_settings(compiled, self.jobs)
        self.queue = ov.AsyncInferQueue(compiled, self.jobs)
        self.queue.set_callback(self._done)
        self.latencies = []  # ms from start_async to completion, per request

    def _done(self, request, started):
        self.latencies.append((time.perf_counter() - started) * 1e3)

    def __call__(self, z):
        for _ in range(self.jobs):
            self.queue.start_async({0: z}, time.perf_counter())
        self.queue.wait_all()


class _GanLabRunner:
    """What `load_generator(path).generate` does with its defaults (or the settings' overrides)."""

    def __init__(self, path, settings):
        config = settings.config("LATENCY")
        if not PRECISIONS.get(settings.precision):
            config.pop("INFERENCE_PRECISION_HINT", None)  # gan_lab's own: f32
        self.generator = load_generator(path, device=settings.device, config=config)
        self.generator.generate_raw(self.generator.sample_latents(1, 0))  # compiles, so the settings can be read
        self.settings = compiled_settings(self.generator.runner.compiled_model)

    def __call__(self, z):
        return self.generator.generate_raw(z)


def runners(variants, backends=BACKENDS, openvino=None):
    """{backend: callable(z)} for the requested backends whose files exist; `openvino`: the
    OpenVINOSettings of the OpenVINO backends (their defaults when None)."""
    settings = openvino or OpenVINOSettings()
    out = {}
    if "keras" in variants and set(registry.named("keras").bench) & set(backends):
        _, ks = _keras_runners(variants["keras"])
        out.update({k: v for k, v in ks.items() if k in backends})
    if "onnxruntime" in variants and "onnxruntime" in backends:
        out["onnxruntime"] = _onnx_runner(variants["onnxruntime"])
    fp = "openvino-int8" if settings.precision == "INT8" else "openvino"
    makers = {"openvino-sync": (fp, _SyncRunner), "openvino-async": (fp, _AsyncRunner),
              "openvino-gan_lab": (fp, _GanLabRunner), "openvino-int8": ("openvino-int8", _GanLabRunner)}
    for backend, (variant, make) in makers.items():
        if variant in variants and backend in backends:
            out[backend] = make(variants[variant], replace(settings, precision=None) if backend == "openvino-int8" else settings)
    return out


def run(path, batches=DEFAULT_BATCHES, backends=BACKENDS, seconds=1.0, repeats=3, peak=None, progress=True,
        openvino=None, on_update=None):
    """Benchmark one generator (and the other formats beside it); returns a list of Result.
    `openvino`: OpenVINOSettings for the OpenVINO backends; `on_update(results)`: called after every
    timed repeat with the figures so far (a live chart), the last call holding the final ones."""
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise GanLabError(f"Unknown backend(s) {sorted(unknown)}; choose from {', '.join(BACKENDS)}.")
    variants = find_variants(path)
    if "keras" not in variants:
        raise GanLabError(f"Benchmarks need generator.keras beside {path} (to count FLOPs and as the reference).")
    if openvino is not None and openvino.precision == "INT8" and "openvino-int8" not in variants:
        raise GanLabError(f"No generator-int8.xml beside {path}: convert with `gan-lab convert ... --int8` first.")
    reference = load_keras(variants["keras"])
    flops, latent_dim = flops_per_image(reference), reference.inputs[0].shape[-1]
    fns = runners(variants, backends, openvino)
    done, t0 = [], time.perf_counter()
    with tqdm(total=len(fns) * len(batches) * repeats, desc=_model_name(path), unit="run",
              disable=not progress) as bar:
        for batch in batches:
            z = lambda: np.random.default_rng(batch).standard_normal((batch, latent_dim)).astype(np.float32)  # noqa: E731
            runs = {backend: ([], [], []) for backend in fns}  # rates, latencies, CPU samples
            for _ in range(repeats):  # interleaved: repeat 1 of every backend, then repeat 2, ...
                for backend, fn in fns.items():
                    _measure_once(fn, z, seconds, t0, *runs[backend])
                    bar.update(1)
                    if on_update:
                        on_update(done + _summaries(path, batch, runs, fns, flops, peak))
            done += _summaries(path, batch, runs, fns, flops, peak)
    return done


def _summaries(path, batch, runs, fns, flops, peak) -> list:
    """One Result per backend with at least one timed repeat: medians, spread, CPU use."""
    out = []
    for backend, (rates, lat, samples) in runs.items():
        if not rates:
            continue
        rate = float(np.median(rates))
        out.append(Result(str(path), backend, batch, rate, (min(rates), max(rates)),
                          float(np.percentile(lat, 50)), float(np.percentile(lat, 95)), _mean_per_core(samples),
                          flops, rate * flops / (peak * 1e9) if peak else float("nan"), samples,
                          getattr(fns[backend], "settings", {"device": "CPU"}), len(rates)))
    return out


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


def cpu_features() -> dict:
    """This CPU's name and the instruction sets that decide inference speed (from /proc/cpuinfo,
    where there is one), and what OpenVINO's CPU plugin says it can do."""
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    flags = set(text.split("flags", 1)[1].split("\n", 1)[0].split()) if "flags" in text else set()
    core = ov.Core()
    return {"cpu": core.get_property("CPU", "FULL_DEVICE_NAME"), "AVX2": "avx2" in flags, "FMA": "fma" in flags,
            "AVX-512": "avx512f" in flags, "VNNI": bool({"avx_vnni", "avx512_vnni"} & flags),
            "BF16": bool({"avx512_bf16", "amx_bf16"} & flags),
            "openvino": ", ".join(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}


def hint_choices(path, device="CPU") -> list:
    """What each performance hint makes OpenVINO choose for the IR at `path`: streams, threads,
    requests and precision, one dict per hint."""
    core, rows = ov.Core(), []
    for hint in HINTS:
        compiled = core.compile_model(str(path), device, {"PERFORMANCE_HINT": hint})
        row = compiled_settings(compiled, compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        row["threads"] = str(compiled.get_property("INFERENCE_NUM_THREADS")) if device == "CPU" else "?"
        rows.append(row)
    return rows


def onnxruntime_spinning(path, spinning, batch=1, seconds=0.5, seed=0):
    """ONNX Runtime's images/s and mean CPU use per core on the model at `path`, with its worker
    threads spinning between requests (its default) or sleeping."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name, dim = session.get_inputs()[0].name, session.get_inputs()[0].shape[1]
    z = lambda: np.random.default_rng(seed).standard_normal((batch, dim)).astype(np.float32)  # noqa: E731
    with CpuSampler() as cpu:
        rate, _ = time_requests(lambda x: session.run(None, {name: x}), z, seconds)
    return rate, cpu.mean_per_core()


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
        share = "-" if np.isnan(r.peak_share) else f"{r.peak_share:.1%}"  # no peak given: no share
        rows.append(f"{r.backend:16s} {r.batch:5d} {r.images_per_s:10.0f} {spread:>15s} {r.p50_ms:8.2f} "
                    f"{r.p95_ms:8.2f} {cpu:>15s} {share:>8s}")
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
