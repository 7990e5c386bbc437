"""What each `gan-lab` subcommand does, once `gan_lab.cli` has parsed its arguments.

Kept apart from the parser so that `gan-lab --help` loads no TensorFlow: the CLI imports this
module only when a command runs.
"""

import shlex
import time
from pathlib import Path

import numpy as np

from gan_lab import (bench, cluster, convert, distribute, flops, identity_grid, images, judging, paths, plots,
                     release, scale, serve, translator)
from gan_lab.data import folders
from gan_lab.metrics import face_attributes
from gan_lab.cli import TRAINABLE
from gan_lab.errors import GanLabError
from gan_lab.runtime import load_generator
from gan_lab.training import face_models, mnist, translation

# Flags of `gan-lab train cyclegan` -> Config fields; the rest of the train flags belong to other models.
CYCLEGAN_FLAGS = {name: name for name in ("a", "b", "domains", "people", "image_size", "width", "blocks", "d_width",
                                          "d_layers", "cycle_weight", "identity_weight", "pool_size", "hold_epochs",
                                          "decay_epochs", "load_size", "flip", "skip", "lr", "batch_size", "upsample",
                                          "grid_every", "checkpoint_every", "keep", "xla", "minutes", "seed")} | {"beta1": "beta_1"}
RUN_ARGS = ("command", "model", "out", "resume", "argv", "config", "strategy", "devices")
SHARED = ("lr", "batch_size", "upsample", "grid_every", "checkpoint_every", "keep", "xla", "minutes", "seed", "beta1")

def _train_options(args) -> dict:
    """The options given on the command line, for the model's train function."""
    own = sorted(f"--{k.replace('_', '-')}" for k in (*CYCLEGAN_FLAGS, "config")
                 if k not in SHARED and getattr(args, k, None) is not None)
    if own:
        raise GanLabError(f"{', '.join(own)}: options of the CycleGAN (gan-lab train cyclegan), not of {args.model}.")
    given = {"arch": args.arch, "loss": args.loss, "batch_size": args.batch_size, "grid_every": args.grid_every,
             "checkpoint_every": args.checkpoint_every, "keep": args.keep, "xla": args.xla, "max_images": args.max_images,
             "minutes": args.minutes}
    toolkit = {"augment": args.augment, "cutout": args.cutout, "d_norm": args.d_norm, "upsample": args.upsample,
               "r1_gamma": args.r1_gamma, "r1_every": args.r1_every, "lr": args.lr, "lr_g": args.lr_g,
               "lr_d": args.lr_d, "beta_1": args.beta1, "beta_2": args.beta2, "ema_half_life": args.ema_half_life,
               "lr_decay": args.lr_decay, "lr_hold": args.lr_hold, "top_k": args.top_k,
               "top_k_half_life": args.top_k_half_life}
    vae_keys = ("lr", "beta_1", "lr_decay", "lr_hold")
    if args.model == "vae" and any(v is not None for k, v in toolkit.items() if k not in vae_keys):
        raise GanLabError("The training toolkit's GAN options (--augment, --d-norm, --r1-gamma ...) are for the "
                          "GANs (mnist, dcgan); the VAE takes --lr, --beta1, --lr-decay and --lr-hold.")
    given |= toolkit
    if args.model == "mnist" and args.extra_faces is not None:
        raise GanLabError("--extra-faces is an option of the face models (dcgan, vae).")
    if args.model not in ("dcgan", "stylegan") and args.d_base is not None:
        raise GanLabError("--d-base is an option of the face GANs (dcgan, stylegan).")
    given |= {"extra_faces": args.extra_faces, "d_base": args.d_base}
    style = {"cap": args.cap, "w_dim": args.w_dim, "mapping_layers": args.mapping_layers, "mixing": args.mixing}
    if args.model != "stylegan" and any(v is not None for v in style.values()):
        raise GanLabError("--cap, --w-dim, --mapping-layers and --mixing are options of the style-based model.")
    given |= style
    if args.model == "mnist":
        if args.data is not None or args.beta is not None or args.base is not None:
            raise GanLabError("--data, --beta and --base are for the face models (dcgan, vae), not mnist.")
        given |= {"g_widths": args.g_widths, "d_widths": args.d_widths, "d_mbstd": args.d_mbstd or None,
                  "clusters": args.clusters}
    elif args.g_widths or args.d_widths or (args.d_mbstd and args.model != "dcgan"):
        raise GanLabError("--g-widths and --d-widths are for mnist and --d-mbstd for mnist and dcgan; the face models "
                          "take --base and --d-base (the style-based discriminator has minibatch std built in).")
    else:
        given["d_mbstd"] = args.d_mbstd or None  # dcgan only: refused above for the other face models
        if args.clusters is not None and args.model != "dcgan":
            raise GanLabError(f"--clusters self-conditions mnist (--arch cgan) and the face dcgan, not {args.model}.")
        given["clusters"] = args.clusters
        if args.arch is not None:
            raise GanLabError("--arch is for mnist; the face models are chosen by name (dcgan, stylegan, vae).")
        given |= {"data": args.data, "beta": args.beta, "base": args.base}
        if args.model == "vae" and args.loss is not None:
            raise GanLabError("--loss is a GAN option; the VAE's loss is reconstruction + beta * KL (--beta).")
        if args.model != "vae" and args.beta is not None:
            raise GanLabError(f"--beta is the VAE's KL weight; the {args.model} model has no such option.")
    return {k: v for k, v in given.items() if v is not None}


