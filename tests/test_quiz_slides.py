"""Quizzes (a tested widget that also works headless) and slide decks built from the chapters."""
from pathlib import Path

import nbformat
import pytest

import course_lib as cl
from course_tools import slides
from course_lib.quiz_questions import QUIZZES

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_every_chapter_has_a_quiz_of_three_to_five_questions_misconceptions_first():
    assert sorted(QUIZZES) == [p.name[:2] for p in NOTEBOOKS]
    for chapter, questions in QUIZZES.items():
        quiz = cl.quiz.for_chapter(chapter)
        assert 3 <= len(quiz.questions) <= 5, chapter
        assert quiz.questions[0].misconception, f"chapter {chapter}: put a misconception question first"
        flags = [q.misconception for q in quiz.questions]
        assert flags == sorted(flags, reverse=True), f"chapter {chapter}: misconception questions come first"
        for q in quiz.questions:
            assert len(q.options) >= 3 and 0 <= q.answer < len(q.options), q.prompt
            assert len(set(q.options)) == len(q.options) and len(q.explanation) > 30, q.prompt


# where each chapter's right answers land after the shuffle: the same on every machine and Python version
SHUFFLED_POSITIONS = {"00": [2, 1, 0, 0], "01": [2, 0, 1, 0], "02": [2, 1, 0, 2], "03": [0, 2, 1, 2], "04": [2, 1, 2],
                      "05": [2, 2, 0, 1], "06": [0, 2, 1], "07": [2, 1, 1, 0], "08": [2, 1, 2, 1], "09": [2, 0, 2, 0],
                      "10": [1, 2, 1, 2], "11": [1, 0, 1, 0]}


def test_the_right_answer_moves_between_positions_in_every_chapter():
    import math
    from collections import Counter
    assert sorted(SHUFFLED_POSITIONS) == sorted(QUIZZES)
    for chapter, authored in QUIZZES.items():
        shown = cl.quiz.for_chapter(chapter).questions
        positions = [q.answer for q in shown]
        assert len(set(positions)) > 1, f"chapter {chapter}: the right answer is always option {positions[0] + 1}"
        assert max(Counter(positions).values()) <= math.ceil(len(shown) / 2), chapter
        assert positions == SHUFFLED_POSITIONS[chapter], f"chapter {chapter}: the shuffle is not reproducible"
        assert [q.answer for q in cl.quiz.for_chapter(chapter).questions] == positions        # every call alike


def test_the_shuffle_keeps_each_question_and_its_right_answer():
    for chapter, authored in QUIZZES.items():
        for shown, written in zip(cl.quiz.for_chapter(chapter).questions, authored, strict=True):
            assert shown.options[shown.answer] == written["options"][written["answer"]], shown.prompt
            assert sorted(shown.options) == sorted(written["options"]), shown.prompt
            assert (shown.prompt, shown.explanation, shown.misconception) == \
                   (written["prompt"], written["explanation"], written.get("misconception", False))
    moved = sum(shown.options != tuple(written["options"])
                for chapter, authored in QUIZZES.items()
                for shown, written in zip(cl.quiz.for_chapter(chapter).questions, authored))
    assert moved >= len([q for qs in QUIZZES.values() for q in qs]) // 2


def test_an_option_about_the_others_stays_last():
    about_the_others = ("None of the above", "All of these", "both of them")
    questions = [dict(prompt=f"question {i}", options=("first", "second", "third", last), answer=i % 4,
                      explanation="an explanation long enough for the quiz's own rules") for i, last in
                 enumerate(about_the_others * 2)]
    for chapter in ("00", "07", "11"):
        shuffled = cl.quiz.shuffle_options(questions, chapter)
        for q, written in zip(shuffled, questions):
            assert q.options[-1] == written["options"][-1]
            assert q.options[q.answer] == written["options"][written["answer"]]
        assert any(q.options[:3] != ("first", "second", "third") for q in shuffled)


def test_answers_are_graded_with_their_explanation_headless():
    quiz = cl.quiz.for_chapter("02")
    right, text = quiz.answer(0, quiz.questions[0].answer)
    assert right and text.startswith("Right.") and quiz.questions[0].explanation in text
    wrong = next(i for i in range(len(quiz.questions[1].options)) if i != quiz.questions[1].answer)
    right, text = quiz.answer(1, wrong)
    assert not right and "Not quite" in text and quiz.questions[1].options[quiz.questions[1].answer] in text
    assert quiz.score == "1 of 4 right"


