"""Grading one submission, check after check, stopping at the first that fails.

1. compile: the file imports, defines the kernel under ``@njit`` with the exercise's
   number of arguments, and Numba compiles it (float64);
2. worked: the lesson's worked example, the learner's numbers beside the lesson's;
3. cases: random cases, small to edge cases, against the engine's naive kernel;
4. gradients (backward exercises): the learner's gradients against float64 finite
   differences;
5. speed: the learner's loop against the engine's naive and fast kernels and the C twin
   (float32, one thread each), as ratios; informative, never failed for being slow.

Each check is a dict: ``check`` (its name), ``passed`` (True, False, or None for the
speed, which only informs), ``message`` (one line in the learner's language) and the
details a grader or the command line may show. This runs in the worker process
(:mod:`nbengine.exercises.worker`), where an endless loop or a crash harms nothing.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import sys
import time
import traceback

import numpy as np

from nbengine.exercises.core import Case, Exercise, first_wrong, index_text, number, recognise, say
from nbengine.exercises.skeleton import is_skeleton

CHECKS = ("compile", "worked", "cases", "gradients", "speed")
SEED = 16  # the random cases are the same on every run, so a message can be reproduced


def check(name: str, passed, message: str, **details) -> dict:
    return {"check": name, "passed": passed, "message": message, **details}


def _where(path: str, tb) -> int | None:
    """The line of the learner's file deepest in a traceback."""
    line = None
    for frame in traceback.extract_tb(tb):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return line


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def numba_message(error: Exception, path: str) -> tuple[str, int | None]:
    """Numba's error as one readable line, and the learner's line it points at."""
    text = ANSI.sub("", str(error))
    line = None
    for m in re.finditer(r'File "([^"]+)", line (\d+)', text):
        if os.path.basename(m.group(1)) == os.path.basename(path):
            line = int(m.group(2))
    if line is None:
        found = re.search(re.escape(os.path.basename(path)) + r"\s*\((\d+)\)", text)
        line = int(found.group(1)) if found else None
    reason = ""
    lines = [raw.strip() for raw in text.splitlines()]
    for at, s in enumerate(lines):
        if (
            not s
            or s.startswith(
                ("Failed in", "File ", "During:", "<source", "- Resolution", "Resolution")
            )
            or s.startswith("^")
            or "pipeline (step" in s
        ):
            continue
        reason = s
        # "No implementation of function ... found for signature:" then the types
        if s.endswith("signature:"):
            reason += " " + next((t.lstrip("> ") for t in lines[at + 1 :] if t), "")
        break
    reason = reason.rstrip(":") or type(error).__name__
    return (reason[:237] + "...") if len(reason) > 240 else reason, line


def load(path: str, ex: Exercise, lang: str):
    """(the learner's compiled kernel, None) or (None, the failed check)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if is_skeleton(ex, text):
        return None, check(
            "compile",
            False,
            say(
                (
                    f"{path} is the skeleton as written: fill in the body of {ex.name} between the marked lines",
                    f"{path} 는 처음 받은 뼈대 그대로입니다: 표시된 두 줄 사이에 {ex.name} 의 본문을 작성하세요",
                ),
                lang,
            ),
        )
    spec = importlib.util.spec_from_file_location(
        f"nbengine_exercise_{ex.name}", os.path.abspath(path)
    )
    assert spec is not None and spec.loader is not None  # a .py file always has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Numba's cache finds the module's globals by its name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        return None, check(
            "compile",
            False,
            say(
                (
                    f"{path}:{e.lineno}: syntax error: {e.msg}",
                    f"{path}:{e.lineno}: 문법 오류: {e.msg}",
                ),
                lang,
            ),
            line=e.lineno,
        )
    except Exception as e:  # whatever the learner's module raises on import
        line = _where(path, e.__traceback__)
        where = f"{path}:{line}" if line else path
        return None, check(
            "compile",
            False,
            say(
                (
                    f"{where}: importing it raised {type(e).__name__}: {e}",
                    f"{where}: 불러오는 중 {type(e).__name__} 발생: {e}",
                ),
                lang,
            ),
            line=line,
        )
    fn = getattr(module, ex.name, None)
    if fn is None:
        return None, check(
            "compile",
            False,
            say(
                (f"{path} defines no function {ex.name}", f"{path} 에 {ex.name} 함수가 없습니다"),
                lang,
            ),
        )
    if not hasattr(fn, "py_func"):
        return None, check(
            "compile",
            False,
            say(
                (
                    f"{path}: {ex.name} is not compiled: put @njit(cache=True) on the line above `def {ex.name}`",
                    f"{path}: {ex.name} 가 컴파일되지 않습니다: `def {ex.name}` 윗줄에 @njit(cache=True) 를 붙이세요",
                ),
                lang,
            ),
        )
    found = list(inspect.signature(fn.py_func).parameters)
    if len(found) != len(ex.params):
        line = fn.py_func.__code__.co_firstlineno
        return None, check(
            "compile",
            False,
            say(
                (
                    f"{path}:{line}: wrong signature: {ex.name}({', '.join(found)}) takes {len(found)} arguments; "
                    f"the exercise's kernel is {ex.name}({', '.join(ex.params)})",
                    f"{path}:{line}: 시그니처가 다릅니다: {ex.name}({', '.join(found)}) 는 인자가 {len(found)}개입니다; "
                    f"과제의 커널은 {ex.name}({', '.join(ex.params)}) 입니다",
                ),
                lang,
            ),
            line=line,
        )
    return fn, None


def compile_kernel(fn, ex: Exercise, case: Case, path: str, lang: str):
    """Compile for the case's argument types; a failed check, or None."""
    import numba
    from numba.core.errors import NumbaError

    try:
        fn.compile(tuple(numba.typeof(v) for v in case.args.values()))
    except NumbaError as e:
        reason, line = numba_message(e, path)
        where = f"{path}:{line}" if line else path
        return check(
            "compile",
            False,
            say(
                (
                    f"{where}: Numba cannot compile {ex.name}: {reason}",
                    f"{where}: Numba 가 {ex.name} 를 컴파일하지 못합니다: {reason}",
                ),
                lang,
            ),
            line=line,
        )
    except Exception as e:
        reason, line = numba_message(e, path)
        where = f"{path}:{line}" if line else path
        return check(
            "compile",
            False,
            say(
                (
                    f"{where}: compiling {ex.name} raised {type(e).__name__}: {reason}",
                    f"{where}: {ex.name} 컴파일 중 {type(e).__name__}: {reason}",
                ),
                lang,
            ),
            line=line,
        )
    return None


