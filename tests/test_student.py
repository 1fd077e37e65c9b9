"""Student versions: solutions become stubs; executing them fails only where a stub is reached."""
from pathlib import Path

import nbformat
import pytest

from course_tools import student

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    student.build(NOTEBOOKS, out)
    return out


def test_every_solution_region_becomes_a_stub(student_dir):
    for path in NOTEBOOKS:
        instructor = nbformat.read(path, as_version=4)
        learner = nbformat.read(student_dir / path.name, as_version=4)
        regions = sum(c.source.count(student.BEGIN) for c in instructor.cells if c.cell_type == "code")
        stubs = sum(c.source.count("raise NotImplementedError(") for c in learner.cells if c.cell_type == "code")
        assert regions >= 1, f"{path.name} has no exercise"
        assert stubs == regions, path.name
        text = "\n".join(c.source for c in learner.cells)
        assert student.BEGIN not in text and student.END not in text
        for cell in learner.cells:
            if cell.cell_type == "code" and ("NotImplementedError(" in cell.source or "cl.check." in cell.source):
                assert cell.outputs == [] and cell.execution_count is None


def test_stub_keeps_indentation_and_names_the_exercise():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION\n\nprint('after')\n"
    out = student.strip_solutions(source, "Exercise 9 — doubling")
    assert out == ("def f(x):\n    raise NotImplementedError('Exercise 9 — doubling: write your solution here "
                   "(see the instructions above)')\n\nprint('after')\n")


# Run All on every unsolved student version, English and Chinese: the site's widget pass runs them once
# (tests/test_site.py::test_every_student_version_of_every_edition_runs_all_unsolved).


def test_building_twice_keeps_a_learners_work(tmp_path, capsys):
    first = student.build(NOTEBOOKS[:2], tmp_path)
    edited = first[0]
    nb = nbformat.read(edited, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("my notes"))
    nbformat.write(nb, edited)
    assert student.main([str(p) for p in NOTEBOOKS[:2]] + ["--out", str(tmp_path)]) == 0
    assert "my notes" in edited.read_text()
    assert "kept" in capsys.readouterr().out
    student.build(NOTEBOOKS[:1], tmp_path, force=True)
    assert "my notes" not in edited.read_text()


def test_the_course_opens_on_student_versions_building_only_missing_ones(tmp_path, monkeypatch, capsys):
    import shutil
    import subprocess
    import sys
    from course_tools import lab
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS[:2]:
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    monkeypatch.setattr(lab, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(student, "REPO_ROOT", tmp_path)
    line = lab.command(["--", "--no-browser"])
    assert line[1:] == ["-m", "jupyterlab", str(tmp_path / "student"), "--no-browser"]
    assert sorted(p.name for p in (tmp_path / "student").glob("*.ipynb")) == [p.name for p in NOTEBOOKS[:2]]
    assert "built 2 student notebook(s)" in capsys.readouterr().out
    mine = tmp_path / "student" / NOTEBOOKS[0].name
    mine.write_text(mine.read_text().replace("raise NotImplementedError(", "raise  NotImplementedError("))
    (tmp_path / "student" / NOTEBOOKS[1].name).unlink()
    lab.command([])
    assert "raise  NotImplementedError(" in mine.read_text(), "a learner's edits were overwritten"
    assert "built 1 student notebook(s)" in capsys.readouterr().out
    assert lab.command(["--instructor"])[-1] == str(tmp_path / "notebooks")
    # the command it runs exists in this environment
    assert subprocess.run([sys.executable, "-m", "jupyterlab", "--version"], capture_output=True,
                          timeout=120).returncode == 0


def test_the_readme_quickstart_is_two_commands_and_the_second_opens_the_student_versions():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("python3 -m venv") and "pip install -r requirements.txt" in commands[0]
    assert commands[1] == "python -m course_tools.lab"


def test_the_glossary_opens_from_the_student_folder_in_english_and_chinese(tmp_path, monkeypatch):
    """JupyterLab's root is student/ (or student/zh/): ../GLOSSARY.md would be outside it and give 404."""
    from course_tools import lab
    root = Path(__file__).parent.parent
    (tmp_path / "notebooks").symlink_to(root / "notebooks")
    for name in ("GLOSSARY.md", "GLOSSARY.zh.md"):
        (tmp_path / name).write_text((root / name).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(lab, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(student, "REPO_ROOT", tmp_path)
    for argv, glossary in (([], "GLOSSARY.md"), (["--lang", "zh"], "GLOSSARY.zh.md")):
        opened = Path(lab.command([*argv, "--", "--no-browser"])[3])
        assert (opened / glossary).read_text(encoding="utf-8") == (root / glossary).read_text(encoding="utf-8")
        linked = 0
        for path in sorted(opened.glob("*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "markdown":
                    assert "GLOSSARY.md" not in cell.source.replace(f"]({glossary})", ""), (glossary, path.name)
                    linked += cell.source.count(f"]({glossary})")
        assert linked >= 10, (glossary, linked)                 # every chapter's link to its terms


def test_glossary_links_keep_anchors_and_leave_other_links_alone():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "[terms](../GLOSSARY.md), [nonce](../../GLOSSARY.md#nonce), [bench](../docs/benchmarks.md)")])
    assert student.glossary_links(nb, "GLOSSARY.zh.md")
    assert nb.cells[0].source == ("[terms](GLOSSARY.zh.md), [nonce](GLOSSARY.zh.md#nonce), "
                                  "[bench](../docs/benchmarks.md)")
    assert not student.glossary_links(nb)
