"""``python -m foodclf COMMAND ...``: the same as the ``foodclf`` command."""
from foodclf.cli import entry

entry()
