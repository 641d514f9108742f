"""Models: layers put together, with a config that a checkpoint can rebuild them from."""

from nbengine.models.logreg import LogisticRegression

__all__ = ["LogisticRegression"]
