"""End-of-chapter quizzes: a few multiple-choice questions, each with an explanation (all chapters).

``cl.quiz.for_chapter("02")`` shows the chapter's quiz as a widget: pick an answer, press
*Check*, read why. The same object answers without a browser (``quiz.answer(i, choice)``), which
is how the tests drive it. Misconception questions come first.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as w

from .quiz_questions import QUIZZES


__all__ = ["Question", "Quiz", "for_chapter"]


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
        self.questions = [q if isinstance(q, Question) else Question(**q) for q in questions]
        self.results: dict[int, bool] = {}
        self._radios, self._feedback, rows = [], [], [w.HTML(f"<b>{html.escape(title)}</b>")]
        for index, question in enumerate(self.questions):
            radio = w.RadioButtons(options=list(question.options), value=None, layout=w.Layout(width="auto"))
            button = w.Button(description="Check", button_style="info")
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
        verdict = "Right." if right else f"Not quite: the answer is “{question.options[question.answer]}”."
        return right, f"{verdict} {question.explanation}"

    @property
    def score(self) -> str:
        return f"{sum(self.results.values())} of {len(self.questions)} right"

    def _check(self, index: int) -> None:
        radio = self._radios[index]
        if radio.value is None:
            self._feedback[index].value = "<i>pick an answer first</i>"
            return
        right, text = self.answer(index, radio.options.index(radio.value))
        colour = "#e6f4ea" if right else "#fce8e6"
        self._feedback[index].value = (f"<div style='background:{colour};padding:4px 8px;border-radius:4px'>"
                                       f"{html.escape(text)}</div>")

    def __repr__(self) -> str:   # what a saved notebook shows without the widget
        return "\n".join(f"{i + 1}. {q.prompt}\n" + "\n".join(f"   ( ) {option}" for option in q.options)
                         for i, q in enumerate(self.questions))


def for_chapter(chapter: str) -> Quiz:
    """The quiz of chapter ``chapter`` ("00" … "08")."""
    return Quiz(QUIZZES[chapter], title=f"Quiz — chapter {chapter}")
