"""The file a learner starts from: the kernel's signature under ``@njit``, a docstring with
the shapes in the loop letters and the formula, and a body to fill in between two marked
lines, after the narration of what to do."""

from __future__ import annotations

import textwrap

from nbengine.exercises.core import Exercise, say

MARKER = "# nbengine exercise: "
BEGIN = {
    "en": "# ----- your code starts here -----",
    "ko": "# ----- 여기서부터 직접 작성하세요 -----",
}
END = {"en": "# ----- your code ends here -----", "ko": "# ----- 여기까지 -----"}

HEAD = {
    "en": (
        "{title}. Lesson: `nbengine tutorial run {lesson}`.\n"
        "Fill in the body of {name} below, then check it:\n"
        "    nbengine exercise check {name}.py          (add --hint when stuck)"
    ),
    "ko": (
        "{title}. 관련 강의: `nbengine tutorial run {lesson}`.\n"
        "아래 {name} 함수의 본문을 채운 뒤 채점해 보세요:\n"
        "    nbengine exercise check {name}.py          (막히면 --hint 를 붙이세요)"
    ),
}
FILL = {
    "en": "pass  # replace this line with your loops",
    "ko": "pass  # 이 줄을 지우고 반복문을 작성하세요",
}


def skeleton(ex: Exercise, lang: str) -> str:
    """The exercise's starting file in lang ("en" or "ko")."""
    head = HEAD[lang].format(title=say(ex.title, lang), lesson=ex.lesson, name=ex.name)
    width = 88 if lang == "en" else 52  # a Korean letter takes two columns
    narration = textwrap.fill(say(ex.narration, lang), width, break_long_words=False)
    doc = textwrap.indent(say(ex.doc, lang).strip("\n"), "    ")
    body = say(ex.body, lang).strip("\n")
    body = textwrap.indent(body, "    ") + "\n" if body else ""
    helpers = ex.helpers.strip("\n") + "\n\n\n" if ex.helpers else ""
    return (
        f"{MARKER}{ex.name}\n"
        f'"""{head}\n\n{narration}\n"""\n\n'
        "import numpy as np\n"
        "from numba import njit, prange\n\n\n"
        f"{helpers}"
        "@njit(cache=True)\n"
        f"def {ex.name}({', '.join(ex.params)}):\n"
        f'    """\n{doc}\n    """\n'
        f"    {BEGIN[lang]}\n"
        f"{body}"
        f"    {FILL[lang]}\n"
        f"    {END[lang]}\n"
    )


def is_skeleton(ex: Exercise, text: str) -> bool:
    """Whether text is the exercise's skeleton as written, in either language."""
    return any(text == skeleton(ex, lang) for lang in ("en", "ko"))


def exercise_of(text: str, stem: str, names) -> str | None:
    """Which exercise a file is: its first line's marker, else its file name, else the
    first exercise whose function it defines."""
    first = text.split("\n", 1)[0].strip()
    if first.startswith(MARKER.strip()):
        return first[len(MARKER.strip()) :].strip()
    if stem in names:
        return stem
    for name in names:
        if f"def {name}(" in text:
            return name
    return None
