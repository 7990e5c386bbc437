"""Attribute editing measured: find directions from scored samples, and report for each one how
often an edit does what it says (success), what else it changes (entanglement) and how far the
face's identity moves — before and after locking.

Everything takes two callables, so it works with any backend and any judge:
`generate(z) -> images` (e.g. `load_generator(path).generate`) and
`score(images) -> {"attributes": (n, k) probabilities, "features": (n, f)}`
(e.g. `lambda x: metrics.faces.score(x, classifier)`).
"""

import numpy as np

from gan_lab import latent
from gan_lab.errors import GanLabError

THRESHOLD = 0.5


def scored_samples(generate, score, n, latent_dim, seed=0, batch=250):
    """n seeded latents with the scores of the images they generate: (z, {"attributes", "features"})."""
    z = latent.sample(n, latent_dim, seed)
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


def direction_report(generate, score, directions, names, step=3.0, n=200, seed=0, locks=(), batch=250):
    """Edit n seeded faces by +step and -step along each direction (made orthogonal to the
    `locks` directions) and measure, per direction:
    - success: share of edits that carry its own attribute across the threshold the way asked
      (+step on faces without it, -step on faces with it);
    - flip rate of every attribute (a row of the heat map); entanglement = mean over the others;
      locked = mean over the locked attributes;
    - identity: mean feature distance moved, in units of the mean distance between two faces.
    Returns (rows, flip matrix (directions x attributes))."""
    z, base = scored_samples(generate, score, n, directions.latent_dim, seed, batch)
    on = base["attributes"] >= THRESHOLD
    feats = base["features"]
    between = np.linalg.norm(feats - np.roll(feats, 1, axis=0), axis=1).mean()
    rows, matrix = [], []
    for name in directions.names:
        own = list(names).index(name)
        v = directions.locked(name, [k for k in locks if k != name])
        plus = _score_all(generate, score, z + step * v, batch)
        minus = _score_all(generate, score, z - step * v, batch)
        success = np.concatenate([plus["attributes"][~on[:, own], own] >= THRESHOLD,
                                  minus["attributes"][on[:, own], own] < THRESHOLD]).mean()
        flips = (_flips(base["attributes"], plus["attributes"]).mean(0)
                 + _flips(base["attributes"], minus["attributes"]).mean(0)) / 2
        others = [i for i in range(len(names)) if i != own]
        locked = [list(names).index(k) for k in locks if k != name]
        moved = (np.linalg.norm(plus["features"] - feats, axis=1).mean()
                 + np.linalg.norm(minus["features"] - feats, axis=1).mean()) / 2
        rows.append({"direction": name, "step": step, "success": float(success),
                     "entanglement": float(flips[others].mean()),
                     "locked_flips": float(flips[locked].mean()) if locked else float("nan"),
                     "identity_shift": float(moved / between), "samples": n})
        matrix.append(flips)
    return rows, np.array(matrix)


def _score_all(generate, score, z, batch):
    parts = [score(generate(z[i:i + batch])) for i in range(0, len(z), batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("attributes", "features")}
