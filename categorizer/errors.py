"""The one base of every error that means the caller's input is wrong.

Library code raises a subclass of `InputError` for a bad file, row, column, option, field,
bundle, taxonomy, config or registry, naming what was wrong and what was expected. The two
translation layers then need no list of error types: the CLI (`categorizer.cli.common`) exits
with code 2 on any of them, the service (`serving.errors`) answers 400. Anything else is our
failure (exit 1, HTTP 500).
"""


class InputError(ValueError):
    """Bad input, with a message that says where and what was expected.

    A `ValueError`, so code that catches ValueError (or a subclass it already knew) keeps
    working.
    """
