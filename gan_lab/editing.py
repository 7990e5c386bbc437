"""Attribute editing measured: find directions from scored samples, and report for each one how
often an edit does what it says (success), what else it changes (entanglement) and how far the
face's identity moves — before and after locking.

Everything takes two callables, so it works with any backend and any judge:
`generate(z) -> images` (e.g. `load_generator(path).generate`) and
`score(images) -> {"attributes": (n, k) probabilities, "features": (n, f)}`
(e.g. `lambda x: metrics.face_attributes.score(x, classifier)`).
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gan_lab import latent, modelfolder
from gan_lab.data.celeba import ATTRIBUTES
from gan_lab.errors import GanLabError
from gan_lab.metrics import face_attributes
from gan_lab.models.io import load_keras
from gan_lab.runtime.style import editable

THRESHOLD = 0.5


def scored_samples(generate, score, n, latent_dim, seed=0, batch=250, sample=None):
    """n seeded latents with the scores of the images they generate: (z, {"attributes", "features"}).
    `sample(n, seed)`: where the points come from (default N(0, I); a style-based model's W: its
    mapping of those latents, `style_space.w_sampler`); every function here takes it."""
    z = sample(n, seed) if sample else latent.sample(n, latent_dim, seed)
    return z, _score_all(generate, score, z, batch)


def find_directions(z, probabilities, names, wanted=None, method="regression", **options) -> latent.Directions:
    """Directions for the attributes `wanted` (default: all `names`) from scored samples."""
    wanted = list(wanted or names)
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise GanLabError(f"Unknown attribute(s) {unknown}; the classifier knows: {', '.join(names)}.")
    columns = np.asarray(probabilities)[:, [list(names).index(w) for w in wanted]]
    fits = {"regression": latent.regression_directions, "svm": latent.svm_directions}
    if method not in fits:
        raise GanLabError(f"Unknown direction method {method!r}; choose one of {sorted(fits)}.")
    return latent.Directions(wanted, fits[method](z, columns, **options), method, {"samples": len(z)})


def _flips(before, after):
    return (np.asarray(after) >= THRESHOLD) != (np.asarray(before) >= THRESHOLD)


def direction_report(generate, score, directions, names, step=3.0, n=200, seed=0, locks=(), batch=250, hold=None,
                     sample=None):
    """Edit n seeded faces by +step and -step along each direction (made orthogonal to the
    `locks` directions) and measure, per direction:
    - success: share of edits that carry its own attribute across the threshold the way asked
      (+step on faces without it, -step on faces with it);
    - flip rate of every attribute (a row of the heat map); entanglement = mean over the others;
      locked = mean over the locked attributes (locked_confident: only faces on which the
      classifier was sure of them, p <= 0.25 or >= 0.75, so that a coin-flip call is not counted);
    - identity: mean feature distance moved, in units of the mean distance between two faces.
    `step` and `locks` may also be dicts keyed by direction name (a step and locks for each).
    With `hold` (a `Hold`), locked attributes are held by walking the edit instead of by projection.
    Returns (rows, flip matrix (directions x attributes))."""
    z, base = scored_samples(generate, score, n, directions.latent_dim, seed, batch, sample)
    on = base["attributes"] >= THRESHOLD
    sure = np.abs(base["attributes"] - THRESHOLD) >= 0.25
    feats = base["features"]
    between = np.linalg.norm(feats - np.roll(feats, 1, axis=0), axis=1).mean()
    rows, matrix = [], []
    for name in directions.names:
        own = list(names).index(name)
        size = step[name] if isinstance(step, dict) else step
        held = [k for k in (locks.get(name, ()) if isinstance(locks, dict) else locks) if k != name]
        v = directions.locked(name, [k for k in held if k in directions.names])
        moved_to = [z + sign * size * v for sign in (1, -1)]
        if hold is not None and held:
            moved_to = [hold(z, end, held) for end in moved_to]
        plus, minus = (_score_all(generate, score, end, batch) for end in moved_to)
        success = np.concatenate([plus["attributes"][~on[:, own], own] >= THRESHOLD,
                                  minus["attributes"][on[:, own], own] < THRESHOLD]).mean()
        flipped = np.stack([_flips(base["attributes"], plus["attributes"]),
                            _flips(base["attributes"], minus["attributes"])])  # (2, n, k)
        flips = flipped.mean(axis=(0, 1))
        others = [i for i in range(len(names)) if i != own]
        locked = [list(names).index(k) for k in held]
        moved = (np.linalg.norm(plus["features"] - feats, axis=1).mean()
                 + np.linalg.norm(minus["features"] - feats, axis=1).mean()) / 2
        rows.append({"direction": name, "step": float(size), "success": float(success),
                     "entanglement": float(flips[others].mean()), "locks": held,
                     "locked_flips": float(flips[locked].mean()) if locked else float("nan"),
                     "locked_confident_flips": _confident(flipped[:, :, locked], sure[:, locked]),
                     "identity_shift": float(moved / between), "samples": n})
        matrix.append(flips)
    return rows, np.array(matrix)


def _confident(flipped, sure) -> float:
    """Flip rate over the (face, attribute) pairs the classifier was sure of at the start."""
    mask = np.broadcast_to(sure, flipped.shape)
    return float(flipped[mask].mean()) if mask.any() else float("nan")


def most_flipped(matrix, directions, names, k=2) -> dict:
    """For each direction, the k other named directions whose attributes its edits flip most
    (columns of `matrix` follow `names`): the locks a user would reach for, and the hardest test
    of locking."""
    out = {}
    for row, name in zip(matrix, directions.names):
        others = [a for a in directions.names if a != name and a in names]
        out[name] = sorted(others, key=lambda a: -row[list(names).index(a)])[:k]
    return out


def flip_rates(generate, score, directions, step=4.0, n=300, seed=0, batch=250, sample=None) -> np.ndarray:
    """For directions without an attribute of their own (GANSpace components): the share of edits
    (+step and -step from n seeded faces) that flip each attribute; (directions x attributes)."""
    z, base = scored_samples(generate, score, n, directions.latent_dim, seed, batch, sample)
    rows = []
    for name in directions.names:
        moved = [_score_all(generate, score, z + sign * step * directions[name], batch)["attributes"] for sign in (1, -1)]
        rows.append(np.mean([_flips(base["attributes"], m) for m in moved], axis=(0, 1)))
    return np.array(rows)


def lock_comparison(generate, score, directions, names, steps, n=300, seed=0, hold=None, sample=None) -> dict:
    """The report of `directions` (each at its step in `steps`) three ways: no locks; the two
    attributes each edit flips most locked by projection; and the same locks held by `hold` (a
    `Hold`; skipped when None). A random direction of the median step gives the floor: how often
    a move of that length flips the locked attributes by chance. Returns {"rows": one dict per
    direction, "matrices": {how: flip matrix}, "locks", "random": (row, flip matrix)}."""
    report = lambda **kw: direction_report(generate, score, directions, names, step=steps, n=n, seed=seed,  # noqa: E731
                                          sample=sample, **kw)
    before, before_matrix = report()
    locks = most_flipped(before_matrix, directions, names)
    projected, projected_matrix = report(locks=locks)
    held, held_matrix = report(locks=locks, hold=hold) if hold is not None else (projected, projected_matrix)
    rng = np.random.default_rng(seed)
    random_dir = latent.Directions([directions.names[0]], latent.unit(rng.standard_normal((1, directions.latent_dim))))
    noise, noise_matrix = direction_report(generate, score, random_dir, names, step=float(np.median(list(steps.values()))),
                                           n=n, seed=seed, locks={directions.names[0]: []}, sample=sample)
    rows = []
    for i, (b, p, h) in enumerate(zip(before, projected, held)):
        rows.append({"direction": b["direction"], "step": b["step"], "success": b["success"],
                     "entanglement": b["entanglement"], "identity shift": b["identity_shift"], "locks": ", ".join(h["locks"]),
                     "locked flips: no lock": float(np.mean([before_matrix[i, list(names).index(k)] for k in h["locks"]])),
                     "locked flips: projected": p["locked_flips"], "locked flips: held": h["locked_flips"],
                     "success: projected": p["success"], "success: held": h["success"]})
    return {"rows": rows, "locks": locks, "random": (noise[0], noise_matrix),
            "matrices": {"no locks": before_matrix, "locks projected": projected_matrix, "locks held": held_matrix}}


def recommend_steps(generate, score, directions, names, steps=(2.0, 3.0, 4.0, 5.0, 6.0), target=0.9,
                    n=200, seed=1, batch=250, margin=0.03, sample=None) -> dict:
    """For each direction, the smallest step whose success reaches `target` + `margin` (else
    `target`; else the step with the best success): {name: {"step", "success", "reached",
    "by_step": {step: success}}}. The margin covers sampling noise: a rate measured at exactly
    the target on these n faces falls short on the next n half the time."""
    by_step = {}
    for step in steps:
        rows, _ = direction_report(generate, score, directions, names, step, n, seed, batch=batch, sample=sample)
        by_step[float(step)] = {r["direction"]: r["success"] for r in rows}
    out = {}
    for name in directions.names:
        curve = {step: by_step[step][name] for step in by_step}
        good = [step for step, rate in curve.items() if rate >= target]
        safe = [step for step in good if curve[step] >= target + margin]  # holds on fresh faces too
        best = min(safe or good) if good else max(curve, key=curve.get)
        out[name] = {"step": best, "success": curve[best], "reached": bool(good), "by_step": curve}
    return out


def pose_directions(z, scores, keys=("yaw", "pitch")) -> latent.Directions:
    """Head-pose directions: regression of the judge's yaw and pitch (degrees) on z. `info`
    keeps the slope (degrees per unit step), the straight-line guess the calibration refines."""
    columns = np.stack([np.asarray(scores[k], np.float64) for k in keys], axis=1)
    x = np.c_[np.asarray(z, np.float64), np.ones(len(z))]
    coef, *_ = np.linalg.lstsq(x, columns, rcond=None)
    slopes = np.linalg.norm(coef[:-1], axis=0)
    return latent.Directions(list(keys), latent.unit(coef[:-1].T), "regression",
                             {"degrees_per_step": dict(zip(keys, np.round(slopes, 3).tolist()))})


def calibrate(generate, score, direction, key, steps=np.linspace(-8, 8, 17), n=64, seed=2, batch=250,
              sample=None) -> dict:
    """Median change of the judge's `key` (e.g. yaw in degrees) along `direction`, over n seeded
    faces: the curve the identity grid inverts to turn an angle into a step."""
    z = sample(n, seed) if sample else latent.sample(n, len(direction), seed)
    medians = [float(np.median(_score_all(generate, score, z + t * direction, batch)[key])) for t in steps]
    change = np.array(medians) - np.interp(0.0, steps, medians)
    return {"steps": [round(float(t), 3) for t in steps], "change": np.round(change, 2).tolist(),
            "monotone": bool(np.all(np.diff(change) > 0)), "faces": n}


class Hold:
    """Locks that hold: keep the judge's reading of the locked attributes fixed while a latent (a z,
    or a style-based model's point of W) moves. Orthogonal projection only keeps their *linear*
    scores fixed, and these generators' attributes are far from linear in the latent (measured in
    notebook 08). Instead the edit is walked in `substeps` short steps; each takes the wanted
    direction minus its component along the locked attributes' local gradients (their logits, or
    yaw/pitch, through generator and classifier), then a Gauss-Newton pull back to their starting
    values; `polish` more pulls at the end. Works in batches; deterministic.

    `generator`: the Keras network from the edited latent to the image (the same weights as the
    backend that renders; `keras_editable`);
    `classifier`: the face classifier; `names`: its attribute names."""

    def __init__(self, generator, classifier, names, substeps=6, polish=3, damping=1e-3, jit_compile=False):
        self.names, self.substeps, self.polish, self.damping = list(names), substeps, polish, damping
        self.columns = self.names + ["yaw", "pitch"]
        z = keras.Input(generator.input_shape[1:])
        out = classifier(generator(z))
        p = keras.ops.clip(out["attributes"], 1e-5, 1 - 1e-5)
        judged = keras.Model(z, keras.ops.concatenate([keras.ops.log(p / (1 - p)), out["pose"]], axis=-1))

        # XLA off by default: it compiles again for every batch size, and on the style-based synthesis it runs
        # 2-3x slower (one face 0.35 s vs 0.17 s, 150 faces 37 s vs 11 s); only the DCGAN's one face gains (60 vs 130 ms)
        @tf.function(reduce_retracing=True, jit_compile=jit_compile)
        def readings(z, select):
            with tf.GradientTape() as tape:
                tape.watch(z)
                values = tf.matmul(judged(z, training=False), select)
            return values, tape.batch_jacobian(values, z)

        self._readings = readings

    def select(self, locks) -> np.ndarray:
        unknown = [k for k in locks if k not in self.columns]
        if unknown:
            raise GanLabError(f"Cannot hold {unknown}: the classifier reads {', '.join(self.columns)}.")
        return np.eye(len(self.columns), dtype=np.float32)[:, [self.columns.index(k) for k in locks]]

    def read(self, z, names) -> np.ndarray:
        """What the hold holds: the classifier's logits (or yaw/pitch) of `names` for latents z."""
        return np.asarray(self._readings(np.atleast_2d(z).astype(np.float32), self.select(names))[0])

    def __call__(self, start, end, locks) -> np.ndarray:
        """The latents reached by walking from `start` toward `end` (both (n, d)), as far as
        |end - start|, with the `locks` attributes held at their values at `start`."""
        start, end = np.atleast_2d(start).astype(np.float32), np.atleast_2d(end).astype(np.float32)
        if not locks:
            return end
        select = self.select(locks)
        move = end - start
        length = np.linalg.norm(move, axis=1, keepdims=True)
        way = move / np.maximum(length, 1e-12)
        z, target = start.copy(), None
        for i in range(self.substeps + self.polish):  # the last `polish` rounds only pull back
            values, jac = (np.asarray(t) for t in self._readings(z, select))
            target = values if target is None else target
            gram_inv = np.linalg.inv(jac @ jac.transpose(0, 2, 1) + self.damping * np.eye(len(locks)))
            if i < self.substeps:
                free = way - _pseudo_inverse(jac, gram_inv, np.einsum("nkd,nd->nk", jac, way))  # locked gradients out
                free /= np.maximum(np.linalg.norm(free, axis=1, keepdims=True), 1e-12)
                z = z + free * (length / self.substeps)
            z = z + _pseudo_inverse(jac, gram_inv, np.clip(target - values, -2, 2))
        return z.astype(np.float32)

    @classmethod
    def for_model(cls, folder, **options) -> "Hold":
        """The hold for a shipped model folder, judged by the shipped face classifier, in the space its
        editing tools edit: Z, or W in units of its spread for a style-based model."""
        return cls(keras_editable(folder), face_attributes.load_classifier(), ATTRIBUTES, **options)


