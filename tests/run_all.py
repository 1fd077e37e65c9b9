"""What *Run All* on an unsolved student version must look like (checked on the site's widget pass,
which runs every student version of every edition once)."""
import re

from course_tools import executor
from course_tools.executor import RAISES_MARK

CJK = re.compile(r"[\u4e00-\u9fff]")


def _text(output) -> str:
    return str(output.get("data", {}).get("text/plain", "")) + str(output.get("text", ""))


def assert_ran_all_unsolved(nb, lang: str = "en") -> None:
    """Every code cell ran; the only errors are the announced ones; every check says "not yet
    solved" with no hint before an attempt, in the edition's language; cells that use a learner's
    function fall back to the course's own."""
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert all(c.execution_count for c in code), "a code cell was not executed (Run All stopped)"
    assert executor._problems(nb) == [], "unexpected errors:\n" + "\n".join(executor._problems(nb))
    for index, cell in enumerate(code):
        for output in cell.outputs:
            if output.output_type == "error":
                assert "raises-exception" in cell.metadata.get("tags", []) and RAISES_MARK in cell.source, \
                    f"cell {index} raised {output.ename}: {output.evalue}"
    checks = [c for c in code if "cl.check." in c.source and ".or_reference(" not in c.source
              and any(o.output_type == "execute_result" for o in c.outputs)]
    assert checks, "no check ran"
    for cell in checks:
        shown = _text([o for o in cell.outputs if o.output_type == "execute_result"][-1])
        if lang == "en":
            assert "not yet solved" in shown and "Hint" not in shown, shown[:300]
        else:
            assert CJK.search(shown), f"a check spoke English under COURSE_LANG={lang}: {shown[:200]}"
    for cell in code:
        if ".or_reference(" in cell.source and lang == "en":
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert "not solved yet, so the cells below use the course's own" in printed, cell.source[:80]
