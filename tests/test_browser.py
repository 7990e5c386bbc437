"""The latent explorer driven for real: JupyterLab in headless Chromium (Playwright), Run All, a
slider moved with the keyboard, the face picture redrawn.

`make test` installs Debian's chromium first (`make browser`, as root with apt-get); Playwright only
drives it, it never downloads a browser. Without a Chromium (a laptop, macOS) the test is skipped
with a line that says how to get one. Deselect with `-m "not browser"`. A failing run leaves
`page.png` (the page as it was) and `jupyter.log` in the test's tmp folder.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _find_chromium():
    """Debian's /usr/bin/chromium (`make browser`), else a `chromium` on PATH, else macOS's
    Chromium.app (brew); None when there is none."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      "/Applications/Chromium.app/Contents/MacOS/Chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


CHROMIUM = _find_chromium()
NO_CHROMIUM = ("skipping the browser test: install Chromium (Debian: sudo apt-get install chromium; "
               "macOS: brew install --cask chromium) to run it")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The notebooks under test and the attribute slider moved in each. The stand-in has the same
# contract as the real notebook (an Image with class gan-lab-face, FloatSliders with class
# gan-lab-attribute and the attribute as description) and runs in seconds: a self-test of the harness.
NOTEBOOKS = {
    "stub": (ROOT / "tests" / "browser_stub.ipynb", "Smiling"),
    "latent_explorer": (ROOT / "notebooks" / "08_latent_explorer.ipynb", "Male"),  # a shipped direction of faces-dcgan
}
FACE = ".gan-lab-face img, img.gan-lab-face"  # ipywidgets 8 puts the class on the <img> itself
ATTRIBUTE = ".gan-lab-attribute"
KEY, PRESSES = "ArrowRight", 5                # noUiSlider handle: one step per ArrowRight

START_TIMEOUT = 60     # s: server answering, page loaded, kernel idle
RUN_TIMEOUT = 240      # s: Run All until the widget is shown and no cell is still queued (07 quick: ~60 s)
WIDGET_GRACE = 15      # s: after the last cell, for a widget's view to be drawn
CHANGE_TIMEOUT = 20    # s: slider moved until the picture is redrawn

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.subprocess,
              pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]  # before jupyter lab starts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base, path, method="GET"):
    request = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


