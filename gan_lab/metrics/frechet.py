"""Fréchet distance between two sets of features (FID's formula).

gan_lab computes it in the feature space of its own classifiers (digits, face attributes)
rather than Inception's, so a figure compares only with figures from the same classifier and
the same sample size -- which is why every figure is shown beside a real-vs-real reference.
"""

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(feats_a, feats_b) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrt(S_a S_b)) between two feature sets."""
    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    cov_a, cov_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    with warnings.catch_warnings():  # a singular product is handled just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean, _ = linalg.sqrtm(cov_a.dot(cov_b), disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as FID implementations do
        eps = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + eps).dot(cov_b + eps))
    diff = mu_a - mu_b
    return float(diff.dot(diff) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean.real))
