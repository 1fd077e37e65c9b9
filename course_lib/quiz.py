"""End-of-chapter quizzes: a few multiple-choice questions, each with an explanation (all chapters).

``cl.quiz.for_chapter("02")`` shows the chapter's quiz as a widget: pick an answer, press
*Check*, read why. The same object answers without a browser (``quiz.answer(i, choice)``), which
is how the tests drive it. Misconception questions come first.

``quiz_questions`` lists each question's options as written, right answer included; ``for_chapter``
shows them in an order shuffled once per chapter (:func:`shuffle_options`), the same on every
machine, so the right answer does not sit at one position.

Questions, options and explanations are shown in the course's language (``COURSE_LANG``,
``course_lib.i18n``): the order is drawn on the English, then each text is translated.
"""
from __future__ import annotations

import html
import math
import random
import re
from collections import Counter
from dataclasses import dataclass

import ipywidgets as w

from .i18n import tr, translate
from .quiz_questions import QUIZZES


__all__ = ["Question", "Quiz", "shuffle_options", "for_chapter"]


@dataclass(frozen=True)
class Question:
    prompt: str
    options: tuple[str, ...]
    answer: int                 # index into options
    explanation: str
    misconception: bool = False


class Quiz(w.VBox):
    """A list of questions as radio buttons with a *Check* button and an explanation each."""

    def __init__(self, questions, title: str = "Quiz"):
        self.questions = [_translated(q if isinstance(q, Question) else Question(**q)) for q in questions]
        title = translate(title)
        self.results: dict[int, bool] = {}
        self._radios, self._feedback, rows = [], [], [w.HTML(f"<b>{html.escape(title)}</b>")]
        for index, question in enumerate(self.questions):
            radio = w.RadioButtons(options=list(question.options), value=None, layout=w.Layout(width="auto"))
            button = w.Button(description=tr("Check"), button_style="info")
            feedback = w.HTML()
            button.on_click(lambda _, i=index: self._check(i))
            self._radios.append(radio)
            self._feedback.append(feedback)
            rows += [w.HTML(f"<p><b>{index + 1}.</b> {html.escape(question.prompt)}</p>"), radio, button, feedback]
        super().__init__(rows)

    def answer(self, index: int, choice: int) -> tuple[bool, str]:
        """Answer question ``index`` with option ``choice``; returns (right?, the explanation)."""
        question = self.questions[index]
        right = choice == question.answer
        self.results[index] = right
        verdict = tr("Right.") if right else tr("Not quite: the answer is “{answer}”.",
                                                 answer=question.options[question.answer])
        return right, f"{verdict} {question.explanation}"

    @property
    def score(self) -> str:
        return tr("{right} of {total} right", right=sum(self.results.values()), total=len(self.questions))

    def _check(self, index: int) -> None:
        radio = self._radios[index]
        if radio.value is None:
            self._feedback[index].value = f"<i>{html.escape(tr('pick an answer first'))}</i>"
            return
        right, text = self.answer(index, radio.options.index(radio.value))
        colour = "#e6f4ea" if right else "#fce8e6"
        self._feedback[index].value = (f"<div style='background:{colour};padding:4px 8px;border-radius:4px'>"
                                       f"{html.escape(text)}</div>")

    def __repr__(self) -> str:   # what a saved notebook shows without the widget
        return "\n".join(f"{i + 1}. {q.prompt}\n" + "\n".join(f"   ( ) {option}" for option in q.options)
                         for i, q in enumerate(self.questions))


def _translated(q: Question) -> Question:
    return Question(translate(q.prompt), tuple(translate(o) for o in q.options), q.answer, translate(q.explanation),
                    q.misconception)


# options that speak about the others ("none of the above", "all of these") keep their place at the end
_ABOUT_THE_OTHERS = re.compile(r"\b(none|all|both|neither) of (the )?(above|these|them|the others)\b", re.IGNORECASE)


def _permutation(count: int, rng: random.Random) -> list[int]:
    """A Fisher–Yates shuffle of range(count) drawn with rng.random() alone: Python keeps random()'s sequence
    for a given seed across versions and machines, and does not promise that for shuffle()."""
    order = list(range(count))
    for i in range(count - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def shuffle_options(questions, chapter: str) -> list[Question]:
    """``questions`` with each one's options reordered, the same way on every run (seed "quiz <chapter>").

    Each question keeps its right answer (``answer`` follows it); an option like "none of the above" stays
    last. Orders are drawn until no answer position holds more than half of the chapter's questions.
    """
    questions = [q if isinstance(q, Question) else Question(**q) for q in questions]
    rng = random.Random(f"quiz {chapter}")
    for _ in range(1000):                   # ends early; the bound holds only for quizzes that cannot vary
        shuffled = []
        for q in questions:
            last = [i for i, option in enumerate(q.options) if _ABOUT_THE_OTHERS.search(option)]
            movable = [i for i in range(len(q.options)) if i not in last]
            order = [movable[k] for k in _permutation(len(movable), rng)] + last
            shuffled.append(Question(q.prompt, tuple(q.options[i] for i in order), order.index(q.answer),
                                     q.explanation, q.misconception))
        positions = Counter(q.answer for q in shuffled)
        if len(questions) < 2 or max(positions.values()) <= math.ceil(len(questions) / 2):
            break
    return shuffled


def for_chapter(chapter: str) -> Quiz:
    """The quiz of chapter ``chapter`` ("00" … "11"), its options in the chapter's shuffled order."""
    return Quiz(shuffle_options(QUIZZES[chapter], chapter), title=tr("Quiz — chapter {chapter}", chapter=chapter))
