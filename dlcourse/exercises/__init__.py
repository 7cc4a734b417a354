"""Exercise checkers: run a learner's answer on test cases and say what is wrong.

A checker never raises, whatever it is handed: a wrong type or shape, NaN, or an
exception inside the learner's code all come back as a :class:`Feedback` that says which
input failed, what was expected against what came back, and a hint.

Usage in a chapter::

    from dlcourse.exercises import ch02
    ch02.check_sigmoid(my_sigmoid)

Hints come in stages: a nudge on the first failure, a more specific hint when you try again.
``progress()`` shows which exercises you have passed in this environment.
"""

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function, check_value
from dlcourse.exercises.tracking import progress, reset_progress

__all__ = ["Case", "Feedback", "Mistake", "check_function", "check_value", "progress", "reset_progress"]
