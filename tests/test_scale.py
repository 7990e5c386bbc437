"""Batch generation in resumable shards: Ray Data's actor pool against the same code in-process, a run
stopped mid-shard and resumed, and folders that hold another run's files."""

import json

import pytest

from gan_lab import scale
from gan_lab.cli import main
from gan_lab.errors import GanLabError
from gan_lab.paths import shipped

STYLE = str(shipped("faces-stylegan"))


def faces_job(**changes):
    return scale.Job(**{"model": STYLE, "n": 24, "seed": 3, "shard_size": 8, **changes})


def png_bytes_of(out, figures):
    return {f: (out / f).read_bytes() for f in figures.files}


@pytest.mark.slow
@pytest.mark.subprocess
def test_ray_data_writes_what_the_in_process_loop_writes(tmp_path, ray_local):
    job = faces_job()
    local = scale.run(job, tmp_path / "local", engine="local", progress=False)
    ray = scale.run(job, tmp_path / "ray", engine="ray", progress=False)
    assert local["images_written"] == ray["images_written"] == 24
    a, b = scale.inspect(tmp_path / "local", job), scale.inspect(tmp_path / "ray", job)
    assert len(a.files) == a.rows == a.unique_seeds == 24 and a.files == b.files
    assert (tmp_path / "local/faces.csv").read_text() == (tmp_path / "ray/faces.csv").read_text()
    assert png_bytes_of(tmp_path / "local", a) == png_bytes_of(tmp_path / "ray", b)
    header = (tmp_path / "ray/faces.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["file", "seed", "model", "truncation", "measured_yaw", "measured_pitch"] and "Smiling" in header


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_run_stopped_mid_shard_resumes_to_exactly_the_same_files(tmp_path, ray_local):
    job = faces_job(measure=False)
    scale.run(job, tmp_path / "whole", engine="local", progress=False)
    out = scale.prepare(job, tmp_path / "stopped")
    writer = scale.ShardWriter(job.to_json(), STYLE, str(out))
    writer.write(0)  # shard 0 finished; shard 1 stopped after 3 of its 8 pictures, before its CSV
    rows, z = writer.latents(*job.shards()[1][1:])
    for row, picture in zip(rows[:3], writer.generator.generate(z[:3])):
        scale.images.save_png(picture, out / row["file"])
    summary = scale.run(job, out, engine="ray", progress=False)
    assert (summary["resumed_from"], summary["images_written"]) == (1, 16)
    whole, resumed = scale.inspect(tmp_path / "whole", job), scale.inspect(out, job)
    assert resumed.files == whole.files and resumed.rows == resumed.unique_seeds == 24
    assert png_bytes_of(out, resumed) == png_bytes_of(tmp_path / "whole", whole)
    again = scale.run(job, out, engine="local", progress=False)  # a finished run: nothing to do
    assert (again["resumed_from"], again["images_written"]) == (3, 0)


@pytest.mark.slow
@pytest.mark.subprocess
def test_people_under_the_pose_grid_on_ray(tmp_path, ray_local):
    model = str(shipped("faces-stylegan"))  # it ships a Smiling direction, which the smile expression needs
    job = scale.Job(model, n=2, kind="people", shard_size=1, step=30.0, expressions=("neutral", "smile"))
    scale.run(job, tmp_path, engine="ray", progress=False)
    figures = scale.inspect(tmp_path, job)
    assert len(figures.files) == figures.rows == 2 * 5 * 2 and figures.unique_seeds == 2
    first = (tmp_path / "people.csv").read_text().splitlines()[:2]
    assert first[0].startswith("file,seed,yaw,pitch,expression,reachable,model,truncation,measured_yaw")
    assert first[1].startswith("images/00000000/000_yaw-60_pitch+0_neutral.png,0,-60.0,")


def test_a_folder_with_another_runs_files_is_refused(tmp_path):
    scale.prepare(faces_job(), tmp_path / "a")
    with pytest.raises(GanLabError, match=r"another run's files .*\['seed'\]"):
        scale.prepare(faces_job(seed=4), tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "holiday.png").write_bytes(b"x")
    with pytest.raises(GanLabError, match="not empty and holds no job.json"):
        scale.prepare(faces_job(), tmp_path / "b")
    assert json.loads((tmp_path / "a" / "job.json").read_text())["model"] == "faces-stylegan"


@pytest.mark.parametrize("changes, says", [
    ({"kind": "cats"}, "'faces' or 'people'"), ({"n": 0}, "n >= 1"), ({"truncation": 1.2}, r"\[0, 1\]"),
    ({"model": "nowhere"}, "no generator.xml"),
])
def test_bad_jobs_are_refused(changes, says):
    with pytest.raises(GanLabError, match=says):
        faces_job(**changes)


@pytest.mark.slow
def test_the_commands_render_faces_and_people_in_process(tmp_path, capsys):
    assert main(["render", STYLE, "-n", "5", "--shard", "2", "--no-measure", "--out", str(tmp_path / "f")]) == 0
    assert "Wrote 5 images" in capsys.readouterr().out
    assert len(list((tmp_path / "f" / "images").glob("*.png"))) == 5
    assert main(["grid", "--people", "1", "--model", STYLE, "--step", "60", "--no-measure",
                 "--out", str(tmp_path / "p")]) == 0
    assert len(list((tmp_path / "p" / "images").rglob("*.png"))) == 3
    assert main(["grid", "--people", "1", "--out", str(tmp_path / "q")]) == 1
    assert "--people needs --model" in capsys.readouterr().err
