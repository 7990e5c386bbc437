import keras
import pytest
from keras import layers

from gan_lab import GanLabError, bench, convert, flops, plots


def test_flops_are_counted_per_layer_kind():
    z = keras.Input((10,))
    x = layers.Reshape((4, 4, 2))(layers.Dense(32)(z))                               # 2*10*32 = 640
    x = layers.Conv2DTranspose(3, 3, strides=2, padding="same")(x)                     # 2*4*4*9*3*2 = 1728
    x = layers.Conv2D(1, 3, padding="same")(x)                                         # 2*8*8*9*3*1 = 3456
    assert bench.flops_per_image(keras.Model(z, x)) == 640 + 1728 + 3456


def test_sgemm_probe_and_cpu_sampler():
    assert bench.sgemm_peak(n=256, seconds=0.2) > 1.0
    with bench.CpuSampler(interval=0.05) as cpu:
        bench.sgemm_peak(n=512, seconds=0.3)
    per_core = cpu.mean_per_core()
    assert len(per_core) >= 1 and all(0 <= c <= 100 for c in per_core) and max(per_core) > 0


def test_the_peak_is_the_faster_of_numpy_and_tensorflow(monkeypatch):
    rates = flops.sgemm_rates(n=256, seconds=0.2)
    assert set(rates) == {"numpy", "tensorflow"} and all(r > 1.0 for r in rates.values())
    monkeypatch.setattr(flops, "sgemm_rates", lambda n, seconds: {"numpy": 247.0, "tensorflow": 464.0})
    assert flops.sgemm_peak() == 464.0


def test_a_run_shorter_than_the_sampling_interval_still_gets_a_sample():
    with bench.CpuSampler(interval=10) as cpu:  # the thread never wakes: one sample taken on exit
        bench.sgemm_peak(n=256, seconds=0.1)
    per_core = cpu.mean_per_core()
    assert len(per_core) >= 1 and all(0 <= c <= 100 for c in per_core)


def test_the_machine_is_described_by_processor_cores_and_peak():
    import os
    import re

    line = bench.describe_machine(seconds=0.2)
    assert re.fullmatch(rf".+, {os.cpu_count()} cores, SGEMM peak \d+ GFLOP/s", line), line


@pytest.fixture(scope="module")
def tiny_model_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), layers.Dense(64, activation="relu"),
                              layers.Dense(16, activation="tanh"), layers.Reshape((4, 4, 1))])
    model.save(out / "generator.keras")
    convert.convert(out / "generator.keras", out, int8=True, parity_samples=32, verbose=False)
    return out


@pytest.mark.slow
def test_every_backend_runs_and_reports(tiny_model_folder, tmp_path):
    results = bench.run(tiny_model_folder / "generator.xml", batches=(1, 4), seconds=0.25, repeats=2,
                        peak=100.0, progress=False)
    assert {r.backend for r in results} == set(bench.BACKENDS) and len(results) == 2 * len(bench.BACKENDS)
    for r in results:
        assert r.images_per_s > 0 and r.images_per_s_spread[0] <= r.images_per_s <= r.images_per_s_spread[1]
        assert 0 < r.p50_ms <= r.p95_ms and r.flops_per_image == 2 * (8 * 64 + 64 * 16) and r.peak_share > 0
    assert "openvino-async" in bench.table(results)
    assert all(r.cpu_timeline and len(r.cpu_percent) == len(r.cpu_timeline[0][1]) for r in results if r.batch == 4)
    times = [t for r in results for t, _ in r.cpu_timeline]
    assert min(times) >= 0  # seconds since the run began
    for fig in (plots.plot_throughput(results), plots.plot_cpu_timeline(results, 4), plots.plot_flops(results, 100.0)):
        fig.savefig(tmp_path / "plot.png")
        assert (tmp_path / "plot.png").stat().st_size > 1000
    saved = bench.save_json(results, tmp_path / "bench.json", peak_gflops=100.0)
    assert '"backend": "onnxruntime"' in saved.read_text()


