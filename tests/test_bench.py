import keras
import pytest
from keras import layers

from gan_lab import GanLabError, bench, convert, plots


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
                          "--json", str(tmp_path / "b.json"), "--plot", str(tmp_path / "b.png")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["peak_gflops"] > 0 and len(data["results"]) == 4
    assert (tmp_path / "b.png").stat().st_size > 1000
    bad = subprocess.run([sys.executable, "-m", "gan_lab", "bench", str(tiny_model_folder), "--backends", "torch"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Unknown backend" in bad.stderr and "Traceback" not in bad.stderr
