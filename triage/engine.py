"""The classifier behind triage suggestions: pure scikit-learn, no Django, no network.

Character 1–3-grams (Chinese needs no segmenter for this: a bigram such as 电梯 or 路灯 is already a word), TF-IDF
with sublinear counts, and two logistic regressions fitted by SGD (one-vs-rest, probabilities normalised; seconds
for 100,000 decisions where lbfgs takes minutes) on the same features: one for the category, one
for the kind (the kind says how the resident speaks — 咨询, 建议, 举报 — more than what the problem is, so it is
learnt from the text on its own and not tied to the category).
"""

import io
import pickle
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier

ENGINE = "tfidf-char13-sgd-logreg"
# Decisions made by staff count this many times a line of the shipped set: a correction outweighs the cold start.
STAFF_WEIGHT = 3.0


@dataclass
class Fitted:
    vectorizer: TfidfVectorizer
    category: SGDClassifier
    kind: "SGDClassifier | _Constant"  # a constant when the training set holds a single kind


@dataclass(frozen=True)
class Ranked:
    category: str
    score: float
    kind: str


def _regression() -> SGDClassifier:
    # A fixed number of epochs and seed: the same data gives the same model.
    return SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=30, tol=None, random_state=0)


def fit(texts: list[str], categories: list[str], kinds: list[str], weights: list[float] | None = None) -> Fitted:
    """Fit the vectorizer and both classifiers; needs at least two categories."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1, dtype=np.float32)
    features = vectorizer.fit_transform(texts)
    weight = None if weights is None else np.asarray(weights, dtype=np.float64)
    category = _regression().fit(features, categories, sample_weight=weight)
    kind = _regression().fit(features, kinds, sample_weight=weight) if len(set(kinds)) > 1 else None
    if kind is None:
        kind_only = kinds[0]
        return Fitted(vectorizer=vectorizer, category=category, kind=_Constant(kind_only))
    return Fitted(vectorizer=vectorizer, category=category, kind=kind)


class _Constant:
    """A kind 'classifier' for a training set of one kind."""

    def __init__(self, value: str):
        self.classes_ = np.array([value])

    def predict_proba(self, features):
        return np.ones((features.shape[0], 1))


def rank(fitted: Fitted, text: str, *, limit: int = 3) -> list[Ranked]:
    """Return the `limit` likeliest categories of `text`, best first, with their probability and the likeliest kind."""
    return rank_many(fitted, [text], limit=limit)[0]


def rank_many(
    fitted: Fitted, texts: list[str], *, limit: int = 3, priors: list[dict[str, float] | None] | None = None
) -> list[list[Ranked]]:
    """rank() for many texts; `priors[i]`, when given, weighs text i's categories (a factor per category, 1 if
    absent) before renormalising — how the place tips a close call (triage.suggest)."""
    features = fitted.vectorizer.transform(texts)
    cat_p = fitted.category.predict_proba(features)
    kind_p = fitted.kind.predict_proba(features)
    classes = [str(c) for c in fitted.category.classes_]
    out = []
    for i, (row, krow) in enumerate(zip(cat_p, kind_p, strict=True)):
        prior = priors[i] if priors else None
        if prior:
            row = row * np.array([prior.get(c, 1.0) for c in classes])
            row = row / row.sum()
        kind = str(fitted.kind.classes_[int(np.argmax(krow))])
        best = np.argsort(-row, kind="stable")[:limit]
        out.append([Ranked(category=classes[j], score=float(row[j]), kind=kind) for j in best])
    return out


def accuracy(fitted: Fitted, texts: list[str], categories: list[str]) -> tuple[float, float]:
    """Return (top-1, top-3) accuracy of the category on a labelled set."""
    if not texts:
        return 0.0, 0.0
    ranked = rank_many(fitted, texts, limit=3)
    top1 = sum(r[0].category == c for r, c in zip(ranked, categories, strict=True))
    top3 = sum(c in {x.category for x in r} for r, c in zip(ranked, categories, strict=True))
    return top1 / len(texts), top3 / len(texts)


def dumps(fitted: Fitted) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(fitted, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def loads(blob: bytes) -> Fitted:
    # Only ever bytes this process family wrote itself (the TriageModel table), never anything fetched.
    return pickle.loads(blob)  # noqa: S301
