"""The commands of each lesson, one module per lesson.

Each module names its commands as users know them (`train cnn`, `eval cnn`, ...) and
exposes ``register(groups)``, which adds them to the verb groups of nbengine_cli.main
(groups["train"], groups["eval"], ...). A lesson's module imports the support modules
(options, output, run, render, lessons.lm_commands) and the engine, never another command
module. The traces live in nbengine_cli.trace, one module each, and main.py adds them all.
"""

LESSONS = ("logreg", "cnn", "language", "transformer", "attention")
