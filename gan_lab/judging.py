"""`gan-lab judge`: the face judge on shipped models, generator files or the kept epochs of a run,
one row each, so that choosing which epoch to ship needs no script of one's own.

A row holds what the face targets name (`face_attributes.judge`: layout and feature Fréchet ratios,
attributes within 10 points, yaw spread) and, unless turned off, the share of faces a classifier
two-sample test catches (`two_sample.judge`), which sees the smear the Fréchet ratios miss.
"""

import json
from pathlib import Path

from gan_lab.errors import GanLabError
from gan_lab.metrics import face_attributes, two_sample
from gan_lab.runtime import load_generator
from gan_lab.runtime.adapters import Generator
from gan_lab.runtime.keras_runner import KerasRunner
from gan_lab.training import checkpoints, runs

FACE_SHAPE = (64, 64, 3)


def kept_epochs(run) -> list:
    """The epochs of a run folder's kept checkpoints, oldest first."""
    return [int(p.name[len(checkpoints.PREFIX):]) for p in checkpoints.list_checkpoints(Path(run) / "checkpoints")]


def candidates(paths, epochs=None):
    """(name, generator) for each path: a model folder or a generator file; with `epochs` ("all" or a
    list of ints) each path is a run folder and each of those kept epochs gives its averaged generator."""
    for path in map(Path, paths):
        if epochs is None:
            yield path.name if path.is_dir() else f"{path.parent.name}/{path.name}", load_generator(path)
            continue
        wanted = kept_epochs(path) if epochs == "all" else epochs
        if not wanted:
            raise GanLabError(f"{path} keeps no checkpoints to judge; train with --keep N to keep earlier epochs.")
        for epoch in wanted:
            model = runs.checkpoint_generator(path, epoch)
            yield f"{path.name} epoch {epoch}", Generator(KerasRunner(path / "generator.keras", model=model))


def row(generator, seed=1, n=1_000, caught=True, classifier=None, **faces) -> dict:
    """The judge's figures for one face generator (`n` faces from latent seed `seed`); `faces`: the
    judge's `data` and `n_faces` (default: the shipped models' judge)."""
    if generator.image_shape != FACE_SHAPE or generator.conditional:
        raise GanLabError(f"{generator.path} draws {generator.image_shape} images; the face judge reads 64x64 colour "
                          "faces from a latent alone (a face DCGAN, VAE or style-based model).")
    figures = face_attributes.judge(generator.generate, generator.latent_dim, n=n, seed=seed, classifier=classifier,
                                     **faces)
    gaps, (worst, over) = figures["rate_gaps"], face_attributes.attribute_misses(figures)
    result = face_attributes.summary(figures) | {
        "within_10_points": len(gaps) - len(over), "attributes": len(gaps),
        "worst_attribute": worst, "worst_gap": round(gaps[worst], 4),
        "worst_gap_se": figures["rate_gap_se"][worst],
        "misses": {name: round(gaps[name], 4) for name in sorted(over, key=lambda k: -abs(gaps[k]))},
        "ship_score": face_attributes.ship_score(figures), "seed": seed, "n": n}
    if caught:
        result["caught"] = round(two_sample.judge(generator.generate, generator.latent_dim, n, seed, **faces)["accuracy"], 3)
    return result


def table(rows) -> str:
    """The rows as a text table (lower is better for the ratios; 50% caught is a perfect score)."""
    lines = [f"{'model':<34} {'layout':>7} {'feature':>8} {'within 10 pts':>14} {'worst attribute (± s.e.)':>30} "
             f"{'yaw':>5} {'caught':>7}"]
    for name, r in rows.items():
        caught = f"{r['caught']:.0%}" if "caught" in r else "-"
        worst = f"{r['worst_attribute']} {100 * r['worst_gap']:+.1f}±{100 * r['worst_gap_se']:.1f}"
        lines.append(f"{name[-34:]:<34} {r['layout_frechet_ratio']:>6.2f}x {r['frechet_ratio']:>7.2f}x "
                     f"{r['within_10_points']:>6} of {r['attributes']:<4} {worst:>30} {r['yaw_spread']:>5.0%} {caught:>7}")
        others = [f"{k} {100 * v:+.1f}" for k, v in list(r.get("misses", {}).items())[1:]]
        if others:
            lines.append(f"{'':<34} also beyond 10 points: {', '.join(others)}")
    return "\n".join(lines)


def save(rows, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(rows, indent=1) + "\n")
    return path
