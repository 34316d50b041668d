"""Style classifier for the "deception rate" (Sanakoyeu et al. 2018, "A style-aware
content loss for real-time HD style transfer", section 5.1).

A multinomial logistic regression on feature-statistics vectors (metrics.
statistics_vectors) of crops of the style images. It is trained in numpy by full-batch
gradient descent on the convex objective, so it is deterministic and needs no
framework state:

    z = (v - m) / s                               (standardised with training m, s)
    p(k | v) = softmax_k(W^T z + b)
    L(W, b) = -mean_i log p(y_i | v_i) + (l2 / 2) |W|_F^2

Deception rate = share of stylized outputs whose most likely style is the style they
were painted in; the accuracy on held-back crops of the real style images is its
ceiling (what a "perfect forgery" would score).
"""
import dataclasses

import numpy as np


@dataclasses.dataclass
class StyleClassifier:
    mean: np.ndarray       # [D] feature means of the training vectors
    scale: np.ndarray      # [D] feature standard deviations (floored)
    weights: np.ndarray    # [D, K]
    bias: np.ndarray       # [K]

    def probabilities(self, vectors):
        """Posterior p(k | v) [N, K] of vectors [N, D]."""
        logits = self._standardise(vectors) @ self.weights + self.bias
        return _softmax(logits)

    def predict(self, vectors):
        return np.argmax(self.probabilities(vectors), axis=1)

    def _standardise(self, vectors):
        return (np.asarray(vectors, np.float64) - self.mean) / self.scale


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def fit(vectors, labels, num_classes, l2=1e-2, steps=1000):
    """Fits the regularised softmax regression above to vectors [N, D], labels [N].

    The step size is 1 / L with L = |Z|_2^2 / (2 N) + l2, an upper bound on the
    curvature of the objective (the softmax cross-entropy Hessian is at most half the
    feature second moment), so gradient descent decreases the loss at every step
    without a tuned learning rate.
    """
    vectors = np.asarray(vectors, np.float64)
    labels = np.asarray(labels, np.int64)
    if vectors.ndim != 2 or len(vectors) != len(labels):
        raise ValueError(f"Classifier training needs vectors [N, D] and N labels, got "
                         f"shapes {vectors.shape} and {labels.shape}.")
    if len(np.unique(labels)) < 2:
        raise ValueError("The style classifier needs crops of at least 2 styles.")
    mean = vectors.mean(axis=0)
    # Floored: constant features (e.g. dead random-VGG channels) must not divide by 0.
    scale = np.maximum(vectors.std(axis=0), 1e-6 * (np.abs(mean).max() + 1e-12))
    classifier = StyleClassifier(mean, scale,
                                 np.zeros((vectors.shape[1], num_classes)),
                                 np.zeros(num_classes))
    standardised = classifier._standardise(vectors)
    one_hot = np.eye(num_classes)[labels]
    curvature = np.linalg.norm(standardised, ord=2) ** 2 / (2 * len(vectors)) + l2
    step_size = 1.0 / curvature
    for _ in range(steps):
        error = (_softmax(standardised @ classifier.weights + classifier.bias)
                 - one_hot) / len(vectors)
        classifier.weights -= step_size * (standardised.T @ error
                                           + l2 * classifier.weights)
        classifier.bias -= step_size * error.sum(axis=0)
    return classifier


def accuracy(classifier, vectors, labels):
    """Share of vectors whose most likely class is their label."""
    return float(np.mean(classifier.predict(vectors) == np.asarray(labels)))
