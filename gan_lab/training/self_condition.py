"""Self-conditioning: an unconditional GAN that trains as a conditional one on clusters of its data.

Liu et al. (2020, "Diverse image generation via self-conditioned GANs") found that conditioning a GAN
on clusters found without labels fixes much of what an unconditional GAN gets wrong: missed modes and
shapes in between two of them. Here the clusters are fixed before training, from the images alone:
spectral clustering of a nearest-neighbour graph over their first 50 principal components (on the
4,000 training digits, 30 clusters are 87% pure by digit where k-means on pixels is 75%; the labels
only measured that). The conditional GAN then learns each cluster, and the shipped generator
(`models.blocks.self_conditioned_generator`) draws a cluster from the first component of its latent by
the clusters' shares, and gives the conditional generator the others.
"""

from pathlib import Path

import numpy as np

from gan_lab.errors import GanLabError
from gan_lab.models import blocks

NEIGHBOURS = 10
COMPONENTS = 50
SAMPLE = 10_000  # spectral clustering's eigensolver grows too slow past this (56,000 faces: > 10 minutes)
METHOD = (f"spectral clustering of a {NEIGHBOURS}-nearest-neighbour graph over {COMPONENTS} principal components "
          f"(of {SAMPLE:,} images at most; the others join the majority cluster of their {NEIGHBOURS} nearest)")


def clusters(images, k: int, seed: int = 0) -> np.ndarray:
    """Cluster index (int32, one per image) of `images` (n, ...) among `k` clusters, found from the
    pixels alone; deterministic for a seed."""
    from sklearn.cluster import SpectralClustering
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
    if not 2 <= k <= len(flat) // 10:
        raise GanLabError(f"--clusters {k}: choose 2 to {len(flat) // 10} clusters for {len(flat)} images "
                          "(at least 10 images in a cluster on average).")
    features = PCA(min(COMPONENTS, *flat.shape), random_state=seed).fit_transform(flat)
    graph = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=NEIGHBOURS, random_state=seed,
                               assign_labels="cluster_qr")
    if len(features) <= SAMPLE:
        return graph.fit_predict(features).astype(np.int32)
    picked = np.sort(np.random.default_rng(seed).choice(len(features), SAMPLE, replace=False))
    vote = KNeighborsClassifier(NEIGHBOURS).fit(features[picked], graph.fit_predict(features[picked]))
    labels = vote.predict(features).astype(np.int32)
    labels[picked] = graph.labels_  # the sample keeps its own clusters
    return labels


def shares(labels, k: int) -> np.ndarray:
    """Each cluster's share of the images (float64, sums to 1)."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return counts / counts.sum()


def load_or_make(out, images, k: int, seed: int = 0, resume: bool = False) -> np.ndarray:
    """The run's clusters: when resuming, the `clusters.npz` of run folder `out` (the clusters the run
    began with); else computed now and written there."""
    path = Path(out) / "clusters.npz"
    if resume and path.exists():
        with np.load(path, allow_pickle=False) as saved:
            labels, saved_k = saved["labels"], int(saved["k"])
        if len(labels) != len(images) or saved_k != k:
            raise GanLabError(f"{path} holds {len(labels)} images in {saved_k} clusters; this run has "
                              f"{len(images)} images and --clusters {k}. Resume with the run's own options.")
        return labels
    labels = clusters(images, k, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, labels=labels, shares=shares(labels, k), k=k)
    return labels


def trained_latent(latent_dim: int, k) -> int:
    """The trained generator's latent size: a self-conditioned one (`k` clusters; None: not) gives one
    component of the shipped generator's `latent_dim` to picking the cluster."""
    return latent_dim - 1 if k else latent_dim


def z_only(conditional, labels, k: int):
    """The shipped generator of a run self-conditioned on `labels` in `k` clusters: `conditional` (z, label)
    wrapped so that z's first component picks the cluster by the clusters' shares."""
    return blocks.self_conditioned_generator(conditional, shares(labels, k))


def describe(labels, k: int) -> dict:
    """The model card's record of the clusters."""
    return {"clusters": k, "method": METHOD, "shares": [round(float(s), 5) for s in shares(labels, k)]}
