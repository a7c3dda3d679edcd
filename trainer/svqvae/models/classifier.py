"""Task classifier T (Section III.A): MLP with two ReLU hidden layers and dropout, softmax output.

Trained on clean inputs with ``L_cls(y, p) = -log p_y`` and then frozen.
"""

from __future__ import annotations

import keras


def build_classifier(
    input_shape: tuple[int, ...],
    n_classes: int,
    hidden: tuple[int, ...] = (512, 256),
    dropout: float = 0.2,
    seed: int | None = None,
) -> keras.Model:
    """``x`` [batch, *input_shape] in [0, 1] -> class probabilities [batch, n_classes]."""
    x = keras.Input(shape=input_shape, name="x")
    h = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"t_dense{i}")(h)
        h = keras.layers.Dropout(dropout, seed=seed, name=f"t_dropout{i}")(h)
    p = keras.layers.Dense(n_classes, activation="softmax", name="t_probs")(h)
    return keras.Model(x, p, name="classifier")
