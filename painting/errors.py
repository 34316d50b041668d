"""The error of an option that cannot work, told apart from a failure while working:
the scripts exit with status 2 for it (the command line is wrong, running it again
will not help) and 1 for the rest."""


class UsageError(ValueError):
    """An option or argument that cannot work: an unknown style, a bad mask, weight,
    size or output path. A ValueError, so callers that catch those still do."""
