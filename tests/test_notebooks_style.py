"""The notebooks read as tutorials: short code cells, no private names of the library, the machine
that made the outputs printed, and stored outputs free of the absolute paths of that machine."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ABSOLUTE = re.compile(r"(?<![\w.~])(/root/|/home/[^/\s]+/|/Users/[^/\s]+/|/work/|/tmp/)")


def cells(path, kind):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short_and_use_only_public_names(path):
    for cell in cells(path, "code"):
        source = "".join(cell["source"])
        assert len(source.splitlines()) <= 25, f"{path.name}: a code cell of {len(source.splitlines())} lines:\n{source}"
        private = re.findall(r"\b[a-z]\w*\._[a-z]\w*|import _\w+", source)
        assert not private, f"{path.name} uses private names {private}"
        assert not re.search(r"^\s*ov\s*=", source, re.M), f"{path.name} shadows the openvino module name `ov`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_says_which_machine_made_its_outputs(path):
    assert any("describe_machine()" in "".join(c["source"]) for c in cells(path, "code")), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_show_no_absolute_paths(path):
    for cell in cells(path, "code"):
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) + json.dumps(output.get("data", {}).get("text/plain", ""))
            found = ABSOLUTE.search(text)
            assert not found, f"{path.name}: an output shows {text[max(0, found.start() - 40):found.end() + 60]!r}"
