"""Classifiers that gan_lab trains to judge generated images."""

import keras
from keras import layers


def digit_cnn(num_classes=10, feature_dim=128, name="digit_classifier"):
    """A small CNN for 28x28 digits in [-1, 1]; the layer named "features" feeds Fréchet distance."""
    image = keras.Input((28, 28, 1), name="image")
    # Shifts of up to 2 pixels: the augmentation that matters most with 4,000 training digits.
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant", fill_value=-1.0)(image)
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(feature_dim, activation="relu", name="features")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(image, layers.Dense(num_classes, activation="softmax", name="probs")(x), name=name)
