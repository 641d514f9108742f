"""The `nbengine` console script. It imports nothing but the standard library before
it starts catching Ctrl-C, so an interrupt while the engine's modules are still being
imported (Numba and NumPy take a moment) ends like one later on: `interrupted`, exit 130,
no traceback."""

import sys


def main():
    try:
        from nbengine_cli.main import main as nbengine

        return nbengine()
    except KeyboardInterrupt:
        i18n = sys.modules.get("nbengine.i18n")  # the language is known once it is imported
        sys.stderr.write((i18n._("interrupted") if i18n else "interrupted") + "\n")
        sys.exit(130)
