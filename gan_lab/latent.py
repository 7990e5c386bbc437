"""Latent-space maths, in NumPy: sampling, truncation, interpolation, attribute directions and
locking. No user interface here (the explorer and the grid renderer call these).

Directions are unit vectors in z-space, one per attribute, found three ways:
- `regression_directions` (TL-GAN): least-squares fit of each attribute's score on z;
- `svm_directions` (InterFaceGAN): a linear SVM separating the most and least attribute-like
  samples; its normal vector is the direction;
- `pca_directions` (GANSpace): principal components of the generator's features, mapped back
  to z by regression (PCA of z itself is meaningless: z is isotropic).
Locking keeps chosen attributes fixed while others move: each free direction is made
orthogonal to the locked ones (Gram-Schmidt), or projected off them in closed form
(InterFaceGAN's conditional manipulation).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan_lab.errors import GanLabError


def sample(n, latent_dim, seed=0) -> np.ndarray:
    """n standard-normal latents; the same seed gives the same latents."""
    return np.random.default_rng(seed).standard_normal((int(n), int(latent_dim))).astype(np.float32)


def truncate(z, psi=1.0, mean=None) -> np.ndarray:
    """Pull latents toward the mean latent by `psi` (1: unchanged, 0: the mean face)."""
    z = np.asarray(z, np.float32)
    mean = np.zeros(z.shape[-1], np.float32) if mean is None else np.asarray(mean, np.float32)
    return (mean + psi * (z - mean)).astype(np.float32)


def check_psi(psi):
    """Refuse a truncation psi outside [0, 1] (a style-based model's W), naming what it does."""
    if not 0.0 <= float(psi) <= 1.0:
        raise GanLabError(f"Truncation psi must be in [0, 1] (1: no truncation, 0: the mean face); got {psi}.")


def layer_resolution(index, num_ws_total) -> int:
    """The side of the maps that style input `index` modulates (w0: 4x4; w1, w2: 8x8 ...; the last
    one, the final toRGB's, the image's side)."""
    return 4 * 2 ** min((index + 1) // 2, (num_ws_total - 2) // 2)


def style_groups(num_ws_total) -> dict:
    """StyleGAN's coarse (4-8 px: pose, face shape), middle (16-32 px: features, hair style) and fine
    (64 px and up: colours, micro-structure) style inputs, as index ranges."""
    sides = [layer_resolution(i, num_ws_total) for i in range(num_ws_total)]
    picks = {"coarse": lambda s: s <= 8, "middle": lambda s: 16 <= s <= 32, "fine": lambda s: s >= 64}
    return {name: [i for i, s in enumerate(sides) if keep(s)] for name, keep in picks.items()}


def lerp(a, b, t) -> np.ndarray:
    """Straight-line interpolation; `t` a number or an array of numbers (one latent each)."""
    a, b, t = np.asarray(a, np.float32), np.asarray(b, np.float32), np.asarray(t, np.float32)
    return ((1 - t[..., None]) * a + t[..., None] * b).astype(np.float32)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation (stays on the shell where Gaussian latents live); falls back
    to lerp when a and b are (anti)parallel, where the great circle is undefined."""
    a, b, t = np.asarray(a, np.float32), np.asarray(b, np.float32), np.asarray(t, np.float32)
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t = t[..., None]
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def unit(vectors) -> np.ndarray:
    """Rows scaled to length 1; a zero row is an error (it has no direction)."""
    vectors = np.atleast_2d(np.asarray(vectors, np.float64))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms < 1e-12):
        raise GanLabError("A direction has length zero (it is in the span of the locked directions, or the "
                          "attribute did not vary in the samples); it cannot be normalised.")
    return vectors / norms


def _check(z, scores):
    z, scores = np.asarray(z, np.float64), np.asarray(scores, np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    if z.ndim != 2 or len(z) != len(scores):
        raise GanLabError(f"Need one score row per latent: got latents {z.shape} and scores {scores.shape}.")
    return z, scores


def regression_directions(z, scores) -> np.ndarray:
    """TL-GAN: fit scores ~ z @ W + b by least squares; each column of W, normalised, is the
    direction along which that attribute's score grows fastest. Returns (k, latent_dim)."""
    z, scores = _check(z, scores)
    design = np.hstack([z, np.ones((len(z), 1))])
    coef, *_ = np.linalg.lstsq(design, scores, rcond=None)
    return unit(coef[:-1].T).astype(np.float32)


def svm_directions(z, scores, extremes=0.2, threshold=0.5, C=1.0) -> np.ndarray:
    """InterFaceGAN: per attribute, a linear SVM on the `extremes` share of samples with the
    highest and the lowest scores (labels: score >= threshold); the unit normal of its
    separating hyperplane, pointing toward the attribute, is the direction. (k, latent_dim)."""
    from sklearn.svm import LinearSVC  # here: scikit-learn takes 1.3 s to import, and renderers never fit one

    z, scores = _check(z, scores)
    n = max(2, int(len(z) * extremes))
    rows = []
    for k in range(scores.shape[1]):
        order = np.argsort(scores[:, k])
        picked = np.concatenate([order[:n], order[-n:]])
        labels = scores[picked, k] >= threshold
        if labels.all() or not labels.any():
            raise GanLabError(f"Attribute {k}: all of the {2 * n} extreme samples fall on one side of "
                              f"{threshold}; sample more latents or lower the threshold.")
        svm = LinearSVC(C=C, max_iter=10_000).fit(z[picked], labels)
        rows.append(svm.coef_[0])
    return unit(np.array(rows)).astype(np.float32)


def pca_directions(features, z, k=10):
    """GANSpace: principal components of generator `features` (n, f) for latents `z` (n, d),
    mapped to z-space by regressing z on the component coordinates. Returns (directions (k, d),
    explained variance ratio (k,))."""
    features, z = np.asarray(features, np.float64), np.asarray(z, np.float64)
    if len(features) != len(z):
        raise GanLabError(f"features {features.shape} and latents {z.shape} differ in count.")
    centred = features.reshape(len(features), -1) - features.reshape(len(features), -1).mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(k, len(s))
    coords = centred @ vt[:k].T  # (n, k) coordinates along the components
    mapping, *_ = np.linalg.lstsq(coords, z - z.mean(0), rcond=None)  # (k, d): one z-step per component
    explained = s[:k] ** 2 / np.sum(s ** 2)
    return unit(mapping).astype(np.float32), explained.astype(np.float32)


def orthogonalize(direction, locked) -> np.ndarray:
    """Gram-Schmidt: `direction` minus its components along the locked directions (which are
    first made orthonormal among themselves), normalised. Moving along the result leaves the
    locked attributes' linear scores unchanged."""
    basis = []
    for v in np.atleast_2d(np.asarray(locked, np.float64)) if len(locked) else []:
        for b in basis:
            v = v - np.dot(v, b) * b
        if np.linalg.norm(v) > 1e-9:  # a locked direction already spanned adds nothing
            basis.append(v / np.linalg.norm(v))
    d = np.asarray(direction, np.float64)
    for b in basis:
        d = d - np.dot(d, b) * b
    return unit(d)[0].astype(np.float32)


def conditional(direction, conditions) -> np.ndarray:
    """InterFaceGAN's conditional manipulation in closed form: project `direction` onto the
    orthogonal complement of the span of `conditions`, n - C^T (C C^T)^-1 C n, normalised."""
    c = np.atleast_2d(np.asarray(conditions, np.float64))
    d = np.asarray(direction, np.float64)
    coeffs, *_ = np.linalg.lstsq(c.T, d, rcond=None)
    return unit(d - c.T @ coeffs)[0].astype(np.float32)


@dataclass
class Directions:
    """Named unit directions in a latent space, saved as .npz (vectors) + .json (the rest)."""

    names: list
    vectors: np.ndarray  # (k, latent_dim)
    method: str = "regression"
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.vectors = np.atleast_2d(np.asarray(self.vectors, np.float32))
        if len(self.names) != len(self.vectors):
            raise GanLabError(f"{len(self.names)} names for {len(self.vectors)} directions.")

    @property
    def latent_dim(self) -> int:
        return int(self.vectors.shape[1])

    def __getitem__(self, name) -> np.ndarray:
        if name not in self.names:
            raise GanLabError(f"No direction {name!r}; these exist: {', '.join(self.names)}.")
        return self.vectors[self.names.index(name)]

    def subset(self, names) -> "Directions":
        """The named directions only, in the order given."""
        return Directions(list(names), np.stack([self[n] for n in names]), self.method, dict(self.info))

    def locked(self, free, locks) -> np.ndarray:
        """Direction `free` made orthogonal to the directions named in `locks`."""
        others = [self[n] for n in locks if n != free]
        return orthogonalize(self[free], others) if others else self[free]

    def save(self, path) -> Path:
        """Write PATH.npz and PATH.json (the .json is written last: present means complete)."""
        path = Path(path).with_suffix("")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".npz"), vectors=self.vectors)
        meta = {"names": list(self.names), "method": self.method, "latent_dim": self.latent_dim, "info": self.info}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        return path.with_suffix(".json")

    @classmethod
    def load(cls, path) -> "Directions":
        path = Path(path).with_suffix("")
        for suffix in (".json", ".npz"):
            if not path.with_suffix(suffix).exists():
                raise GanLabError(f"{path.with_suffix(suffix)} is missing; directions are saved as a .json + .npz pair.")
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as arrays:
            vectors = arrays["vectors"]
        if vectors.shape != (len(meta["names"]), meta["latent_dim"]):
            raise GanLabError(f"{path}.npz holds vectors of shape {vectors.shape}, its .json says "
                              f"{len(meta['names'])} x {meta['latent_dim']}; the pair does not belong together.")
        return cls(meta["names"], vectors, meta.get("method", "regression"), meta.get("info", {}))