def keras_editable(folder) -> keras.Model:
    """The Keras network of what `runtime.style.editable(folder)` edits, so that gradients are taken
    where the edit moves: generator.keras (z -> image) or, for a style-based model, u -> image through
    synthesis.keras, with w = w_avg + w_scale * u for every layer, as `WGenerator` renders it."""
    folder = Path(folder)
    info = modelfolder.read_info(folder)
    if not info.get("style_based"):
        return load_keras(folder / "generator.keras")
    scale = info.get("w_scale") or editable(folder).scale
    u = keras.Input((info["w_dim"],), name="u")
    w = u * scale + np.asarray(info["w_avg"], np.float32)
    ws = keras.ops.repeat(keras.ops.expand_dims(w, 1), info["num_ws"], axis=1)
    return keras.Model(u, load_keras(folder / "synthesis.keras")(ws), name="synthesis_in_u")


def _pseudo_inverse(jac, gram_inv, r):
    """J^T (J J^T)^-1 r per face: the shortest latent move that changes the readings by r."""
    return np.einsum("nkd,nk->nd", jac, np.einsum("nkj,nj->nk", gram_inv, r))


def build_directions(generate, score, names, candidates, latent_dim, samples=6000, edits=300,
                     steps=(2.0, 3.0, 4.0, 5.0, 6.0), target=0.9, seed=0, sample=None):
    """Directions a model ships with, every one measured: attribute directions by regression on
    `samples` scored faces, kept only if some step reaches `target` success over `edits` faces
    (its smallest such step is the recommended one), plus calibrated yaw and pitch directions.
    Returns (Directions, {candidate: recommend_steps entry}) - the second says why any was dropped."""
    z, scores = scored_samples(generate, score, samples, latent_dim, seed, sample=sample)
    found = find_directions(z, scores["attributes"], names, candidates)
    steps_of = recommend_steps(generate, score, found, names, steps, target, edits, seed + 1, sample=sample)
    named = [c for c in candidates if steps_of[c]["reached"]]
    pose = pose_directions(z, scores)
    calibration = {k: calibrate(generate, score, pose[k], k, seed=seed + 2, sample=sample) for k in pose.names}
    info = {"samples": samples, "edits": edits, "target": target,
            "steps": {c: steps_of[c]["step"] for c in named}, "success": {c: steps_of[c]["success"] for c in named},
            "dropped": {c: steps_of[c]["by_step"] for c in candidates if c not in named},
            "calibration": calibration, **pose.info}
    vectors = np.concatenate([np.reshape([found[c] for c in named], (-1, latent_dim)), pose.vectors])
    return latent.Directions(named + pose.names, vectors, "regression", info), steps_of


def _score_all(generate, score, z, batch):
    parts = [score(generate(z[i:i + batch])) for i in range(0, len(z), batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
