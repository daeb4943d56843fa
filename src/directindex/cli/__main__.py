"""``python -m directindex.cli``: the command-line shell."""

from directindex.cli import main

main()
