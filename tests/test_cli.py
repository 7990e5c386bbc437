"""`gan-lab` headless: resume after SIGKILL, and clear errors without tracebacks.

The commands run in-process through `gan_lab.cli.main` (its exit code, stdout and stderr via capsys);
only the SIGKILL test (it must kill a process) and one smoke test of `python -m gan_lab` start a process."""

import signal
import subprocess
import sys
import time

import pytest

from gan_lab import modelfolder
from gan_lab.cli import main
from gan_lab.training import checkpoints, runs

SMALL = ["--arch", "mlp", "--max-images", "256", "--checkpoint-every", "1", "--grid-every", "1"]


@pytest.fixture
def gan_lab(capsys):
    """`gan_lab(*args)` runs `gan-lab ARGS` in this process: its exit code (argparse's own exits
    included), stdout and stderr."""
    def run(*args):
        capsys.readouterr()  # only this command's output
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse: --help, bad option values
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["gan-lab", *args], code, out, err)

    return run


def _gan_lab_process(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "gan_lab", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.subprocess
def test_python_m_gan_lab_runs_the_cli_in_a_process(tmp_path):
    """The one smoke test of the entry point itself: `python -m gan_lab` parses, prints plain errors
    and passes main's exit code to the shell."""
    helped = _gan_lab_process("--help", timeout=120)
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("train", "convert", "generate"))
    wrong = _gan_lab_process("train", "cifar", "--epochs", "1", "--out", str(tmp_path / "out"), timeout=120)
    assert wrong.returncode == 1 and "gan-lab: error: Unknown model 'cifar'" in wrong.stderr
    assert "Traceback" not in wrong.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigkill_mid_run_then_resume_continues_from_the_last_checkpoint(tmp_path, gan_lab):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "gan_lab", "train", "mnist", "--epochs", "40", "--out", str(out), *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while len(checkpoints.list_checkpoints(out / "checkpoints")) < 2 and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "training ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    newest = checkpoints.latest(out / "checkpoints")
    done = checkpoints.read_state(newest)["epoch"]
    assert 2 <= done < 40
    resumed = gan_lab("train", "mnist", "--epochs", str(done + 2), "--out", str(out), "--resume", *SMALL)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming from {newest}" in resumed.stdout
    assert checkpoints.read_state(checkpoints.latest(out / "checkpoints"))["epoch"] == done + 2
    rows = (out / "history.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows][-2:] == [done + 1, done + 2]
    # The card names every segment, the killed one too (its command is written when it starts).
    first, then = modelfolder.read_info(out)["commands"]
    assert first.startswith("gan-lab train mnist --epochs 40") and "--resume" not in first
    assert then.startswith("gan-lab train mnist --epochs") and then.split()[-len(SMALL) - 1] == "--resume"


@pytest.mark.parametrize("args, message", [
    (["train", "cifar", "--epochs", "1", "--out", "OUT"], "Unknown model 'cifar'; trainable models: mnist"),
    (["train", "mnist", "--epochs", "0", "--out", "OUT"], "must be at least 1"),
    (["train", "mnist", "--epochs", "-3", "--out", "OUT"], "must be at least 1"),
    (["train", "mnist", "--epochs", "1", "--out", "FILE"], "is a file"),
    (["train", "mnist", "--minutes", "0", "--out", "OUT"], "must be above 0, got 0"),
    (["train", "mnist", "--minutes", "-2", "--out", "OUT"], "must be above 0, got -2"),
    (["train", "mnist", "--out", "OUT"], "Give the run a length: epochs, a wall-clock budget"),
    (["train", "mnist", "--epochs", "1", "--out", "OUT", "--augment", "rotate"], "Unknown augmentation rotate"),
    (["train", "vae", "--epochs", "1", "--out", "OUT", "--augment", "color"], "are for the GANs"),
    (["train", "dcgan", "--epochs", "1", "--out", "OUT", "--beta", "2"], "--beta is the VAE's KL weight"),
    (["train", "vae", "--epochs", "1", "--out", "OUT", "--loss", "hinge"], "--loss is a GAN option"),
    (["train", "mnist", "--epochs", "1", "--out", "OUT", "--data", "procedural"], "are for the face models"),
    (["train", "vae", "--epochs", "1", "--out", "OUT", "--arch", "mlp"], "--arch is for mnist"),
    (["train", "mnist", "--epochs", "1", "--out", "OUT", "--extra-faces", "10"], "--extra-faces is an option"),
    (["train", "dcgan", "--epochs", "1", "--out", "OUT", "--g-widths", "64,32"], "--g-widths and --d-widths are for mnist"),
    (["train", "vae", "--epochs", "1", "--out", "OUT", "--clusters", "10"], "the face dcgan, not vae"),
    (["train", "mnist", "--epochs", "1", "--out", "OUT", "--clusters", "10"], "use it with --arch cgan, not 'mlp'"),
    (["train", "stylegan", "--epochs", "1", "--out", "OUT", "--d-mbstd"], "has minibatch std built in"),
    (["train", "vae", "--epochs", "1", "--out", "OUT", "--d-mbstd"], "--d-mbstd for mnist and dcgan"),
    (["train", "mnist", "--arch", "cgan", "--epochs", "1", "--out", "OUT", "--d-mbstd"], "unconditional discriminators"),
    (["train", "mnist", "--epochs", "1", "--out", "OUT", "--g-widths", "64,x"], "expected a whole number, got 'x'"),
])
def test_bad_arguments_get_a_clear_message_and_no_traceback(tmp_path, gan_lab, args, message):
    (tmp_path / "FILE").write_text("not a folder")
    args = [str(tmp_path / a) if a in ("OUT", "FILE") else a for a in args]
    result = gan_lab(*args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_corrupt_checkpoint_and_other_architecture_are_refused_on_resume(tmp_path, gan_lab):
    out = tmp_path / "run"
    assert gan_lab("train", "mnist", "--epochs", "1", "--out", str(out), *SMALL).returncode == 0
    other = gan_lab("train", "mnist", "--epochs", "2", "--out", str(out), "--resume", "--arch", "dcgan",
                    "--max-images", "256")
    assert other.returncode == 1 and "different setup" in other.stderr and "Traceback" not in other.stderr
    newest = checkpoints.latest(out / "checkpoints")
    (newest / "generator.keras").write_bytes(b"\x00" * 100)
    broken = gan_lab("train", "mnist", "--epochs", "2", "--out", str(out), "--resume", *SMALL)
    assert broken.returncode == 1 and f"{newest} is corrupt" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.slow
def test_keep_holds_more_checkpoints_to_judge_earlier_epochs(tmp_path, gan_lab):
    out = tmp_path / "run"
    assert gan_lab("train", "mnist", "--epochs", "5", "--keep", "4", "--out", out, *SMALL).returncode == 0
    assert [p.name for p in checkpoints.list_checkpoints(out / "checkpoints")] == \
        [f"{checkpoints.PREFIX}{e:06d}" for e in (2, 3, 4, 5)]
    assert runs.checkpoint_generator(out, 2).output_shape == (None, 28, 28, 1)
    assert gan_lab("train", "mnist", "--epochs", "1", "--keep", "0", "--out", tmp_path / "x").returncode == 2


@pytest.mark.slow
def test_convert_then_generate_from_every_format(tmp_path, gan_lab):
    import keras
    import numpy as np
    from PIL import Image

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(36, activation="tanh"),
                              keras.layers.Reshape((6, 6, 1))])
    model.save(tmp_path / "generator.keras")
    out = tmp_path / "out"
    result = gan_lab("convert", str(tmp_path / "generator.keras"), "--out", str(out), "--fp32", "--batch", "2")
    assert result.returncode == 0, result.stderr
    assert "ovc generator.onnx" in result.stdout and "--input [2,8]" in result.stdout
    grids = []
    for name in ("generator.keras", "out/generator.onnx", "out/generator.xml"):
        png, npy = tmp_path / f"{name.replace('/', '-')}.png", tmp_path / f"{name.replace('/', '-')}.npy"
        made = gan_lab("generate", str(tmp_path / name), "-n", "5", "--seed", "3", "--out", str(png), "--npy", str(npy))
        assert made.returncode == 0, made.stderr
        grids.append(np.load(npy).astype(int))
        assert Image.open(png).size[0] > 12
    assert grids[0].shape == (5, 6, 6, 1)
    assert np.abs(grids[0] - grids[1]).max() <= 1 and np.abs(grids[0] - grids[2]).max() <= 1


def test_convert_and_generate_errors_are_plain(tmp_path, gan_lab):
    missing = gan_lab("convert", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    wrong = gan_lab("generate", str(tmp_path / "g.h5"), "--out", str(tmp_path / "g.png"))
    assert wrong.returncode == 1 and ".keras, .onnx or .xml" in wrong.stderr


def test_train_refuses_devices_without_the_mirrored_strategy(tmp_path, capsys):
    assert main(["train", "mnist", "--epochs", "1", "--devices", "2", "--out", str(tmp_path / "run")]) == 1
    assert "--devices goes with --strategy mirrored" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
