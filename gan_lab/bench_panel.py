"""Notebook 03's interactive benchmark: pick a model, the OpenVINO device, precision, performance
hint, streams and requests, a batch size, the backends to compare and the seconds per repeat, press
Run, and watch a bar chart and a table fill in after every timed repeat, with a per-core CPU
meter while it runs. ipywidgets only.

    panel = BenchmarkPanel(["../models/mnist", "../models/faces-dcgan"])
    panel               # in a notebook: shows it

Every control is an attribute and `run()` is what the button calls, so tests drive it without a
browser. The measuring is `gan_lab.bench.run`, the same as the static benchmark below it.
"""

import io
import threading
from pathlib import Path

import ipywidgets as W
import matplotlib.pyplot as plt
import psutil
from IPython.display import display

from gan_lab import bench, plots
from gan_lab.errors import GanLabError
from gan_lab.modelfolder import ModelFolder
from gan_lab.widgets import device_widget

BATCHES = (1, 8, 64, 256)
DEFAULT_BACKENDS = ("onnxruntime", "openvino-sync", "openvino-async", "openvino-gan_lab")
AUTO = "auto"  # streams or requests left to OpenVINO's hint


class CpuMeter:
    """One bar per core, refreshed from psutil in a background thread while `with meter:` runs."""

    def __init__(self, interval=0.25):
        self.interval, self._stop = interval, threading.Event()
        self.bars = [W.FloatProgress(value=0, min=0, max=100, description=f"core {i}", bar_style="info",
                                     layout=W.Layout(width="260px")) for i in range(psutil.cpu_count())]
        for bar in self.bars:
            bar.add_class("gan-lab-cpu-meter")
        self.widget = W.VBox([W.HTML("<b>CPU use per core</b>"), *self.bars])

    def __enter__(self):
        self._stop.clear()
        psutil.cpu_percent(percpu=True)  # primes the counters
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            for bar, percent in zip(self.bars, psutil.cpu_percent(percpu=True)):
                bar.value = percent

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for bar in self.bars:
            bar.value = 0


