"""Run the numbered notebooks headless, top to bottom, in place, with a progress bar.

    python -m gan_lab.notebooks notebooks/01_mnist_gan.ipynb [...] [-p MINUTES 2 -p SEED 3]

Each notebook is executed cell by cell in a fresh kernel from this environment; the
executed notebook (outputs included) is written back, so a run leaves what a person
would see. The bar names the cell running (its first comment line) and shows the last line the
cell printed, so a training's own progress bar is seen while the cell runs.

Parameters reach a notebook as papermill does it: `-p NAME VALUE` writes `NAME = VALUE` into a
cell tagged `injected-parameters` right after the cell tagged `parameters` (a previous run's
injected cell is replaced; a run without -p removes it). VALUE is a Python literal, else a string.
PROFILE and SEED also go to the kernel as GAN_LAB_PROFILE / GAN_LAB_SEED, so the values that the
parameters cell derives from them follow.
"""

import argparse
import ast
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from tqdm.std import tqdm

from gan_lab.errors import GanLabError

INJECTED = "injected-parameters"
ENVIRONMENT = {"PROFILE": "GAN_LAB_PROFILE", "SEED": "GAN_LAB_SEED"}  # parameters the kernel also gets as variables


def coalesce_streams(cell) -> None:
    """Merge a cell's consecutive stream outputs and keep only what a carriage return left on
    screen, so a progress bar is stored as its last state, not as hundreds of updates."""
    merged = []
    for out in cell.get("outputs", []):
        if merged and out.output_type == "stream" and merged[-1].output_type == "stream" \
                and merged[-1].name == out.name:
            merged[-1].text += out.text
        else:
            merged.append(out)
    for out in merged:
        if out.output_type == "stream":
            out.text = "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
                                 for line in out.text.split("\n"))
    cell.outputs = merged


def parse_value(text):
    """A parameter's value: a Python literal (5, 2.5, None, (1, 2), "x"), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def inject_parameters(nb, parameters: dict) -> None:
    """Replace any injected-parameters cell by one assigning `parameters`, right after the cell
    tagged `parameters`; refuse a name that cell does not assign (a typo would be silently ignored)."""
    nb.cells = [c for c in nb.cells if INJECTED not in c.get("metadata", {}).get("tags", [])]
    if not parameters:
        return
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise GanLabError("This notebook has no cell tagged 'parameters' to inject -p values after.")
    known = set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*=", "".join(nb.cells[tagged[0]].source), re.M))
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise GanLabError(f"Unknown parameter(s) {unknown}: the parameters cell sets {', '.join(sorted(known))}.")
    lines = ["# Parameters injected by `python -m gan_lab.notebooks -p`"]
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    nb.cells.insert(tagged[0] + 1, new_code_cell("\n".join(lines), metadata={"tags": [INJECTED]}))


def cell_title(cell) -> str:
    """What a cell does, for the progress bar: its first comment line, else its first line."""
    lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
    comments = [line.lstrip("# ") for line in lines if line.startswith("#")]
    return (comments or lines or [""])[0][:50]


class _EchoingClient(NotebookClient):
    """nbclient's client, calling `on_stream(text)` with every piece of text a cell prints."""

    on_stream = None

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream" and self.on_stream:
            self.on_stream(msg["content"]["text"])
        return super().output(outs, msg, display_id, cell_index)


@contextmanager
def _environment(values: dict):
    """os.environ with `values` set, restored after (the kernel starts inside and inherits it)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_notebook(path, timeout=None, parameters=None) -> float:
    """Execute one notebook in place with `parameters` injected; return seconds taken. Raises on
    the first failing cell."""
    path, parameters = Path(path), dict(parameters or {})
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, parameters)
    client = _EchoingClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    env = {ENVIRONMENT[k]: str(v) for k, v in parameters.items() if k in ENVIRONMENT}
    start = time.perf_counter()
    try:
        with _environment(env), client.setup_kernel(), \
                tqdm(total=len(code), desc=path.name, unit="cell", file=sys.stdout) as bar:
            client.on_stream = lambda text: _show_last_line(bar, text)
            for index in code:
                bar.set_postfix_str(cell_title(nb.cells[index]), refresh=True)
                client.execute_cell(nb.cells[index], index)
                bar.update(1)
    finally:
        for cell in nb.cells:
            if cell.cell_type == "code":
                coalesce_streams(cell)
        nbformat.write(nb, path)  # keep what ran, even up to a failure, for the reader to see
    return time.perf_counter() - start


def _show_last_line(bar, text):
    """The last non-empty piece of `text` (after any carriage return) as the bar's postfix."""
    pieces = [p.strip() for p in re.split(r"[\r\n]", text) if p.strip()]
    if pieces:
        bar.set_postfix_str(pieces[-1][:90], refresh=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gan_lab.notebooks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a parameter of the notebooks (repeatable)")
    args = p.parse_args(argv)
    parameters = {name: parse_value(value) for name, value in args.parameter}
    times = {}
    try:
        for path in sorted(args.notebooks):
            times[path] = run_notebook(path, parameters=parameters)
            print(f"{path}: done in {times[path] / 60:.1f} min")
    except GanLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if len(times) > 1:
        print("\n".join(f"{t / 60:6.1f} min  {p}" for p, t in times.items()), f"\n{sum(times.values()) / 60:6.1f} min  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
