"""The commands, by lesson: each module here has ``register(groups)``, which adds its
commands to the top-level groups ({"train": ..., "eval": ..., "trace": ..., ...})."""

LESSONS = ("language", "transformer", "attention")