def _copy_notebook(source: Path, folder: Path) -> None:
    """Copy a notebook, pinned to the `python3` kernel (this venv's ipykernel): whatever kernel it
    was saved with, JupyterLab starts it without asking."""
    notebook = json.loads(source.read_text())
    notebook.setdefault("metadata", {})["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    (folder / source.name).write_text(json.dumps(notebook, indent=1))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab` from this venv on a tmp copy of the repository's layout (notebooks/ beside a
    link to models/ and an empty runs/, so `../models/...` in a notebook resolves); its URL."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    (root / "runs").mkdir()
    (root / "models").symlink_to(ROOT / "models", target_is_directory=True)
    for source, _ in NOTEBOOKS.values():
        if source.exists():
            _copy_notebook(source, root / "notebooks")
    home = root / ".jupyter-home"  # nothing from the user's Jupyter set-up (kernels, settings, workspaces)
    env = dict(os.environ, GAN_LAB_PROFILE="quick", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), IPYTHONDIR=str(home / "ipython"))
    env.pop("JUPYTER_PATH", None)
    settings = {  # start the notebook's kernel on open (no "Select Kernel" dialog), no news toast
        "notebook-extension/tracker": {"autoStartDefaultKernel": True},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for plugin, values in settings.items():
        path = home / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = _free_port()
    log = open(root / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--ServerApp.allow_root=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                _api(base, "/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer on port {port}:\n"
                                       + (root / "jupyter.log").read_text()[-3000:])
                time.sleep(0.3)
        yield {"url": base, "root": root, "server": server, "log": root / "jupyter.log"}
    finally:
        server.terminate()  # SIGTERM: the server shuts its kernels down and exits
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        try:  # anything it left behind in its own session (a kernel that outlived it)
            os.killpg(server.pid, 9)
        except ProcessLookupError:
            pass
        log.close()


@pytest.fixture(scope="module")
def chromium():
    """The Chromium found above under Playwright (`make browser` installs Debian's)."""
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    from playwright import sync_api  # in the dev extra (`make install`)

    with sync_api.sync_playwright() as playwright:  # the wheel's own driver, no browser download
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _kernel_processes(server):
    import psutil

    return [p for p in psutil.Process(server.pid).children(recursive=True)
            if any("ipykernel_launcher" in part for part in p.cmdline())]


def _wait_for_idle_kernel(page, base, notebook, timeout):
    """The notebook's kernel session exists on the server and both it and the page say idle."""
    indicator = page.locator('.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status="idle"]')
    deadline, states = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        states = [s["kernel"]["execution_state"] for s in _api(base, "/api/sessions") if s["path"].endswith(notebook)]
        if states == ["idle"] and indicator.count() == 1 and page.locator(".jp-NotebookPanel").count() == 1:
            return
        time.sleep(0.25)
    raise AssertionError(f"the kernel of {notebook} is not idle after {timeout} s (sessions: {states})")


_QUEUED = "() => [...document.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('*'))"


def _run_all_and_wait_for(page, selector, timeout):
    """Run → Run All Cells, then wait until `selector` is shown and no cell is queued or running.
    Fails early, with the cells' error outputs, when the run ends without it: after a grace period,
    since a widget's view is drawn after its cell finishes (a busy machine drew it late)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    page.locator(".lm-Menu-item").filter(has=label).click()
    deadline, started, shown, ended = time.monotonic() + timeout, False, False, None
    while time.monotonic() < deadline:
        shown = shown or page.locator(selector).count() > 0
        queued = page.evaluate(_QUEUED)
        started, ended = started or queued, None if queued else ended
        if shown and not queued:
            return
        if started and not queued and not shown:
            ended = ended or time.monotonic()
            if time.monotonic() - ended > WIDGET_GRACE:
                break
        time.sleep(0.25)
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    raise AssertionError(f"no {selector!r} after Run All ({'finished' if started else 'never started'}, "
                         f"{'still running' if shown else 'widget not shown'});\nstderr outputs:\n"
                         + "\n---\n".join(e[-1500:] for e in errors))


# The picture as the browser decoded it (natural size, so independent of the page layout), hashed;
# null until the <img> has finished loading its current src.
_PIXELS = """img => {
    if (!img.complete || !img.naturalWidth) return null;
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let hash = 2166136261;
    for (let i = 0; i < data.length; i++) hash = Math.imul(hash ^ data[i], 16777619) >>> 0;
    return `${canvas.width}x${canvas.height}:${hash}`;
}"""


def _pixels(face, timeout):
    """The face's decoded pixels (a hash), waiting for it to be loaded."""
    deadline = time.monotonic() + timeout
    while (pixels := face.evaluate(_PIXELS)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pixels, f"the face picture did not load within {timeout} s"
    return pixels


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_moving_an_attribute_slider_redraws_the_face(name, lab, chromium, tmp_path):
    source, attribute = NOTEBOOKS[name]
    if not source.exists():
        pytest.fail(f"the notebook under test, {source.relative_to(ROOT)}, does not exist")
    page = chromium.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(START_TIMEOUT * 1000)
    try:
        # ?reset: a fresh workspace, not the previous page's tabs (which would also start their kernels)
        page.goto(f"{lab['url']}/lab/tree/notebooks/{source.name}?reset")
        _wait_for_idle_kernel(page, lab["url"], source.name, START_TIMEOUT)

        _run_all_and_wait_for(page, FACE, RUN_TIMEOUT)
        sessions = [s for s in _api(lab["url"], "/api/sessions") if s["path"].endswith(source.name)]
        assert [s["kernel"]["name"] for s in sessions] == ["python3"]
        kernels = [p.cmdline()[0] for p in _kernel_processes(lab["server"])]  # this venv's python
        assert kernels and all(Path(k).parent == Path(sys.executable).parent and os.path.samefile(k, sys.executable)
                               for k in kernels), kernels

        named = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(attribute)}\s*$"))
        sliders = page.locator(ATTRIBUTE).filter(has=named)
        explorer = page.locator(".jp-OutputArea-output").filter(has=page.locator(FACE)).filter(has=sliders).first
        assert explorer.count() == 1, f"no output with both {FACE!r} and a {ATTRIBUTE} slider named {attribute!r}"
        face, slider = explorer.locator(FACE).first, explorer.locator(ATTRIBUTE).filter(has=named).first
        readout = slider.locator(".widget-readout")
        face.scroll_into_view_if_needed()
        before, value_before = _pixels(face, CHANGE_TIMEOUT), readout.inner_text()
        (tmp_path / "before.png").write_bytes(face.screenshot())

        slider.locator(".noUi-handle").focus()
        for _ in range(PRESSES):
            page.keyboard.press(KEY)
            time.sleep(0.05)

        page.wait_for_function("([el, text]) => el.textContent.trim() !== text",
                               arg=[readout.element_handle(), value_before], timeout=CHANGE_TIMEOUT * 1000)
        value_after = readout.inner_text()
        assert float(value_after) > float(value_before), (value_before, value_after)

        deadline, after = time.monotonic() + CHANGE_TIMEOUT, before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.2)
            after = face.evaluate(_PIXELS) or before  # None while the new picture loads
        (tmp_path / "after.png").write_bytes(face.screenshot())
        assert after != before, f"the face did not change within {CHANGE_TIMEOUT} s of moving {attribute} " \
                                f"from {value_before} to {value_after} (screenshots in {tmp_path})"
        print(f"{name}: {attribute} {value_before} -> {value_after}, face {before} -> {after}")
    except BaseException:
        shutil.copy(lab["log"], tmp_path / "jupyter.log")
        try:
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        except Exception as err:  # keep the test's own error, not this one
            print(f"no screenshot: {err}")
        print(f"browser test failed: screenshot {tmp_path / 'page.png'}, server log {tmp_path / 'jupyter.log'}")
        raise
    finally:
        page.close()
        for session in _api(lab["url"], "/api/sessions"):  # free the CPU for the next notebook
            _api(lab["url"], f"/api/sessions/{session['id']}", method="DELETE")


def _panel_notebook(folder: Path) -> str:
    """Notebook 03's own cells up to and including its benchmark panel (the static benchmark below
    it takes minutes and is what the notebook tests run); the name of the copy."""
    import nbformat

    source = ROOT / "notebooks" / "03_openvino_performance.ipynb"
    nb = nbformat.read(source, as_version=4)
    end = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "BenchmarkPanel(" in c.source)
    nb.cells = nb.cells[:end + 1]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    name = "03_panel.ipynb"
    nbformat.write(nb, folder / name)
    _copy_notebook(folder / name, folder)  # pinned to this venv's kernel
    return name


