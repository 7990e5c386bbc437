import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from gan_lab.notebooks import run_notebook


@pytest.mark.subprocess
def test_runner_executes_in_place_and_keeps_outputs(tmp_path):
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# demo"), new_code_cell("x = 6 * 7"),
                                       new_code_cell("print(x)")]), path)
    run_notebook(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[2].outputs[0].text == "42\n"


@pytest.mark.subprocess
def test_runner_stops_at_a_failing_cell_and_still_saves_what_ran(tmp_path):
    from nbclient.exceptions import CellExecutionError

    path = tmp_path / "02_fails.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print('before')"), new_code_cell("1 / 0"),
                                       new_code_cell("print('after')")]), path)
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        run_notebook(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].outputs[0].text == "before\n" and cells[2].outputs == []


def test_progress_bars_are_stored_as_their_last_state():
    from nbformat.v4 import new_output

    from gan_lab.notebooks import coalesce_streams

    cell = new_code_cell("...")
    cell.outputs = [new_output("stream", name="stdout", text="\rbar  0%"), new_output("stream", name="stdout", text="\rbar 50%"),
                    new_output("stream", name="stdout", text="\rbar 100%\ndone\n"),
                    new_output("stream", name="stderr", text="warning\n")]
    coalesce_streams(cell)
    assert [o.text for o in cell.outputs] == ["bar 100%\ndone\n", "warning\n"]


def _parameters_notebook(path):
    cells = [new_code_cell("import os\nPROFILE = os.environ.get('GAN_LAB_PROFILE', 'default')\nQUICK = PROFILE == 'quick'\n"
                           "EPOCHS = 1 if QUICK else 10\nNAME = 'x'", metadata={"tags": ["parameters"]}),
             new_code_cell("# train the model\nprint('\\rstep 1\\rstep 2', flush=True)\nprint(PROFILE, QUICK, EPOCHS, NAME)")]
    nbformat.write(new_notebook(cells=cells), path)


def test_parameters_are_injected_after_the_tagged_cell_and_replaced_on_the_next_run():
    from gan_lab.notebooks import inject_parameters

    nb = new_notebook(cells=[new_code_cell("A = 1\nB = 'x'", metadata={"tags": ["parameters"]}), new_code_cell("A")])
    inject_parameters(nb, {"A": 5, "B": "y z"})
    assert nb.cells[1].metadata.tags == ["injected-parameters"] and "A = 5\nB = 'y z'" in nb.cells[1].source
    inject_parameters(nb, {"A": 7})  # a second run replaces the first run's cell
    assert [c.source.count("A = ") for c in nb.cells] == [1, 1, 0] and "A = 7" in nb.cells[1].source
    inject_parameters(nb, {})  # a run without -p removes it
    assert len(nb.cells) == 2


def test_unknown_parameters_and_notebooks_without_a_parameters_cell_are_refused():
    from gan_lab import GanLabError
    from gan_lab.notebooks import inject_parameters

    nb = new_notebook(cells=[new_code_cell("EPOCHS = 1", metadata={"tags": ["parameters"]})])
    with pytest.raises(GanLabError, match=r"Unknown parameter\(s\) \['EPOCH'\]: the parameters cell sets EPOCHS"):
        inject_parameters(nb, {"EPOCH": 2})
    with pytest.raises(GanLabError, match="no cell tagged 'parameters'"):
        inject_parameters(new_notebook(cells=[new_code_cell("x = 1")]), {"X": 1})


def test_values_are_python_literals_else_text_and_cells_are_named_by_their_first_comment():
    from gan_lab.notebooks import cell_title, parse_value

    assert [parse_value(v) for v in ("5", "2.5", "None", "(1, 2)", "'a'", "quick")] == [5, 2.5, None, (1, 2), "a", "quick"]
    assert cell_title(new_code_cell("x = 1\n# train the model\nfit()")) == "train the model"
    assert cell_title(new_code_cell("\nfit(epochs=3)")) == "fit(epochs=3)"


@pytest.mark.subprocess
def test_a_run_takes_parameters_and_shows_what_the_cell_prints(tmp_path, capsys):
    path = tmp_path / "03_params.ipynb"
    _parameters_notebook(path)
    run_notebook(path, parameters={"PROFILE": "quick", "NAME": "run 2"})
    shown = capsys.readouterr().out
    assert "train the model" in shown and "step 2" in shown  # the cell's title, then its own last line
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].metadata.tags == ["injected-parameters"]
    assert cells[2].outputs[-1].text.endswith("quick True 1 run 2\n")  # QUICK and EPOCHS follow PROFILE


@pytest.mark.subprocess
def test_the_command_line_takes_p_and_refuses_an_unknown_name(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "04_cli.ipynb"
    _parameters_notebook(path)
    env = {k: v for k, v in os.environ.items() if k != "GAN_LAB_PROFILE"}  # `make test` sets it for the notebooks
    ok = subprocess.run([sys.executable, "-m", "gan_lab.notebooks", str(path), "-p", "EPOCHS", "3"],
                        capture_output=True, text=True, timeout=300, env=env)
    assert ok.returncode == 0, ok.stderr
    assert nbformat.read(path, as_version=4).cells[2].outputs[-1].text.endswith("default False 3 x\n")
    bad = subprocess.run([sys.executable, "-m", "gan_lab.notebooks", str(path), "-p", "EPOCS", "3"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "Unknown parameter(s) ['EPOCS']" in bad.stderr and "Traceback" not in bad.stderr
