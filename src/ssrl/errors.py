"""The one exception type users see: a message that names the input at fault."""


class SsrlError(Exception):
    """A problem with the user's input or environment, printed as one line by the CLI."""


class DataError(SsrlError):
    """A data source that cannot be read: the message names the file and the problem."""


class DivergedError(SsrlError):
    """Training produced a non-finite loss, gradient or weight (``ssrl.divergence``)."""