def _cyclegan_config(args) -> "translation.Config":
    """The run's Config: --config (or, resuming, the run's own config.json), then the flags given."""
    foreign = sorted(f"--{k.replace('_', '-')}" for k, v in vars(args).items()
                     if v is not None and v is not False and k not in CYCLEGAN_FLAGS and k not in RUN_ARGS)
    if foreign:
        raise GanLabError(f"{', '.join(foreign)}: not options of the CycleGAN (its length is --hold-epochs + "
                          "--decay-epochs; see gan-lab train --help).")
    given = {CYCLEGAN_FLAGS[k]: v for k, v in vars(args).items() if k in CYCLEGAN_FLAGS and v is not None}
    base = args.config or (Path(args.out) / "config.json" if args.resume else None)
    if base and Path(base).exists():
        return translation.Config.load(base, **given)
    if args.config:
        raise GanLabError(f"The config file {args.config} does not exist.")
    return translation.Config.of(given, "the flags")


def _strategy(args):
    """The tf.distribute strategy of --strategy/--devices; None (one device, as before) without them."""
    if args.strategy in (None, "default"):
        if args.devices is not None:
            raise GanLabError("--devices goes with --strategy mirrored.")
        return None
    return distribute.strategy(args.strategy, devices=args.devices)  # splits the CPU before TensorFlow runs


def cmd_train(args):
    if args.model not in TRAINABLE:
        raise GanLabError(f"Unknown model {args.model!r}; trainable models: {', '.join(TRAINABLE)}.")
    seed = 0 if args.seed is None else args.seed
    strategy = _strategy(args)
    # The model card keeps every command that trained this run (a resumed run lists each segment).
    command = shlex.join(["gan-lab", *args.argv]).replace(str(Path.home()), "~")  # a card shows no home folder
    run = {"resume": args.resume, "strategy": strategy, "command": command}
    if args.model == "cyclegan":
        result, _ = translation.train(_cyclegan_config(args), args.out, **run)
    elif args.model == "mnist":
        result, _ = mnist.train(args.out, args.epochs, seed=seed, **run, **_train_options(args))
    else:
        result, _ = face_models.train(args.model, args.out, args.epochs, seed=seed, **run, **_train_options(args))
    if result.info.get("interrupted"):
        print("Interrupted: stopped at a step boundary with a checkpoint; rerun with --resume to continue.")
    made = "a2b.keras and b2a.keras" if args.model == "cyclegan" else "generator.keras"
    print(f"Trained to epoch {result.epochs_done}, {result.train_seconds:.0f} s in this run "
          f"({result.images_per_second:.0f} images/s); {made} in {result.out}")


def cmd_convert(args):
    pictures = folders.read(args.images, args.image_size, verbose=False).images if args.images else None
    report = convert.convert(args.model, args.out, stem=args.stem, opset=args.opset, batch=args.batch,
                             fp32=args.fp32, int8=args.int8, seed=args.seed, num_classes=args.num_classes,
                             images=pictures, image_size=args.image_size)
    print(f"Equivalent OpenVINO command line: {report['ovc_command']}")
    print(f"Wrote {', '.join(report['sizes_bytes'])} and model.json to {args.out} in {report['convert_seconds']} s")


def cmd_generate(args):
    gen = load_generator(args.model, device=args.device)
    labels = None
    if gen.conditional:  # a class-conditional generator: the asked class, or every class in turn
        labels = np.full(args.n, args.label) if args.label is not None else np.arange(args.n) % (gen.num_classes or 10)
    elif args.label is not None:
        raise GanLabError(f"--label is for class-conditional generators; {gen.path.name} takes only latents.")
    pictures = gen.generate(gen.sample_latents(args.n, args.seed), labels)
    images.save_png(images.grid(pictures), args.out, scale=args.scale)
    if args.npy:
        np.save(args.npy, pictures)
    print(f"{args.n} images from {gen.path.name} ({gen.backend}) -> {args.out}")


