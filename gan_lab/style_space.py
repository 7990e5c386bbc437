"""What a style-based model adds to the lab's tools: its three networks exported, the mapping -> synthesis
chain checked against the generator, the truncation curve and the noise's stochastic variation.

    style_space.export("runs/faces-stylegan/generator.keras", "models/faces-stylegan")
    #  -> generator.* (z -> image, psi 1, fixed noise), mapping.* (z -> w), synthesis.* (ws -> image),
    #     each .keras/.onnx/.xml with its parity gate, and model.json's w_avg, num_ws, chain parity
"""

import os
from pathlib import Path

import numpy as np

from gan_lab import convert, editing, latent, modelfolder
from gan_lab.metrics import face_attributes
from gan_lab.errors import GanLabError
from gan_lab.models import stylegan
from gan_lab.models.io import load_keras
from gan_lab.runtime.style import WGenerator, load_style

STEMS = ("generator", "mapping", "synthesis")


def export(generator, out_dir, int8=False, fp32=False, parity_samples=None, fp32_fallback=False,
           verbose=True) -> dict:
    """Export a style-based generator (a .keras path or a model) as generator.*, mapping.* and synthesis.*
    in `out_dir`, each through the conversion pipeline's parity gates; then mapping -> synthesis through
    OpenVINO must equal the Keras generator within the IR's tolerance. Returns the reports by stem.
    `fp32`: keep FP32 weights in the IR (a barely trained generator's outputs reach far beyond the
    image range, where FP16 weights alone err by more than 1e-2); `fp32_fallback`: FP32 only for the
    networks whose FP16 IR misses its gate (see `convert.convert`)."""
    model = load_keras(generator) if isinstance(generator, (str, os.PathLike)) else generator
    net_map, net_syn, _ = stylegan.parts(model)
    out_dir = Path(out_dir)
    nets = {"generator": model, "mapping": net_map, "synthesis": net_syn}
    for stem, net in nets.items():  # the Keras backend's files (and the parts a notebook edits with)
        modelfolder.save_keras(net, out_dir / f"{stem}.keras")
    reports = {stem: convert.convert(net, out_dir, stem=stem, int8=int8 and stem == "generator", fp32=fp32,
                                     parity_samples=parity_samples, fp32_fallback=fp32_fallback, verbose=verbose)
               for stem, net in nets.items()}
    modelfolder.write_info(out_dir, **stylegan.card(model))
    chain = chain_parity(out_dir, model)
    scale = WGenerator(load_style(out_dir, "onnxruntime")).scale  # the unit of W the editing tools step in
    modelfolder.write_info(out_dir, chain_parity=chain, w_scale=round(scale, 6))
    all_fp32 = all(reports[stem]["ir_precision"] == "fp32" for stem in ("mapping", "synthesis"))
    tolerance = convert.TOLERANCE["fp32" if all_fp32 else "fp16"]
    if chain["max_abs"] > tolerance:
        raise GanLabError(f"mapping -> synthesis through OpenVINO differs from the Keras generator by "
                          f"{chain['max_abs']:.3g} (> {tolerance}); the export in {out_dir} is not usable.")
    if verbose:
        print(f"mapping -> synthesis (OpenVINO) against the Keras generator: max |diff| {chain['max_abs']:.2e} "
              f"over {chain['samples']} latents")
    return reports | {"chain": chain}


def chain_parity(folder, generator_model, n=256, seed=0, backend="openvino") -> dict:
    """Max and mean |difference| between the Keras generator and mapping -> (psi 1) -> synthesis on
    `backend`, on n seeded latents."""
    style = load_style(folder, backend)
    z = latent.sample(n, style.latent_dim, seed)
    reference = np.asarray(generator_model.predict(z, batch_size=64, verbose=0))
    got = style.synthesis.synthesize_raw(style.map(z))
    return convert.parity(reference, got) | {"samples": n, "backend": backend}