class BenchmarkPanel:
    """The controls, the Run button and the live results for the generators in `models` (model
    folders or generator files; a class-conditional one is left out: the benchmark feeds one latent)."""

    def __init__(self, models, batch=1, seconds=0.5, repeats=3, peak=None):
        folders = [Path(m) if Path(m).is_dir() else Path(m).parent for m in models]
        options = {f.name: f for f in folders if (f / "generator.keras").exists() and not _conditional(f)}
        if not options:
            raise GanLabError(f"None of {[str(m) for m in models]} holds an unconditional generator.keras to benchmark.")
        self.peak, self.results = peak, []
        self.model = W.Dropdown(options=options, description="model")
        self.device = device_widget()
        self.precision = W.ToggleButtons(options=list(bench.PRECISIONS), value="FP32", description="precision")
        self.hint = W.ToggleButtons(options=["default", *bench.HINTS], value="default", description="hint",
                                    tooltips=["each backend's own", "one stream, every core on a request",
                                              "several streams, requests side by side"])
        self.streams = W.Dropdown(options=[AUTO, 1, 2, 4, 8], value=AUTO, description="streams")
        self.requests = W.Dropdown(options=[AUTO, 1, 2, 4, 8, 16], value=AUTO, description="requests",
                                   tooltip="requests in flight for openvino-async")
        self.batch = W.Dropdown(options=BATCHES, value=batch, description="batch")
        self.backends = {b: W.Checkbox(value=b in DEFAULT_BACKENDS, description=b, indent=False,
                                       layout=W.Layout(width="170px")) for b in bench.BACKENDS}
        self.seconds = W.FloatSlider(value=seconds, min=0.1, max=3.0, step=0.1, description="s / repeat")
        self.repeats = W.IntSlider(value=repeats, min=1, max=9, description="repeats")
        self.run_button = W.Button(description="Run", icon="play", button_style="primary")
        self.run_button.add_class("gan-lab-bench-run")
        self.chart = W.Image(format="png", layout=W.Layout(width="560px"))
        self.chart.add_class("gan-lab-bench-chart")
        self.table, self.status = W.HTML(), W.HTML()
        self.table.add_class("gan-lab-bench-table")
        self.meter = CpuMeter()
        self.run_button.on_click(lambda _: self._run_reporting())

    @property
    def widget(self) -> W.Widget:
        ticks = list(self.backends.values())
        choices = W.GridBox(ticks, layout=W.Layout(grid_template_columns="repeat(3, 175px)"))
        controls = W.VBox([W.HBox([self.model, self.device, self.batch]), self.precision, self.hint,
                           W.HBox([self.streams, self.requests]), W.HTML("<b>backends</b>"), choices,
                           W.HBox([self.seconds, self.repeats]), W.HBox([self.run_button, self.status])])
        return W.VBox([controls, W.HBox([self.chart, self.meter.widget]), self.table])

    def _ipython_display_(self):
        display(self.widget)

    def settings(self) -> bench.OpenVINOSettings:
        """The OpenVINO settings the controls describe."""
        pick = lambda w: None if w.value in (AUTO, "default") else w.value  # noqa: E731
        return bench.OpenVINOSettings(self.device.value, self.precision.value, pick(self.hint),
                                      pick(self.streams), pick(self.requests))

    def chosen_backends(self) -> tuple:
        return tuple(b for b, tick in self.backends.items() if tick.value)

    def run(self) -> list:
        """Benchmark the chosen model with the chosen settings (what Run does); returns the Results."""
        chosen = self.chosen_backends()
        if not chosen:
            raise GanLabError("Tick at least one backend to compare.")
        self.run_button.disabled, self.results = True, []
        self.status.value = f"<small>compiling {len(chosen)} backend(s) ...</small>"
        try:
            with self.meter:
                self.results = bench.run(self.model.value / "generator.keras", (self.batch.value,), chosen,
                                         seconds=self.seconds.value, repeats=self.repeats.value, peak=self.peak,
                                         progress=False, openvino=self.settings(), on_update=self._show)
            self.status.value = f"<small>done: {len(self.results)} backend(s), {self.repeats.value} repeat(s) each</small>"
        finally:
            self.run_button.disabled = False
        return self.results

    def _run_reporting(self):
        """The button's action: a refused choice is said in the panel, not raised into the log."""
        try:
            self.run()
        except GanLabError as err:
            self.status.value = f"<small style='color:#b00'>{err}</small>"

    def _show(self, results):
        """Redraw the chart and the table with the figures so far."""
        fig = plots.plot_throughput(results)
        done = sum(r.repeats for r in results)  # in the title, so each repeat's picture differs from the last
        fig.axes[0].set_title(f"{self.model.label}, batch {self.batch.value}: images/s after {done} timed repeat(s)",
                              fontsize=9)
        fig.tight_layout()  # again, with the title
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        self.chart.value = buffer.getvalue()
        self.table.value = html_table(results)
        self.status.value = f"<small>running: {done} timed repeat(s) so far</small>"


def html_table(results) -> str:
    """The results as an HTML table: speed, latency, CPU use and the settings each compiled with."""
    head = ["backend", "images/s", "spread", "p50 ms", "p95 ms", "CPU % per core", "device", "hint", "streams",
            "requests", "precision", "repeats"]
    rows = []
    for r in results:
        s = r.settings
        cells = [r.backend, f"{r.images_per_s:,.0f}", f"{r.images_per_s_spread[0]:,.0f}–{r.images_per_s_spread[1]:,.0f}",
                 f"{r.p50_ms:.2f}", f"{r.p95_ms:.2f}", "/".join(f"{c:.0f}" for c in r.cpu_percent),
                 s.get("device", ""), s.get("hint", ""), s.get("streams", ""), s.get("requests", ""),
                 s.get("precision", ""), r.repeats]
        rows.append("<tr>" + "".join(f"<td style='padding:0 8px'>{c}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th style='padding:0 8px'>{h}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table>")


def _conditional(folder) -> bool:
    return bool(ModelFolder(folder).info.get("num_classes"))
