"""``python -m directindex``: the command-line shell."""

from directindex.cli import main

main()
