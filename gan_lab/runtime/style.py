"""A style-based model in W, on any backend: its mapping (z -> w) and synthesis (ws -> image) networks,
truncation toward the mean w and style mixing between them.

    style = load_style("models/faces-stylegan")                 # OpenVINO, or backend="onnxruntime"/"keras"
    w = style.map(style.sample_latents(8, seed=0), psi=0.7)    # (8, w_dim)
    faces = style.synthesize(w)                                 # uint8 (8, 64, 64, 3)
    mixed = style.synthesize(style.mix(w_a, w_b, "fine"))       # a's face, b's colours
    editor = editable("models/faces-stylegan")                  # W for the editing tools (u: W in its spread)

The synthesis network takes one w per layer (n, num_ws, w_dim): a single w (n, w_dim) is repeated
for every layer, as the generator does.
"""

from pathlib import Path

import numpy as np

from gan_lab import backends, images, latent, modelfolder
from gan_lab.errors import GanLabError
from gan_lab.latent import check_psi, style_groups
from gan_lab.runtime.adapters import Adapter, load_generator
from gan_lab.runtime.runner import Runner, load


class Mapping(Adapter):
    """z (n, latent_dim) -> w (n, w_dim)."""

    def __init__(self, runner: Runner):
        super().__init__(runner)
        if len(runner.inputs) != 1 or len(runner.inputs[0].shape) != 2 or len(runner.outputs) != 1:
            raise GanLabError(f"{self.path} takes {list(runner.inputs)}: not a mapping network (z (n, d) -> w).")
        self.latent_dim = int(runner.inputs[0].shape[1])
        self.w_dim = int(runner.outputs[0].shape[1])

    def _signature(self) -> str:
        return f"z({self.latent_dim}) -> w({self.w_dim})"

    def map(self, z) -> np.ndarray:
        return self.runner.run(z)[0]


class Synthesis(Adapter):
    """ws (n, num_ws, w_dim) -> images; a single w (n, w_dim) is used for every layer."""

    def __init__(self, runner: Runner):
        super().__init__(runner)
        if len(runner.inputs) != 1 or len(runner.inputs[0].shape) != 3 or len(runner.outputs) != 1:
            raise GanLabError(f"{self.path} takes {list(runner.inputs)}: not a synthesis network "
                              "(ws (n, num_ws, w_dim) -> image).")
        self.num_ws, self.w_dim = (int(d) for d in runner.inputs[0].shape[1:])
        self.image_shape = tuple(int(d) for d in runner.outputs[0].shape[1:])

    def _signature(self) -> str:
        return f"ws({self.num_ws} x {self.w_dim}) -> {self.image_shape}"

    def per_layer(self, w) -> np.ndarray:
        """w (n, w_dim) or (w_dim,) -> (n, num_ws, w_dim); per-layer ws pass through (shape checked)."""
        w = np.asarray(w, dtype=np.float32)
        w = w[None] if w.ndim == 1 else w
        if w.ndim == 2 and w.shape[1] == self.w_dim:
            return np.repeat(w[:, None], self.num_ws, axis=1)
        if w.ndim != 3 or w.shape[1:] != (self.num_ws, self.w_dim):
            raise GanLabError(f"{self.path.name} takes w of shape (n, {self.w_dim}) or per-layer ws of shape "
                              f"(n, {self.num_ws}, {self.w_dim}); got {w.shape}.")
        return w

    def synthesize_raw(self, w) -> np.ndarray:
        return self.runner.run(self.per_layer(w))[0]

    def synthesize(self, w) -> np.ndarray:
        return images.to_uint8(self.synthesize_raw(w), self.value_range)


