"""Exercise checkers: run a learner's answer on test cases and say what is wrong.

A checker never raises, whatever it is handed: a wrong type or shape, NaN, or an
exception inside the learner's code all come back as a :class:`Feedback` that says which
input failed, what was expected against what came back, and a hint.

Usage in a chapter::

    from dlcourse.exercises import ch02
    ch02.check_sigmoid(my_sigmoid)
"""

from dlcourse.exercises.core import Case, Feedback, Mistake, check_function, check_value

__all__ = ["Case", "Feedback", "Mistake", "check_function", "check_value"]