def run(fn, ex: Exercise, case: Case, path: str, lang: str, what: str):
    """The learner's kernel on a prepared copy of the case: (the case after it, None) or
    (None, a failed check) when it raised."""
    got = ex.prepared(case)
    try:
        fn(*got.args.values())
    except Exception as e:
        line = _where(path, e.__traceback__)
        where = f"{path}:{line}" if line else path
        return None, check(
            what,
            False,
            say(
                (
                    f"{where}: {ex.name} raised {type(e).__name__}: {e}",
                    f"{where}: {ex.name} 실행 중 {type(e).__name__}: {e}",
                ),
                lang,
            ),
            line=line,
        )
    return got, None


def mismatch(ex: Exercise, case: Case, expected: Case, got: Case, lang: str, hint: int) -> dict:
    """What is wrong, for a case where the learner's outputs differ from the reference's.

    The hints are graded by ``hint`` (how many times --hint was given): 0, the recognised
    mistake's name only; 1, how to fix it (or, when no mistake is recognised, the first of
    the exercise's hints); 2 or more, the exercise's hints as well, the loops spelled out."""
    name, index = first_wrong(ex, expected, got)
    out = ex.out(name)
    e, g = expected.args[name][index], got.args[name][index]
    element = f"{name}[{', '.join(map(str, index))}]"
    details = {
        "output": name,
        "index": list(index),
        "expected": float(e),
        "got": float(g),
        "term": f"{name}[{', '.join(out.letters.split())}] = {out.formula}",
        "at": index_text(out.letters, index),
    }
    mistake = recognise(ex, case, got)
    unwritten = (
        out.fill == "nan"
        and np.isnan(got.args[name]).any()
        and not np.isnan(expected.args[name]).any()
    )
    general = [say(h, lang) for h in ex.hints]
    more = say(("--hint says how to fix it", "고치는 방법은 --hint 로 볼 수 있습니다"), lang)
    if mistake is not None:
        details["mistake"] = mistake.key
        details["mistake_name"] = say(mistake.name, lang)
        details["hint"] = (
            " ".join([say(mistake.hint, lang)] + (general if hint >= 2 else [])) if hint else more
        )
    elif unwritten:
        details["mistake"] = "unwritten"
        details["mistake_name"] = say(("elements left unwritten", "쓰지 않은 원소"), lang)
        details["hint"] = say(
            (
                f"some elements of {name} are NaN: the grader fills {name} with NaN before your kernel runs, and your "
                f"kernel must write every element (set it with =, or set it to 0 before adding with +=)",
                f"{name} 의 일부 원소가 NaN 입니다: 채점기는 커널을 부르기 전에 {name} 을 NaN 으로 채웁니다. 모든 원소를 "
                f"직접 써야 합니다 (= 로 쓰거나, += 로 더하기 전에 0 으로 초기화하세요)",
            ),
            lang,
        )
    elif hint and general:
        details["hint"] = " ".join(general[:1] if hint == 1 else general)
    details["side_by_side"] = _side_by_side(ex, name, index, expected, got)
    details["message"] = say(
        (
            f"{element} is {number(g)}, expected {number(e)}",
            f"{element} 가 {number(g)} 입니다. 정답은 {number(e)}",
        ),
        lang,
    )
    return details