def noise_variation(generator_model, z, draws=16, psi=1.0) -> tuple:
    """The noise's stochastic variation for each latent: (images (n, draws, H, W, C) in [-1, 1] with the
    noise drawn afresh each time, per-pixel standard deviation across the draws (n, H, W)) - the same
    face and pose, with hair strands, skin and background details moving."""
    stylegan.check_psi(psi)
    net_map, net_syn, w_avg = stylegan.parts(generator_model)
    w = np.asarray(net_map(np.asarray(z, np.float32), training=False))
    w = w_avg + psi * (w - w_avg)
    ws = np.repeat(w[:, None], int(net_syn.inputs[0].shape[1]), axis=1)
    # training=True draws the noise afresh; the synthesis network has no other training-time behaviour
    draws = np.stack([np.asarray(net_syn(ws, training=True)) for _ in range(draws)], axis=1)
    return draws, draws.std(axis=1).mean(axis=-1)


class ZSpace:
    """Z of the same model, for the side-by-side report: N(0, I) latents through mapping and synthesis."""

    space = "z"

    def __init__(self, style):
        self.style, self.latent_dim = style, style.latent_dim

    def sample_latents(self, n, seed=0) -> np.ndarray:
        return self.style.sample_latents(n, seed)

    def generate(self, z) -> np.ndarray:
        return self.style.generate(z)


def compare_spaces(style, score, names, candidates, samples=6000, edits=300, steps=(2.0, 3.0, 4.0, 5.0, 6.0, 8.0),
                   seed=0, locks=2, scale=None) -> tuple:
    """The direction report of one model in Z and in W side by side: per space, directions found by
    regression and kept at their recommended steps (`editing.build_directions`), then each measured at
    that step with and without locking the `locks` attributes its Z edit flips most. Returns (rows:
    direction, space, step, success, entanglement, identity shift, locked flips; {space: Directions})."""
    spaces = {"Z": ZSpace(style), "W": WGenerator(style, scale, seed=seed)}
    found, rows, held = {}, [], None
    for label, space in spaces.items():
        found[label], _ = editing.build_directions(space.generate, score, names, candidates, space.latent_dim,
                                                   samples, edits, steps, seed=seed, sample=space.sample_latents)
    shared = [c for c in candidates if all(c in f.names for f in found.values())]
    if not shared:  # nothing passes its test in both spaces: nothing to set side by side
        return rows, found
    for label, space in spaces.items():
        dirs = found[label].subset(shared)
        steps = {c: found[label].info["steps"][c] for c in shared}
        plain, matrix = editing.direction_report(space.generate, score, dirs, names, steps, edits, seed + 3,
                                                 sample=space.sample_latents)
        held = held or editing.most_flipped(matrix, dirs, names, k=locks)
        locked, _ = editing.direction_report(space.generate, score, dirs, names, steps, edits, seed + 3,
                                             locks=held, sample=space.sample_latents)
        for a, b in zip(plain, locked):
            rows.append({"direction": a["direction"], "space": label, "step": a["step"], "success": a["success"],
                         "entanglement": a["entanglement"], "identity_shift": a["identity_shift"],
                         "locks": b["locks"], "success_locked": b["success"], "locked_flips": b["locked_flips"]})
    return rows, found



def truncation_curve(style, psis=(1.0, 0.85, 0.7, 0.5), **judge_options) -> list:
    """Quality against diversity along psi: per psi, the face judge's summary (Fréchet ratios, attribute
    gap, yaw spread) and the feature spread as a share of the real faces' (1: as varied as real faces)."""
    rows = []
    for psi in psis:
        figures = face_attributes.judge(lambda z, p=psi: style.generate(z, p), style.latent_dim, **judge_options)
        spread = figures["feature_spread"]
        rows.append({"psi": psi} | face_attributes.summary(figures) |
                    {"feature_spread": round(spread["generated"] / spread["real"], 3)})
    return rows
