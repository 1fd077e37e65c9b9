"""The offline wheelhouse (docs/teaching.md, "No Wi-Fi"): made with pip download, checked with
pip install --no-index and no pip setting of this machine, so that nothing but the folder counts."""
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import wheelhouse

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def tiny_course(tmp_path_factory):
    """A course-shaped project: one pinned package and itself as ``-e .``, built with setuptools."""
    project = tmp_path_factory.mktemp("course")
    (project / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=68"]\n'
                                            'build-backend = "setuptools.build_meta"\n\n'
                                            '[project]\nname = "tiny-course"\nversion = "0.1"\n')
    (project / "tiny_course").mkdir()
    (project / "tiny_course" / "__init__.py").write_text("")
    (project / "requirements.txt").write_text("tqdm==4.70.1\n# the course itself\n-e .\n")
    out = tmp_path_factory.mktemp("wheels")
    wheelhouse.download(out, project / "requirements.txt", project)
    return project, out


def test_the_wheelhouse_holds_the_packages_and_setuptools_but_not_the_course_folder(tiny_course):
    project, out = tiny_course
    names = sorted(p.name for p in out.iterdir())
    assert [n.split("-")[0] for n in names] == ["setuptools", "tqdm"], names       # no zip of the course
    assert wheelhouse.verify(out, project / "requirements.txt", project) == 2     # tqdm and tiny-course


def test_a_wheelhouse_without_setuptools_is_refused_naming_it(tiny_course, tmp_path):
    project, out = tiny_course
    partial = tmp_path / "wheels"
    partial.mkdir()
    for wheel in out.glob("tqdm*"):
        (partial / wheel.name).write_bytes(wheel.read_bytes())
    with pytest.raises(wheelhouse.WheelhouseError, match=r"lacks setuptools>=68, which pip needs"):
        wheelhouse.verify(partial, project / "requirements.txt", project)


def test_a_missing_package_is_refused_although_this_machine_could_fetch_it(tiny_course, tmp_path, monkeypatch):
    """The check runs with no pip configuration and no PIP_* variable: a folder or index set here
    (PIP_FIND_LINKS below, holding tqdm) cannot fill the gap."""
    project, out = tiny_course
    partial = tmp_path / "wheels"
    partial.mkdir()
    for wheel in out.glob("setuptools*"):
        (partial / wheel.name).write_bytes(wheel.read_bytes())
    monkeypatch.setenv("PIP_FIND_LINKS", str(out))
    with pytest.raises(wheelhouse.WheelhouseError, match=r"not enough for an offline install: .*tqdm==4.70.1"):
        wheelhouse.verify(partial, project / "requirements.txt", project)


def test_the_command_checks_a_folder_and_refuses_a_missing_one_in_one_line(tiny_course, tmp_path):
    done = subprocess.run([sys.executable, "-m", "course_tools.wheelhouse", "--check-only", "--out",
                           str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip() == f"error: no folder {tmp_path / 'nowhere'}"


def test_there_is_no_platform_option_since_pip_would_resolve_this_machines_markers():
    done = subprocess.run([sys.executable, "-m", "course_tools.wheelhouse", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--platform" not in done.stdout and "Traceback" not in done.stderr
    assert "cuda-bindings" in wheelhouse.__doc__


def test_the_whole_courses_wheelhouse_installs_offline(tmp_path):
    """requirements.txt as it is (about 1 GB of wheels, 16 s here: pip's cache serves them)."""
    out = tmp_path / "wheels"
    wheelhouse.download(out)
    assert not list(out.glob("course_lib*"))
    assert wheelhouse.verify(out) > len(wheelhouse._packages(ROOT / "requirements.txt"))