@pytest.mark.slow
def test_unknown_backend_and_missing_files(tiny_model_folder, tmp_path):
    with pytest.raises(GanLabError, match="Unknown backend"):
        bench.run(tiny_model_folder, backends=("pytorch",))
    with pytest.raises(GanLabError, match="No generator files"):
        bench.find_variants(tmp_path)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_bench_writes_json_and_plot(tiny_model_folder, tmp_path):
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "gan_lab", "bench", str(tiny_model_folder), "--batch", "1,2",
                          "--backends", "onnxruntime,openvino-sync", "--seconds", "0.05", "--repeats", "2",
                          "--device", "AUTO", "--hint", "THROUGHPUT", "--streams", "1",
                          "--json", str(tmp_path / "b.json"), "--plot", str(tmp_path / "b.png")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["peak_gflops"] > 0 and len(data["results"]) == 4
    compiled = [r["settings"] for r in data["results"] if r["backend"] == "openvino-sync"]
    assert all(s["hint"] == "THROUGHPUT" and s["streams"] in ("1", "?") for s in compiled), compiled
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_cli_bench_refuses_an_unknown_backend_or_device(tiny_model_folder, capsys):
    from gan_lab import cli

    assert cli.main(["bench", str(tiny_model_folder), "--backends", "torch"]) == 1
    assert "Unknown backend" in capsys.readouterr().err
    assert cli.main(["bench", str(tiny_model_folder), "--device", "GPU.7"]) == 1
    assert "'GPU.7' is not available here" in capsys.readouterr().err


def test_openvino_settings_refuse_what_openvino_cannot_do():
    assert bench.OpenVINOSettings().config("LATENCY") == {"PERFORMANCE_HINT": "LATENCY"}
    assert bench.OpenVINOSettings(hint="THROUGHPUT", streams=2, precision="FP32").config("LATENCY") == {
        "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": "2", "INFERENCE_PRECISION_HINT": "f32"}
    for bad, match in [(dict(device="GPU.9"), "not available here"), (dict(precision="FP8"), "Unknown precision"),
                       (dict(hint="FAST"), "Unknown performance hint"), (dict(streams=0), "streams must be"),
                       (dict(requests=1.5), "requests must be")]:
        with pytest.raises(GanLabError, match=match):
            bench.OpenVINOSettings(**bad)


@pytest.mark.slow
def test_settings_reach_the_compiled_models_and_updates_come_after_every_repeat(tiny_model_folder):
    updates = []
    settings = bench.OpenVINOSettings(device="AUTO", hint="THROUGHPUT", streams=2, requests=3, precision="FP32")
    results = bench.run(tiny_model_folder, batches=(2,), backends=("onnxruntime", "openvino-sync", "openvino-async"),
                        seconds=0.05, repeats=2, progress=False, openvino=settings,
                        on_update=lambda rs: updates.append([(r.backend, r.repeats) for r in rs]))
    assert updates[0] == [("onnxruntime", 1)] and updates[2] == [("onnxruntime", 1), ("openvino-sync", 1), ("openvino-async", 1)]
    assert updates[-1] == [(r.backend, 2) for r in results] and len(updates) == 6
    by = {r.backend: r.settings for r in results}
    assert by["onnxruntime"] == {"device": "CPU"}
    assert by["openvino-async"]["requests"] == 3 and by["openvino-sync"]["requests"] == 1
    for backend in ("openvino-sync", "openvino-async"):
        assert by[backend]["hint"] == "THROUGHPUT" and "CPU" in by[backend]["device"]  # AUTO chose the CPU


