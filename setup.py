"""The build step pyproject.toml cannot declare: compiling the gettext catalogs.

Each nbengine/locale/<lang>/LC_MESSAGES/nbengine.po is compiled to nbengine.mo beside it
(Babel's compiler, a build requirement), so both a wheel and an editable install carry
the compiled catalog that gettext reads. The .mo files are not kept in git.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path(__file__).parent / "nbengine" / "locale"


def compile_catalogs() -> list[Path]:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            catalog = read_po(f)
        mo = po.with_suffix(".mo")
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)
        written.append(mo)
    return written


class BuildWithCatalogs(build_py):
    def run(self):
        compile_catalogs()
        super().run()


# as the build backend runs it (tests/catalog.py imports compile_catalogs)
if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildWithCatalogs})