def test_the_benchmark_panel_runs_openvino_with_the_throughput_hint_and_redraws_its_chart(lab, chromium, tmp_path):
    name = _panel_notebook(lab["root"] / "notebooks")
    page = chromium.new_page(viewport={"width": 1600, "height": 1400})
    page.set_default_timeout(START_TIMEOUT * 1000)
    try:
        page.goto(f"{lab['url']}/lab/tree/notebooks/{name}?reset")
        _wait_for_idle_kernel(page, lab["url"], name, START_TIMEOUT)
        _run_all_and_wait_for(page, ".gan-lab-bench-run", RUN_TIMEOUT)
        panel = page.locator(".jp-OutputArea-output").filter(has=page.locator(".gan-lab-bench-run")).first
        panel.locator("button", has_text=re.compile(r"^\s*THROUGHPUT\s*$")).click()
        onnx = panel.locator(".widget-checkbox", has_text="onnxruntime").locator("input")
        if onnx.is_checked():
            onnx.click()  # OpenVINO only
        chart = panel.locator(".gan-lab-bench-chart img, img.gan-lab-bench-chart").first
        panel.locator(".gan-lab-bench-run").click()

        seen, deadline = set(), time.monotonic() + RUN_TIMEOUT
        table = panel.locator(".gan-lab-bench-table")
        while time.monotonic() < deadline:
            pixels = chart.evaluate(_PIXELS)
            if pixels:
                seen.add(pixels)
            if "done:" in panel.inner_text():
                break
            time.sleep(0.1)
        (tmp_path / "panel.png").write_bytes(panel.screenshot())
        assert "done:" in panel.inner_text(), f"the run did not finish within {RUN_TIMEOUT} s (screenshot in {tmp_path})"
        seen.add(chart.evaluate(_PIXELS))
        text = table.inner_text()
        assert "openvino-async" in text and "THROUGHPUT" in text and "onnxruntime" not in text, text
        assert len(seen - {None}) >= 2, f"the chart was drawn {len(seen)} time(s); it should redraw as repeats finish"
        print(f"panel: {len(seen)} distinct charts; table:\n{text}")
    except BaseException:
        shutil.copy(lab["log"], tmp_path / "jupyter.log")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        print(f"browser test failed: screenshot {tmp_path / 'page.png'}, server log {tmp_path / 'jupyter.log'}")
        raise
    finally:
        page.close()
        for session in _api(lab["url"], "/api/sessions"):
            _api(lab["url"], f"/api/sessions/{session['id']}", method="DELETE")
