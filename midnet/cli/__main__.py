"""``python -m midnet.cli``: the same as the ``midnet`` command."""

from . import main

main()