def _side_by_side(ex, name, index, expected, got):
    """The 2-D slice of the wrong output that holds the wrong element (along the output's axes)."""
    e, g = expected.args[name], got.args[name]
    if e.ndim > 2:
        axes = [a % e.ndim for a in ex.out(name).axes]
        at = tuple(slice(None) if d in axes else index[d] for d in range(e.ndim))
        e, g = e[at], g[at]
    if e.size > 64:
        return None
    return {"expected": np.atleast_2d(e).tolist(), "got": np.atleast_2d(g).tolist()}


def worked_check(fn, ex: Exercise, path: str, lang: str, hint: int) -> dict:
    case = ex.worked.case()
    got, failed = run(fn, ex, case, path, lang, "worked")
    if failed:
        return failed
    expected = ex.expected(case)
    shown = ex.worked.shown or ex.output_names
    views = {
        n: {
            "expected": ex.worked.view(n, expected.args[n]).tolist(),
            "got": ex.worked.view(n, got.args[n]).tolist(),
        }
        for n in shown
    }
    if first_wrong(ex, expected, got) is None:
        return check(
            "worked",
            True,
            say(("the lesson's worked example: right", "강의의 예제: 정답"), lang),
            views=views,
        )
    details = mismatch(ex, case, expected, got, lang, hint)
    message = details.pop("message")
    return check(
        "worked",
        False,
        say((f"the lesson's worked example: {message}", f"강의의 예제: {message}"), lang),
        views=views,
        **details,
    )


def cases_check(fn, ex: Exercise, path: str, lang: str, hint: int) -> dict:
    cases = ex.cases(np.random.default_rng(SEED))
    for number_, case in enumerate(cases, 1):
        got, failed = run(fn, ex, case, path, lang, "cases")
        if failed:
            failed["case"] = say(case.label, lang)
            return failed
        expected = ex.expected(case)
        if first_wrong(ex, expected, got) is None:
            continue
        details = mismatch(ex, case, expected, got, lang, hint)
        message = details.pop("message")
        label = say(case.label, lang)
        return check(
            "cases",
            False,
            say(
                (
                    f"case {number_} of {len(cases)} ({label}): {message}",
                    f"{len(cases)}개 중 {number_}번째 경우 ({label}): {message}",
                ),
                lang,
            ),
            case=label,
            **details,
        )
    return check(
        "cases",
        True,
        say(
            (
                f"{len(cases)} random cases, small to edge cases: all agree with the engine's "
                f"{ex.reference().py_func.__name__}",
                f"작은 경우부터 경계 경우까지 무작위 {len(cases)}개: 모두 엔진의 "
                f"{ex.reference().py_func.__name__} 와 일치",
            ),
            lang,
        ),
        cases=len(cases),
    )


def gradients_check(fn, ex: Exercise, path: str, lang: str) -> dict:
    import numba

    from nbengine.gradcheck import compare, numerical_gradient

    case = ex.cases(np.random.default_rng(SEED))[0]
    got, failed = run(fn, ex, case, path, lang, "gradients")
    if failed:
        return failed
    assert ex.gradient is not None  # a backward exercise
    loss, params = ex.gradient(got.copy())
    before = numba.get_num_threads()
    numba.set_num_threads(1)  # hundreds of tiny calls: one thread skips waking the others
    try:
        results = [
            compare(name, got.args[name], numerical_gradient(loss, p)) for name, p in params.items()
        ]
    finally:
        numba.set_num_threads(before)
    rows = [
        {
            "gradient": r.name,
            "of": ex.out(r.name).gradient_of,
            "max_abs": r.max_abs,
            "max_rel": r.max_rel,
            "passed": r.passed,
        }
        for r in results
    ]
    bad = [r for r in results if not r.passed]
    names = ", ".join(f"dL/d{ex.out(r.name).gradient_of}" for r in results)
    if not bad:
        worst = max(r.max_rel for r in results)
        return check(
            "gradients",
            True,
            say(
                (
                    f"{names} against float64 finite differences: largest relative error {worst:.1e}",
                    f"{names} 를 float64 유한 차분과 비교: 가장 큰 상대 오차 {worst:.1e}",
                ),
                lang,
            ),
            gradients=rows,
        )
    r = bad[0]
    i = np.unravel_index(int(np.argmax(np.abs(r.analytic - r.numeric))), r.analytic.shape)
    where = f"{r.name}[{', '.join(map(str, i))}]"
    return check(
        "gradients",
        False,
        say(
            (
                f"dL/d{ex.out(r.name).gradient_of} does not match finite differences: {where} is {number(r.analytic[i])}, "
                f"the numeric gradient {number(r.numeric[i])} (relative error {r.max_rel:.1e})",
                f"dL/d{ex.out(r.name).gradient_of} 가 유한 차분과 다릅니다: {where} 가 {number(r.analytic[i])}, "
                f"수치 기울기는 {number(r.numeric[i])} (상대 오차 {r.max_rel:.1e})",
            ),
            lang,
        ),
        gradients=rows,
    )


