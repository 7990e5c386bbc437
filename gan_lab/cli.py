"""`gan-lab`: the library's main jobs from a shell. Each subcommand calls a function of
`gan_lab.commands`, imported only when it runs, so that `--help` is instant."""

import argparse
import importlib
import sys

from gan_lab.backends import BENCH_METHODS, NAMES
from gan_lab.errors import GanLabError

TRAINABLE = ("mnist", "dcgan", "stylegan", "vae", "cyclegan")


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def widths(text):
    """'128,64' -> (128, 64): layer widths, each a positive whole number."""
    return tuple(positive_int(part) for part in text.split(","))


def epoch_list(text):
    """'4,8,12' -> [4, 8, 12]; 'all' stays 'all' (every kept checkpoint)."""
    return text if text == "all" else list(widths(text))


def judge_faces(p) -> None:
    """The face judge's sample sizes, shared by `judge` and `ship` (defaults: the shipped cards' judge)."""
    p.add_argument("-n", type=positive_int, default=1000, help="faces per side (default 1000, as shipped)")
    p.add_argument("--n-faces", type=positive_int, default=20_000,
                   help="procedural faces drawn for the real test faces (default 20000, as shipped)")


def parser():
    p = argparse.ArgumentParser(prog="gan-lab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model headless, with checkpoints and resume")
    t.add_argument("model", help=f"which model: {', '.join(TRAINABLE)}")
    t.add_argument("--epochs", type=positive_int, help="passes over the training images (and/or --minutes)")
    t.add_argument("--minutes", type=positive_float, help="wall-clock budget: stop at a step boundary with a "
                                                          "checkpoint and grids after this much training time")
    t.add_argument("--out", required=True, help="run folder (checkpoints, samples, logs, generator.keras)")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    t.add_argument("--seed", type=int, help="seed of the initialisation, batches and samples (default 0)")
    t.add_argument("--data", help="faces: 'procedural' (default, drawn by gan_lab) or a CelebA folder")
    t.add_argument("--arch", choices=("dcgan", "mlp", "cgan"),
                   help="mnist only: dense GAN, DCGAN or cgan (class-conditional: a digit per label)")
    t.add_argument("--loss", choices=("nonsaturating", "hinge", "wgan-gp"))
    t.add_argument("--beta", type=float, help="vae only: weight of the KL term")
    t.add_argument("--base", type=positive_int, help="faces: channels at the image's side (dcgan 24, stylegan 16)")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--grid-every", type=positive_int, help="epochs between sample grids (mnist 20, faces 2)")
    t.add_argument("--checkpoint-every", type=positive_int, help="epochs between checkpoints (mnist 20, faces 2)")
    t.add_argument("--keep", type=positive_int, help="checkpoints kept, the newest (3); keep more to judge earlier "
                                                     "epochs (training.runs.checkpoint_generator)")
    t.add_argument("--xla", action=argparse.BooleanOptionalAction,
                   help="compile the train step with XLA (default: on, except mnist's dcgan)")
    t.add_argument("--max-images", type=positive_int, help="train on the first N images only (quick trials)")
    k = t.add_argument_group("training toolkit (GANs)")
    k.add_argument("--augment", help="DiffAugment policy: comma-separated color, translation, cutout; or none")
    k.add_argument("--cutout", type=positive_float, help="cutout square side as a share of the image (faces 0.5, "
                                                         "digits 0.25)")
    k.add_argument("--d-norm", choices=("batch", "spectral", "none"), help="discriminator normalisation")
    k.add_argument("--upsample", choices=("transpose", "nearest", "bilinear"),
                   help="generator: stride-2 transposed conv, or upsample then 3x3 conv (no checkerboard)")
    k.add_argument("--r1-gamma", type=float, help="weight of the lazy R1 penalty on reals (0: off)")
    k.add_argument("--r1-every", type=positive_int, help="discriminator steps between R1 penalties (16)")
    k.add_argument("--lr", type=positive_float, help="learning rate of both networks")
    k.add_argument("--lr-g", type=positive_float, help="generator learning rate (default --lr)")
    k.add_argument("--lr-d", type=positive_float, help="discriminator learning rate (default --lr)")
    k.add_argument("--beta1", type=float, help="Adam beta_1 (0.5)")
    k.add_argument("--beta2", type=float, help="Adam beta_2 (0.999)")
    k.add_argument("--ema-half-life", type=positive_float, help="EMA generator half-life in images")
    k.add_argument("--top-k", type=positive_float, help="top-k training: the share of each generated batch, the "
                                                        "most real-looking, the generator learns from in the end")
    k.add_argument("--top-k-half-life", type=positive_float, help="images over which top-k's share halves from 1 "
                                                                  "(250,000)")
    k.add_argument("--lr-decay", choices=("cosine", "constant"),
                   help="learning-rate schedule (cosine: to zero over --epochs, else over --minutes)")
    k.add_argument("--lr-hold", type=positive_int, metavar="EPOCHS",
                   help="with --lr-decay cosine: hold the full rate this many epochs, then decay to zero at --epochs "
                        "(resume a constant-rate run with it to cool it down)")
    k.add_argument("--extra-faces", type=positive_int, help="faces: procedural faces of other people added to the "
                                                            "training split (more data, free to draw)")
    k.add_argument("--d-base", type=positive_int, help="faces: discriminator width (default --base)")
    s = t.add_argument_group("style-based generator (stylegan)")
    s.add_argument("--cap", type=positive_int, help="most channels of any layer (128)")
    s.add_argument("--w-dim", type=positive_int, help="size of w, the mapping's output (128)")
    s.add_argument("--mapping-layers", type=positive_int, help="dense layers of the mapping network (2)")
    s.add_argument("--mixing", type=float, help="share of samples trained with two latents' styles (0; "
                                                "StyleGAN's 0.9 drew worse faces here)")
    k.add_argument("--g-widths", type=widths, help="mnist: generator layer widths, e.g. 128,64 (default the builder's)")
    k.add_argument("--d-widths", type=widths, help="mnist: discriminator layer widths, e.g. 64,128")
    k.add_argument("--d-mbstd", action="store_true", help="mnist (mlp, dcgan), face dcgan: minibatch standard "
                                                          "deviation in the discriminator, which sees a batch that "
                                                          "lacks variety")
    k.add_argument("--clusters", type=positive_int, help="mnist --arch cgan, dcgan: train without labels, "
                                                         "self-conditioned on K clusters of the images; ships a "
                                                         "z-only generator")
    y = t.add_argument_group("CycleGAN (cyclegan; also --lr, --beta1, --batch-size, --upsample, --xla)")
    y.add_argument("--config", help="a CycleGAN config JSON (a run's config.json will do); flags override it")
    y.add_argument("--a", help="folder of domain A images (with --b)")
    y.add_argument("--b", help="folder of domain B images (with --a)")
    y.add_argument("--domains", help="procedural:ATTRIBUTE (blond_hair, eyeglasses, beard); default "
                                     "procedural:blond_hair")
    y.add_argument("--people", type=positive_int, help="procedural: people drawn in each domain (2000)")
    y.add_argument("--image-size", type=positive_int, help="64 or 128")
    y.add_argument("--width", type=positive_int, help="generator filters at full size (16)")
    y.add_argument("--blocks", type=positive_int, help="generator residual blocks (6)")
    y.add_argument("--d-width", type=positive_int, help="discriminator filters (32)")
    y.add_argument("--d-layers", type=positive_int, help="discriminator stride-2 layers (2)")
    y.add_argument("--cycle-weight", type=float, help="lambda of the cycle loss (10)")
    y.add_argument("--identity-weight", type=float, help="identity loss, as a share of the cycle weight (0.5)")
    y.add_argument("--pool-size", type=int, help="generated images kept for the discriminators (50; 0: none)")
    y.add_argument("--hold-epochs", type=int, help="epochs at the full learning rate (3; the paper 100)")
    y.add_argument("--decay-epochs", type=int, help="epochs decaying it linearly to zero (3; the paper 100)")
    y.add_argument("--load-size", type=positive_int, help="augmentation: resize to this, crop back (72 for 64)")
    y.add_argument("--flip", action=argparse.BooleanOptionalAction, help="augmentation: random horizontal flips")
    y.add_argument("--skip", action=argparse.BooleanOptionalAction,
                   help="generator learns the change, added to its input (default on)")
    m = t.add_argument_group("several devices (tf.distribute)")
    m.add_argument("--strategy", choices=("default", "mirrored"),
                   help="default: one device; mirrored: a copy of the models on each GPU (or, with --devices and no "
                        "GPU, on logical CPUs), --batch-size being the global batch")
    m.add_argument("--devices", type=positive_int,
                   help="with --strategy mirrored: how many GPUs; without GPUs, split the CPU into this many logical "
                        "devices (tests several devices; on one CPU it is no faster)")
    t.set_defaults(command="train")

    c = sub.add_parser("convert", help="Keras model -> ONNX -> OpenVINO IR (+ INT8), with parity gates")
    c.add_argument("model", help="a .keras model whose inputs are arrays: a latent, a latent and a class, an image")
    c.add_argument("--out", required=True, help="folder for STEM.onnx, STEM.xml/.bin, model.json")
    c.add_argument("--stem", default="generator", help="file name of the network: generator (default), mapping, "
                                                        "synthesis, a2b, b2a, sr")
    c.add_argument("--num-classes", type=positive_int, help="classes of a class-conditional model's label input")
    c.add_argument("--images", help="a folder of images for the parity check and INT8 calibration of an "
                                    "image-input model (default: procedural faces)")
    c.add_argument("--image-size", type=positive_int, default=64, help="side of those images (default 64)")
    c.add_argument("--opset", type=positive_int, default=17)
    c.add_argument("--batch", type=positive_int, help="a static batch size (default: dynamic)")
    c.add_argument("--fp32", action="store_true", help="keep FP32 weights in the IR (default FP16)")
    c.add_argument("--int8", action="store_true", help="also write STEM-int8.xml via NNCF")
    c.add_argument("--seed", type=int, default=0, help="seed of the parity and calibration inputs")
    c.set_defaults(command="convert")

    g = sub.add_parser("generate", help="a grid of images from any generator (.keras, .onnx, .xml)")
    g.add_argument("model")
    g.add_argument("-n", type=positive_int, default=64)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", required=True, help="PNG file for the grid")
    g.add_argument("--npy", help="also save the uint8 images as .npy")
    g.add_argument("--scale", type=positive_int, default=2, help="enlarge the PNG (nearest)")
    g.add_argument("--label", type=int, help="class of a class-conditional generator (default: every class in turn)")
    g.add_argument("--device", default="CPU", help="OpenVINO device: CPU, GPU or AUTO")
    g.set_defaults(command="generate")

    b = sub.add_parser("bench", help="images/s, latency and CPU use of every backend, side by side")
    b.add_argument("models", nargs="+", help="generator files or model folders (formats beside them are found)")
    b.add_argument("--batch", default="1,8,64,256", help="comma-separated batch sizes")
    b.add_argument("--backends", help=f"comma-separated subset of: {', '.join(BENCH_METHODS)}")
    b.add_argument("--seconds", type=float, default=1.0, help="time per repeat")
    b.add_argument("--repeats", type=positive_int, default=3)
    b.add_argument("--device", default="CPU", help="OpenVINO device of the OpenVINO backends: CPU, GPU, AUTO ...")
    b.add_argument("--hint", choices=("LATENCY", "THROUGHPUT"), help="OpenVINO performance hint (default: each backend's own)")
    b.add_argument("--precision", choices=("FP32", "FP16", "INT8"), help="OpenVINO inference precision (INT8: generator-int8.xml)")
    b.add_argument("--streams", type=positive_int, help="OpenVINO streams (default: the hint's choice)")
    b.add_argument("--requests", type=positive_int, help="requests in flight for openvino-async (default: OpenVINO's optimal)")
    b.add_argument("--json", help="write the results as JSON")
    b.add_argument("--plot", help="write a bar chart PNG")
    b.set_defaults(command="bench")
    j = sub.add_parser("judge", help="the face judge (Fréchet ratios, attributes, yaw, two-sample test) on face "
                                      "models, generator files or a run's kept epochs, one row each")
    j.add_argument("models", nargs="+", help="model folders or generator files; with --epochs, run folders")
    j.add_argument("--epochs", type=epoch_list, help="judge a run's kept checkpoints: comma-separated epochs, or all")
    j.add_argument("--seed", type=int, default=1, help="latent seed of the generated faces (default 1, as shipped)")
    judge_faces(j)
    j.add_argument("--two-sample", action=argparse.BooleanOptionalAction, default=True,
                   help="also the share of faces a classifier two-sample test catches (~20 s a model; default on)")
    j.add_argument("--json", help="write the rows as JSON")
    j.set_defaults(command="judge")
    sh = sub.add_parser("ship", help="release a face run (its final generator or a kept epoch) as a model folder in "
                                     "the run, judged, exported and timed; shipped only if it beats the shipped model")
    sh.add_argument("run", help="the --out folder of gan-lab train dcgan|stylegan|vae")
    sh.add_argument("--epoch", type=positive_int, help="a kept checkpoint's averaged generator (default: the final one)")
    sh.add_argument("--to", help="the shipped folder to beat (default: models/faces-ARCHITECTURE)")
    sh.add_argument("--note", help="a sentence for the card (why this epoch, pauses, ...)")
    judge_faces(sh)
    sh.set_defaults(command="ship")
    tr = sub.add_parser("translate", help="faces into the other domain, through a CycleGAN model folder")
    tr.add_argument("model", help="a CycleGAN folder holding a2b.* and b2a.* (e.g. models/faces-cyclegan)")
    tr.add_argument("images", nargs="+", help="image files, any size and format (center-cropped, resized)")
    tr.add_argument("--to", choices=("a", "b"), default="b", help="the target domain (default b)")
    tr.add_argument("--out", required=True, help="folder for the translated PNGs (NAME-to-b.png)")
    tr.add_argument("--backend", choices=NAMES, default="openvino")
    tr.set_defaults(command="translate")
    gr = sub.add_parser("grid", help="one saved face (or --people N seeded people) under a grid of head poses and "
                                      "expressions (a dataset)")
    gr.add_argument("face", nargs="?", help="a face saved by the explorer (its .json); or --people N")
    gr.add_argument("--out", required=True, help="folder for images/, grid.csv and contact_sheet.png")
    gr.add_argument("--yaw", type=float, default=60.0, help="yaw from -YAW to +YAW degrees (default 60)")
    gr.add_argument("--step", type=float, default=5.0, help="yaw step in degrees (default 5)")
    gr.add_argument("--pitch", default="0", help="comma-separated pitch angles in degrees (default 0)")
    gr.add_argument("--expressions", default="neutral", help="comma-separated: neutral, smile, open_mouth")
    gr.add_argument("--upscale", choices=("bilinear", "sr"), help="enlarge the images (sr: gan_lab's model)")
    gr.add_argument("--size", type=int, default=256, choices=(128, 256, 512, 1024), help="upscaled size")
    gr.add_argument("--backend", choices=(*NAMES, "onnx"), default="openvino")
    gr.add_argument("--model", help="model folder (default: the one the face names)")
    gr.add_argument("--measure", action=argparse.BooleanOptionalAction, default=True,
                    help="write the classifier's yaw/pitch of each image to the CSV (default on)")
    gr.add_argument("--hold", action=argparse.BooleanOptionalAction, default=True,
                    help="hold the face's locked attributes as the classifier reads them (default on)")
    gr.add_argument("--people", type=positive_int, help="render N seeded people instead of one saved face, in "
                                                         "resumable shards (needs --model)")
    gr.add_argument("--seed", type=int, default=0, help="--people: the first person's seed (default 0)")
    gr.add_argument("--truncation", type=float, default=1.0, help="--people: truncation psi in [0, 1] (default 1)")
    gr.add_argument("--ray", action="store_true", help="--people: render the shards on Ray Data's actor pool")
    gr.add_argument("--actors", type=positive_int, help="--ray: OpenVINO actors (default: one per core)")
    gr.add_argument("--shard", type=positive_int, default=10, help="--people: people per shard (default 10)")
    gr.set_defaults(command="grid")
    r = sub.add_parser("render", help="N seeded faces as PNGs plus a CSV of their measured attributes and pose, "
                                      "in resumable shards (Ray Data with --ray)")
    r.add_argument("model", help="a model folder with generator.xml (e.g. models/faces-stylegan)")
    r.add_argument("-n", type=positive_int, required=True, help="how many faces")
    r.add_argument("--out", required=True, help="an empty folder, or the folder of a stopped run to resume")
    r.add_argument("--seed", type=int, default=0, help="the first face's seed (default 0)")
    r.add_argument("--truncation", type=float, default=1.0, help="truncation psi in [0, 1] (default 1)")
    r.add_argument("--shard", type=positive_int, default=500, help="faces per shard (default 500)")
    r.add_argument("--measure", action=argparse.BooleanOptionalAction, default=True,
                   help="the face classifier's attributes, yaw and pitch in the CSV (default on)")
    r.add_argument("--ray", action="store_true", help="render the shards on Ray Data's actor pool")
    r.add_argument("--actors", type=positive_int, help="--ray: OpenVINO actors (default: one per core)")
    r.add_argument("--address", help="--ray: a Ray cluster to join (default: a local one; or RAY_ADDRESS)")
    r.set_defaults(command="render")
    sv = sub.add_parser("serve", help="an HTTP face service on Ray Serve (OpenVINO inside), until Ctrl-C")
    sv.add_argument("models", nargs="+", help="model folders with generator.xml, or a2b.xml and b2a.xml")
    sv.add_argument("--replicas", type=positive_int, default=1, help="replicas of each model (default 1)")
    sv.add_argument("--port", type=positive_int, default=8000)
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--max-images", type=positive_int, default=64, help="images one request may ask for (64)")
    sv.add_argument("--max-batch", type=positive_int, default=256, help="images one inference may batch (256)")
    sv.add_argument("--wait-ms", type=float, default=5.0, help="how long a replica waits to fill a batch (5 ms)")
    sv.add_argument("--address", help="a Ray cluster to join (default: a local one; or RAY_ADDRESS)")
    sv.set_defaults(command="serve")
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv  # what `train` records in the model card
    try:
        getattr(importlib.import_module("gan_lab.commands"), "cmd_" + args.command)(args)
    except GanLabError as err:
        print(f"gan-lab: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gan-lab: interrupted; rerun with --resume to continue from the last checkpoint.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
