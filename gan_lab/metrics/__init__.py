"""Quality figures: digits (`metrics.digits`), faces (`metrics.face_attributes`), Fréchet distance, and
whether a classifier tells generated images from real ones (`metrics.two_sample`)."""

from gan_lab.metrics.digits import (CLASSIFIER_NAME, CONFIDENCE, classify, digit_classifier,
                                    digit_figures, digit_quality, digit_table, ship_classifier,
                                    train_digit_classifier)
from gan_lab.metrics.frechet import frechet_distance

__all__ = ["CLASSIFIER_NAME", "CONFIDENCE", "classify", "digit_classifier", "digit_figures",
           "digit_quality", "frechet_distance", "digit_table", "ship_classifier", "train_digit_classifier"]