def _best(call, budget: float = 0.4, most: int = 50) -> float:
    """The shortest of a few timed calls (after one untimed, which compiles)."""
    call()
    best = float("inf")
    spent = 0.0
    runs = 0
    while runs < 3 or (spent < budget and runs < most):
        t0 = time.perf_counter()
        call()
        took = time.perf_counter() - t0
        best = min(best, took)
        spent += took
        runs += 1
    return best


def speed_check(fn, ex: Exercise, path: str, lang: str) -> dict:
    import numba

    case = ex.speed_case(np.random.default_rng(SEED))
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    rows: list[dict] = []
    try:
        mine = ex.prepared(case)
        try:
            seconds = _best(lambda: fn(*mine.args.values()))
        except Exception as e:
            reason, line = numba_message(e, path)
            where = f"{path}:{line}" if line else path
            return check(
                "speed",
                False,
                say(
                    (
                        f"{where}: {ex.name} fails in float32: {reason}",
                        f"{where}: {ex.name} 가 float32 에서 실패합니다: {reason}",
                    ),
                    lang,
                ),
            )
        rows.append({"kernel": say(("yours", "내 코드"), lang), "seconds": seconds})
        ref = ex.prepared(case)
        reference = ex.reference()
        rows.append(
            {
                "kernel": reference.py_func.__name__,
                "seconds": _best(lambda: reference(*ref.args.values())),
            }
        )
        if ex.fast is not None:
            fast = ex.fast()
            c = ex.prepared(case)
            rows.append(
                {
                    "kernel": getattr(fast, "__name__", "fast"),
                    "seconds": _best(lambda: fast(*c.args.values())),
                }
            )
        note = None
        if ex.c_twin:
            twin, note = _c_twin(ex, case)
            if twin is not None:
                rows.append({"kernel": f"C {ex.c_twin}", "seconds": _best(twin)})
    finally:
        numba.set_num_threads(before)
    for r in rows:
        r["ratio"] = seconds / r["seconds"]  # above 1: yours takes longer
    summary = ", ".join(f"{r['ratio']:.2f}× {r['kernel']}" for r in rows[1:])
    return check(
        "speed",
        None,
        say(
            (
                f"float32, one thread: yours {seconds * 1e3:.3g} ms, a time of {summary}",
                f"float32, 스레드 1개: 내 코드 {seconds * 1e3:.3g} ms, 시간 비율 {summary}",
            ),
            lang,
        ),
        rows=rows,
        note=note,
        shape=say(case.label, lang),
    )


def _c_twin(ex: Exercise, case: Case):
    """(a call of the C twin on the case, None) or (None, one line saying why there is none)."""
    from nbengine import ctwins

    try:
        twins = ctwins.load()
        twins.set_threads(1)
        c = ex.prepared(case)
        assert ex.c_twin is not None
        return twins.bind(ex.c_twin, *c.args.values()), None
    except Exception as e:  # no compiler, a failed build: the column is left out, said in one line
        return None, f"no C column: {e}"


def grade(
    path: str,
    ex: Exercise,
    lang: str = "en",
    hint: int = 0,
    started=lambda name: None,
    speed: bool = True,
):
    """Yield the checks, in order, until one fails. ``started(name)`` is called as each
    check begins (the worker reports it, so a check that never ends can be named).
    speed=False leaves out the timings (which inform, and never fail a correct kernel)."""
    started("compile")
    fn, failed = load(path, ex, lang)
    if failed is None:
        failed = compile_kernel(fn, ex, ex.worked.case(), path, lang)
    if failed:
        yield failed
        return
    yield check(
        "compile",
        True,
        say((f"{ex.name} imports and compiles", f"{ex.name} 불러오기와 컴파일 성공"), lang),
    )
    steps = [
        ("worked", lambda: worked_check(fn, ex, path, lang, hint)),
        ("cases", lambda: cases_check(fn, ex, path, lang, hint)),
    ]
    if ex.gradient is not None:
        steps.append(("gradients", lambda: gradients_check(fn, ex, path, lang)))
    if speed:
        steps.append(("speed", lambda: speed_check(fn, ex, path, lang)))
    for name, step in steps:
        started(name)
        result = step()
        yield result
        if result["passed"] is False:
            return
