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
