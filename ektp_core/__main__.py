"""``python -m ektp_core``: the ``ektp`` command, where the console script is not on PATH."""

from ektp_core.cli import main

main()