def cmd_judge(args):
    classifier, rows = face_attributes.load_classifier(), {}
    for name, generator in judging.candidates(args.models, args.epochs):
        start = time.perf_counter()
        rows[name] = judging.row(generator, args.seed, args.n, args.two_sample, classifier, n_faces=args.n_faces)
        print(f"judged {name} in {time.perf_counter() - start:.0f} s", flush=True)
    print(judging.table(rows))
    if args.json:
        print(f"-> {judging.save(rows, args.json)}")


def cmd_ship(args):
    decision = release.ship_run(args.run, args.epoch, args.to, args.note, n=args.n, n_faces=args.n_faces)
    figures = decision["summary"]
    print(f"epoch {decision['epoch']}: layout Fréchet {figures['layout_frechet_ratio']:.2f}x, feature Fréchet "
          f"{figures['frechet_ratio']:.2f}x, worst attribute {100 * figures['max_rate_gap']:.1f} points, "
          f"yaw spread {figures['yaw_spread']:.0%}")
    print(f"{decision['reason']}; the release is in {paths.shown(decision['folder'])}")


def cmd_translate(args):
    written = translator.translate_files(args.model, args.images, args.to, args.out, args.backend)
    print(f"{len(written)} of {len(args.images)} images translated to domain {args.to} -> {args.out}")


def cmd_bench(args):
    batches = [_positive(b) for b in args.batch.split(",")]
    backends = tuple(args.backends.split(",")) if args.backends else bench.BACKENDS
    settings = bench.OpenVINOSettings(args.device, args.precision, args.hint, args.streams, args.requests)
    rates = flops.sgemm_rates()
    peak = max(rates.values())
    print(f"SGEMM peak of this machine: {peak:.0f} GFLOP/s "
          f"(NumPy {rates['numpy']:.0f}, TensorFlow {rates['tensorflow']:.0f})")
    results = []
    for model in args.models:
        results += bench.run(model, batches, backends, seconds=args.seconds, repeats=args.repeats, peak=peak,
                             openvino=settings)
    print(bench.table(results))
    if args.json:
        bench.save_json(results, args.json, peak_gflops=peak)
    if args.plot:
        plots.plot_throughput(results).savefig(args.plot, dpi=120)


def cmd_grid(args):
    if args.people:
        return _grid_people(args)
    if not args.face:
        raise GanLabError("Name a saved face (its .json), or --people N with --model FOLDER for N seeded people.")
    csv_path = identity_grid.render(args.face, args.out, yaw=args.yaw, step=args.step, pitch=_floats(args.pitch),
                           expressions=args.expressions.split(","), backend=args.backend, upscale=args.upscale,
                           size=args.size, measure=args.measure, model=args.model, hold=args.hold)
    print(f"Wrote the grid to {csv_path.parent} (parameters of every image: {csv_path})")


def _grid_people(args):
    if not args.model:
        raise GanLabError("--people needs --model FOLDER (a face model with directions.json, e.g. models/faces-stylegan).")
    job = scale.Job(args.model, n=args.people, seed=args.seed, kind="people", shard_size=args.shard,
                    truncation=args.truncation, measure=args.measure, yaw=args.yaw, step=args.step,
                    pitch=tuple(_floats(args.pitch)), expressions=tuple(args.expressions.split(",")))
    _report(scale.run(job, args.out, engine="ray" if args.ray else "local", actors=args.actors))


def cmd_render(args):
    job = scale.Job(args.model, n=args.n, seed=args.seed, shard_size=args.shard, truncation=args.truncation,
                    measure=args.measure)
    _report(scale.run(job, args.out, engine="ray" if args.ray else "local", actors=args.actors, address=args.address))


def _report(summary):
    resumed = f", {summary['resumed_from']} shards were already done" if summary["resumed_from"] else ""
    print(f"Wrote {summary['images_written']} images in {summary['seconds']:.1f} s ({summary['engine']}{resumed}); "
          f"every image's parameters: {summary['csv']}")


def cmd_serve(args):
    limits = serve.Limits(max_images=args.max_images, max_batch=args.max_batch, wait_ms=args.wait_ms)
    url = serve.start(args.models, replicas=args.replicas, port=args.port, host=args.host, limits=limits,
                      address=args.address)
    print(f"Serving {', '.join(Path(m).name for m in args.models)} at {url} (GET {url}/health); Ctrl-C stops.",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        serve.stop()
        cluster.shutdown()


def _floats(text):
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise GanLabError(f"Expected comma-separated degrees like 0 or -10,0,10; got {text!r}.") from None




def _positive(text) -> int:
    try:
        value = int(text)
    except ValueError:
        raise GanLabError(f"Batch sizes are whole numbers like 1,8,64; got {text!r}.") from None
    if value <= 0:
        raise GanLabError(f"Batch sizes must be at least 1; got {value}.")
    return value
