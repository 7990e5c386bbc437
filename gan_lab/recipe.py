"""A face as a recipe: which model, which seed, how much truncation, how far along each named
direction and which attributes are locked. The explorer saves one as JSON, `gan-lab grid`
renders the same person from it; the latent is rebuilt from the recipe, so a saved face is a
few hundred bytes and re-renders exactly on any backend.
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gan_lab import latent, paths
from gan_lab.errors import GanLabError

VERSION = 1


@dataclass
class Recipe:
    model: str  # the model folder, e.g. "models/faces-dcgan"
    latent_dim: int
    seed: int = 0
    truncation: float = 1.0
    sliders: dict = field(default_factory=dict)  # direction name -> step along it (latent units)
    locks: list = field(default_factory=list)  # direction names held fixed while others move
    space: str = "z"  # "w": a style-based model's W, in units of its spread (runtime.style.WGenerator)

    def latent(self, directions, hold=None, sample=None) -> np.ndarray:
        """The (1, latent_dim) latent of this face: the seed's latent, truncated, moved by the
        locked sliders along their own directions, then by the free sliders along theirs made
        orthogonal to the locked ones (so the locked attributes' linear scores stay put). With
        `hold` (an `editing.Hold`) the free move is walked so that the locked attributes, as the
        classifier reads them, stay where the locked sliders put them. `sample(n, seed)`: the seed's
        point (a generator's `sample_latents`; default N(0, I), which is Z's)."""
        if directions.latent_dim != self.latent_dim:
            raise GanLabError(f"The directions are for {directions.latent_dim}-d latents, this face for "
                              f"{self.latent_dim}-d; use the directions shipped with {self.model}.")
        start = sample(1, self.seed) if sample else latent.sample(1, self.latent_dim, self.seed)
        anchor = latent.truncate(start, self.truncation)
        moves = {k: np.float32(v) for k, v in self.sliders.items() if v}
        for name in [k for k in moves if k in self.locks]:  # locked sliders keep their own direction
            anchor = anchor + moves[name] * directions[name]
        z = anchor.copy()
        for name in [k for k in moves if k not in self.locks]:  # free ones avoid the locked ones
            z = z + moves[name] * directions.locked(name, self.locks)
        if hold is not None and self.locks and not np.array_equal(z, anchor):
            z = hold(anchor, z, self.locks)
        return z.astype(np.float32)

    def to_json(self) -> dict:
        return {"version": VERSION, **asdict(self)}

    def save(self, path) -> Path:
        """Write atomically (a crash mid-write leaves any previous file intact)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = paths.temp_beside(path)
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> "Recipe":
        path = Path(path)
        if not path.exists():
            raise GanLabError(f"{path} does not exist; save a face from the explorer first (its Save button).")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise GanLabError(f"{path} is not valid JSON ({err}); it is not a saved face.") from err
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data, where="the recipe") -> "Recipe":
        """A recipe from its JSON object (a saved face's content); `where` names it in errors."""
        if not isinstance(data, dict):
            raise GanLabError(f"{where} must be a JSON object (a face saved by the explorer); got {type(data).__name__}.")
        missing = [k for k in ("model", "latent_dim", "seed") if k not in data]
        if missing:
            raise GanLabError(f"{where} lacks {missing}; a saved face has model, latent_dim, seed, truncation, "
                              "sliders and locks.")
        try:
            return cls(model=str(data["model"]), latent_dim=int(data["latent_dim"]), seed=int(data["seed"]),
                       truncation=float(data.get("truncation", 1.0)),
                       sliders={str(k): float(v) for k, v in dict(data.get("sliders", {})).items()},
                       locks=[str(k) for k in data.get("locks", [])], space=str(data.get("space", "z")))
        except (TypeError, ValueError) as err:
            raise GanLabError(f"{where} has a value of the wrong type ({err}): latent_dim and seed are whole "
                              "numbers, truncation and the sliders numbers, locks a list of names.") from err

    def check_space(self, space, where) -> None:
        """Refuse a face saved in the other latent space: its numbers would mean another face there."""
        if self.space != space:
            names = {"z": "Z (the latent the generator takes)", "w": "W (a style-based model's mapped space)"}
            raise GanLabError(f"This face was saved in {names.get(self.space, self.space)}, but {where} edits in "
                              f"{names.get(space, space)}; the same numbers would draw another face. Open it with "
                              f"the model it was saved from ({self.model}), or save it again here.")