@pytest.mark.slow
def test_int8_precision_runs_the_int8_file_and_is_refused_without_one(tiny_model_folder, tmp_path):
    import shutil

    results = bench.run(tiny_model_folder, batches=(1,), backends=("openvino-gan_lab",), seconds=0.05, repeats=1,
                        progress=False, openvino=bench.OpenVINOSettings(precision="INT8"))
    assert results[0].images_per_s > 0
    for name in ("generator.keras", "generator.xml", "generator.bin"):
        shutil.copy(tiny_model_folder / name, tmp_path / name)
    with pytest.raises(GanLabError, match="No generator-int8.xml"):
        bench.run(tmp_path, backends=("openvino-gan_lab",), openvino=bench.OpenVINOSettings(precision="INT8"))


def test_cpu_features_and_what_each_hint_chooses(tiny_model_folder):
    features = bench.cpu_features()
    assert features["cpu"] and isinstance(features["AVX2"], bool) and "FP32" in features["openvino"]
    latency, throughput = bench.hint_choices(tiny_model_folder / "generator.xml")
    assert latency["hint"] == "LATENCY" and latency["streams"] == "1" and latency["requests"] == 1
    assert throughput["hint"] == "THROUGHPUT" and int(throughput["streams"]) >= 1


@pytest.mark.slow
def test_onnxruntime_with_and_without_spinning_threads(tiny_model_folder):
    for spinning in (True, False):
        rate, cpu = bench.onnxruntime_spinning(tiny_model_folder / "generator.onnx", spinning, seconds=0.4)
        assert rate > 0 and cpu and all(0 <= c <= 100 for c in cpu)


@pytest.mark.slow
def test_the_benchmark_panel_runs_what_its_controls_say_and_redraws_as_it_goes(tiny_model_folder, tmp_path):
    from gan_lab.bench_panel import BenchmarkPanel

    panel = BenchmarkPanel([tiny_model_folder], seconds=0.1, repeats=2)
    for backend, tick in panel.backends.items():
        tick.value = backend in ("onnxruntime", "openvino-async")
    panel.hint.value, panel.requests.value, panel.batch.value = "THROUGHPUT", 2, 8
    charts = []
    panel.chart.observe(lambda change: charts.append(change["new"]), names="value")
    results = panel.run()
    assert [(r.backend, r.batch, r.repeats) for r in results] == [("onnxruntime", 8, 2), ("openvino-async", 8, 2)]
    assert results[1].settings["hint"] == "THROUGHPUT" and results[1].settings["requests"] == 2
    charts = [bytes(c) for c in charts]  # one picture per timed repeat, the last with the final figures
    assert len(charts) == 4 and len(set(charts)) == 4 and all(c[:4] == b"\x89PNG" for c in charts)
    assert "openvino-async" in panel.table.value and "THROUGHPUT" in panel.table.value and "done" in panel.status.value
    assert not panel.run_button.disabled and all(bar.value == 0 for bar in panel.meter.bars)
    for tick in panel.backends.values():
        tick.value = False
    panel.run_button.click()  # refused in the panel, not raised
    assert "Tick at least one backend" in panel.status.value
    with pytest.raises(GanLabError, match="unconditional generator.keras"):
        BenchmarkPanel([tmp_path])


def test_the_cpu_meter_shows_each_core_while_work_runs():
    from gan_lab.bench_panel import CpuMeter

    meter, seen = CpuMeter(interval=0.05), []
    with meter:
        bench.sgemm_peak(n=512, seconds=0.4)
        seen = [bar.value for bar in meter.bars]
    assert len(seen) == len(meter.bars) >= 1 and max(seen) > 0 and all(bar.value == 0 for bar in meter.bars)


def test_a_run_without_a_peak_prints_no_share_of_it(tiny_model_folder):
    results = bench.run(tiny_model_folder / "generator.xml", batches=(1,), backends=("onnxruntime",),
                        seconds=0.1, repeats=1, progress=False)
    row = bench.table(results).splitlines()[1]
    assert "nan" not in row and row.split()[-1] == "-"
    with_peak = bench.run(tiny_model_folder / "generator.xml", batches=(1,), backends=("onnxruntime",),
                          seconds=0.1, repeats=1, peak=100.0, progress=False)
    assert bench.table(with_peak).splitlines()[1].endswith("%")
