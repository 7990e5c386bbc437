"""The face classifier through OpenVINO: attributes, head pose and features of many faces without
TensorFlow, so that a process that only renders and measures faces (each of Ray Data's actors in
`gan_lab.scale`) starts in a second instead of importing TensorFlow and Keras.

    classifier = FaceClassifier("models/face-classifier")       # classifier.xml beside classifier.keras
    scores = classifier.score(uint8_faces)                      # as metrics.face_attributes.score

The IR is written by `metrics.face_attributes.classifier_ir` (the lab's Keras -> ONNX -> IR pipeline,
FP32, checked against Keras) and records the sha256 of the classifier.keras it came from, so an IR
left behind by a classifier that was retrained since is refused, never silently used.
"""

import hashlib
from pathlib import Path

import numpy as np

from gan_lab import modelfolder
from gan_lab.errors import GanLabError
from gan_lab.images import to_float
from gan_lab.runtime.runner import load

NAME = "face-classifier"  # its model folder (shipped in models/, else in the cache)
POSE_SCALE = 30.0  # degrees per unit of the pose head: keeps its targets near [-2, 2]
STEM = "classifier"


def source_digest(folder) -> str:
    """sha256 of the folder's classifier.keras."""
    return hashlib.sha256((Path(folder) / "classifier.keras").read_bytes()).hexdigest()


def ir_is_current(folder) -> bool:
    """Whether classifier.xml exists and was converted from this very classifier.keras."""
    folder = Path(folder)
    recorded = modelfolder.read_info(folder).get("conversions", {}).get(STEM, {}).get("source_sha256")
    return (folder / f"{STEM}.xml").exists() and recorded == source_digest(folder)


def check_ir(folder):
    """A GanLabError naming the fix unless `folder` holds an IR of its classifier.keras."""
    if not ir_is_current(folder):
        raise GanLabError(f"{folder} has no classifier.xml converted from its classifier.keras; write it with "
                          f"gan_lab.metrics.face_attributes.classifier_ir('{folder}') (saving a classifier with "
                          "face_attributes.save_classifier does it).")


class FaceClassifier:
    """The classifier's IR, opened once; `score(images)` as `metrics.face_attributes.score` returns it."""

    def __init__(self, folder, config=None):
        self.folder = Path(folder)
        check_ir(self.folder)
        self.runner = load(self.folder / f"{STEM}.xml", config=config)
        self.names = modelfolder.read_info(self.folder)["attribute_names"]

    def score(self, images, batch_size=256) -> dict:
        """{"attributes" (n, 40) probabilities, "yaw", "pitch" (degrees), "features" (n, 256)}."""
        images = to_float(np.asarray(images))
        parts = [self.runner.run(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
        return as_scores(*(np.concatenate([p[k] for p in parts]) for k in range(3)))


def as_scores(attributes, pose, features) -> dict:
    """The classifier's three outputs as the lab reads them (the pose head's units -> degrees)."""
    return {"attributes": attributes, "yaw": pose[:, 0] * POSE_SCALE, "pitch": pose[:, 1] * POSE_SCALE,
            "features": features}