def test_the_widget_checks_a_picked_answer_and_asks_for_one_otherwise():
    quiz = cl.quiz.for_chapter("07")
    buttons = [c for c in quiz.children if getattr(c, "description", "") == "Check"]
    buttons[0].click()
    assert "pick an answer first" in quiz._feedback[0].value
    quiz._radios[0].value = quiz.questions[0].options[quiz.questions[0].answer]
    buttons[0].click()
    assert "Right." in quiz._feedback[0].value and quiz.results == {0: True}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_shows_its_quiz_and_carries_current_slide_metadata(path):
    nb = nbformat.read(path, as_version=4)
    assert any(f'cl.quiz.for_chapter("{path.name[:2]}")' in c.source for c in nb.cells if c.cell_type == "code")
    assert not slides.annotate(nb), "run python -m course_tools.slides after adding cells"


def test_a_chapter_becomes_a_slide_deck_without_its_solutions():
    from nbconvert import SlidesExporter
    nb = nbformat.read(NOTEBOOKS[2], as_version=4)
    body, _ = SlidesExporter().from_notebook_node(nb)
    sections = sum(c.source.lstrip().startswith("## ") for c in nb.cells if c.cell_type == "markdown")
    assert body.count("<section") >= sections + 1
    assert "reveal" in body.lower()
    assert "BEGIN SOLUTION" not in body and "merkle_root(leaves[:k])" not in body, "a solution reached the deck"


def test_the_teaching_section_gives_three_tracks_and_the_pack_covers_every_chapter():
    root = Path(__file__).parent.parent
    teaching = (root / "README.md").read_text().split("## Teaching with this course", 1)[1].split("\n## ", 1)[0]
    for track in ("**3-hour**", "**1-day**", "**2-day**"):
        assert track in teaching
    pack = (root / "instructor" / "README.md").read_text()
    for path in NOTEBOOKS:
        section = pack.split(f"### {path.name[:2]} — ", 1)
        assert len(section) == 2, f"the instructor pack has no section for chapter {path.name[:2]}"
        body = section[1].split("\n### ", 1)[0]
        assert body.count("\n- ") >= 3, f"chapter {path.name[:2]}: 2–3 prompts and the exercise walkthrough"
    from course_lib import check
    for name in [n for n in check.__all__ if n in check.REGISTRY]:   # not checks made up by other tests
        assert f"`{name}`" in pack, f"the instructor pack does not walk through {name}"


@pytest.mark.parametrize("name,chapter,must_show", [
    ("aes_gcm", "01", ["GHASH_H(AD, C1 C2 C3, lengths)", "counter J0+1", "tag"]),
    ("merkle_proof", "02", ["leaf 3", "n(0,1)", "leaf 4", "root"]),
    ("hybrid", "03", ["X25519(e, R)", "HKDF-SHA256", "AES-GCM"]),
    ("envelope", "04", ["data key DK\n(random, 32 bytes)", "added by re-wrap: collaborator"]),
    ("beaver", "07", ["opened: e = x − a, f = y − b\n(uniformly random: they reveal nothing)"]),
    ("carry_circuit", "07", ["g0 (AND)", "p3 (XOR)", "c4"]),
])
def test_each_protocol_diagram_is_drawn_by_code_where_its_protocol_is_taught(name, chapter, must_show):
    diagram = getattr(cl.diagrams, name)()
    assert diagram._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    assert repr(diagram).startswith("[diagram: ")
    for label in must_show:
        assert label in diagram.labels, label
    notebook = next(p for p in NOTEBOOKS if p.name.startswith(chapter))
    assert f"cl.diagrams.{name}()" in notebook.read_text()


def test_no_answer_position_holds_more_than_half_of_all_questions():
    from collections import Counter
    shown = [q.answer for chapter in QUIZZES for q in cl.quiz.for_chapter(chapter).questions]
    assert len(shown) == sum(len(questions) for questions in QUIZZES.values())
    assert max(Counter(shown).values()) <= len(shown) / 2, Counter(shown)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_question_marks_its_right_option_right_and_the_others_wrong(lang):
    from course_lib import i18n
    before = i18n._chosen
    i18n.set_language(lang)
    try:
        for chapter, authored in QUIZZES.items():
            quiz = cl.quiz.for_chapter(chapter)
            for index, (shown, written) in enumerate(zip(quiz.questions, authored, strict=True)):
                assert shown.options[shown.answer] == i18n.translate(written["options"][written["answer"]])
                for choice in range(len(shown.options)):
                    assert quiz.answer(index, choice)[0] == (choice == shown.answer), (lang, chapter, index, choice)
    finally:
        i18n.set_language(before)