class StyleModel:
    """Mapping and synthesis of one model folder on one backend, with the mean w from its model.json."""

    def __init__(self, mapping: Mapping, synthesis: Synthesis, w_avg):
        self.mapping, self.synthesis = mapping, synthesis
        self.w_avg = np.asarray(w_avg, np.float32)
        self.latent_dim, self.w_dim, self.num_ws = mapping.latent_dim, synthesis.w_dim, synthesis.num_ws
        self.image_shape, self.backend = synthesis.image_shape, synthesis.backend
        self.groups = style_groups(self.num_ws)
        if mapping.w_dim != synthesis.w_dim or self.w_avg.shape != (self.w_dim,):
            raise GanLabError(f"{mapping.path.parent}: mapping gives w({mapping.w_dim}), synthesis takes "
                              f"w({synthesis.w_dim}), model.json's w_avg has {self.w_avg.shape}: they do not match.")

    def __repr__(self):
        return f"<StyleModel {self.mapping.path.parent.name} ({self.mapping.label}): z({self.latent_dim}) -> " \
               f"w({self.w_dim}) x {self.num_ws} layers -> {self.image_shape}>"

    def sample_latents(self, n, seed=0) -> np.ndarray:
        return latent.sample(n, self.latent_dim, seed)

    def truncate(self, w, psi=1.0) -> np.ndarray:
        """w_avg + psi (w - w_avg): psi 1 leaves w as it is, 0 gives the mean face."""
        check_psi(psi)
        return self.w_avg + float(psi) * (np.asarray(w, np.float32) - self.w_avg)

    def map(self, z, psi=1.0) -> np.ndarray:
        """Latents -> w (n, w_dim), truncated by psi."""
        return self.truncate(self.mapping.map(z), psi)

    def mix(self, w_a, w_b, layers) -> np.ndarray:
        """Per-layer ws: a's w everywhere but the `layers` (a group name, "coarse", "middle" or "fine",
        or layer indices), which take b's."""
        ws_a, ws_b = self.synthesis.per_layer(w_a), self.synthesis.per_layer(w_b)
        if len(ws_a) != len(ws_b):
            raise GanLabError(f"Style mixing takes as many ws from b as from a; got {len(ws_b)} and {len(ws_a)}.")
        chosen = list(self.groups[layers]) if isinstance(layers, str) and layers in self.groups else layers
        if isinstance(chosen, str):
            raise GanLabError(f"Unknown layer group {layers!r}; choose one of {', '.join(self.groups)} or indices.")
        index = np.asarray(list(chosen), dtype=int)
        if index.size == 0:
            raise GanLabError(f"No layers to mix ({layers!r}): this {self.image_shape[0]}-px model's groups are "
                              f"{self.groups}.")
        if index.min() < 0 or index.max() >= self.num_ws:
            raise GanLabError(f"Mixing layers must be indices in 0..{self.num_ws - 1} (this model has {self.num_ws} "
                              f"style inputs); got {list(chosen)}.")
        ws_a[:, index] = ws_b[:, index]
        return ws_a

    def synthesize(self, w) -> np.ndarray:
        """uint8 images of w (n, w_dim) or per-layer ws (n, num_ws, w_dim)."""
        return self.synthesis.synthesize(w)

    def generate(self, z, psi=1.0) -> np.ndarray:
        """uint8 images of latents z, at truncation psi."""
        return self.synthesize(self.map(z, psi))


def load_style(folder, backend="openvino", device="CPU", **options) -> StyleModel:
    """The mapping and synthesis networks of a style-based model folder on `backend` (the mean w from
    its model.json)."""
    folder = Path(folder)
    info = modelfolder.read_info(folder)
    if not info.get("style_based"):
        raise GanLabError(f"{folder} holds no style-based model (its model.json does not say style_based); "
                          "only a model with a mapping network has a W space.")
    suffix = backends.named(backend).suffix
    files = {stem: folder / f"{stem}{suffix}" for stem in ("mapping", "synthesis")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise GanLabError(f"{', '.join(missing)} not found: export the model first "
                          f"(gan_lab.style_space.export(generator.keras, {folder})).")
    return StyleModel(Mapping(load(files["mapping"], device, **options)),
                      Synthesis(load(files["synthesis"], device, **options)), info["w_avg"])


class WGenerator:
    """A style-based model as the editing tools see it: points u of W in units of its spread,
    u = (w - w_avg) / scale (scale: the root mean variance of w per dimension), -> images. It takes the
    place of a `Generator` (latent_dim, image_shape, path, label, sample_latents, generate), so the
    direction finders, the explorer and the identity grid edit in W unchanged: their steps, made for
    N(0, I) latents, mean as much here, and truncation toward the mean w is u * psi."""

    space = "w"
    conditional = False

    def __init__(self, style: StyleModel, scale=None, samples=10_000, seed=0):
        self.style, self.latent_dim, self.image_shape = style, style.w_dim, style.image_shape
        self.path, self.backend, self.label = style.synthesis.path, style.backend, style.synthesis.label
        if scale is None:
            w = style.map(style.sample_latents(samples, seed))
            scale = np.sqrt(np.mean((w - style.w_avg) ** 2))
        self.scale = float(scale)

    def __repr__(self):
        return f"<WGenerator {self.path.parent.name} ({self.label}): u({self.latent_dim}) -> {self.image_shape}>"

    def sample_latents(self, n, seed=0) -> np.ndarray:
        """The seeded latents' points of W (their mapping), in units of W's spread."""
        return self.to_u(self.style.map(self.style.sample_latents(n, seed)))

    def to_u(self, w) -> np.ndarray:
        return ((np.asarray(w, np.float32) - self.style.w_avg) / self.scale).astype(np.float32)

    def to_w(self, u) -> np.ndarray:
        u = np.asarray(u, np.float32)
        if u.ndim not in (1, 2) or u.shape[-1] != self.latent_dim:
            raise GanLabError(f"{self.path.parent.name} edits points of W of shape (n, {self.latent_dim}); got {u.shape}.")
        return self.style.w_avg + self.scale * u

    def generate(self, u) -> np.ndarray:
        return self.style.synthesize(self.to_w(u))


def editable(folder, backend="openvino", device="CPU", **options):
    """What the editing tools edit for a model folder: a `WGenerator` for a style-based model (its
    W scale from model.json), else the folder's generator on `backend` (`options`: the runner's)."""
    folder = Path(folder)
    info = modelfolder.read_info(folder)
    if info.get("style_based"):
        return WGenerator(load_style(folder, backend, device, **options), info.get("w_scale"))
    return load_generator(modelfolder.ModelFolder(folder).file("generator", backend), device, **options)


def space_of(generator) -> str:
    """'w' for a WGenerator, 'z' for any other generator."""
    return getattr(generator, "space", "z")
