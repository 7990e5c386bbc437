"""Run the numbered notebooks headless, top to bottom, in place, with a progress bar.

    python -m gan_lab.notebooks notebooks/01_mnist_gan.ipynb [...]

Each notebook is executed cell by cell in a fresh kernel from this environment; the
executed notebook (outputs included) is written back, so a run leaves what a person
would see. The profile is read by the notebooks themselves from GAN_LAB_PROFILE.
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from tqdm.std import tqdm


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


def run_notebook(path, timeout=None) -> float:
    """Execute one notebook in place; return seconds taken. Raises on the first failing cell."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    start = time.perf_counter()
    try:
        with client.setup_kernel(), tqdm(total=len(code), desc=path.name, unit="cell", file=sys.stdout) as bar:
            for index in code:
                client.execute_cell(nb.cells[index], index)
                bar.update(1)
    finally:
        for cell in nb.cells:
            if cell.cell_type == "code":
                coalesce_streams(cell)
        nbformat.write(nb, path)  # keep what ran, even up to a failure, for the reader to see
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m gan_lab.notebooks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="+", type=Path)
    args = p.parse_args(argv)
    for path in sorted(args.notebooks):
        seconds = run_notebook(path)
        print(f"{path}: done in {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
