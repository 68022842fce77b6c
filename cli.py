"""Command line of minimtl: ``python cli.py --help``.

The commands themselves live in :mod:`minimtl.commands`; this file is only the entry point
so that ``python cli.py run --arch multitask64`` works from the repository root.
"""

from minimtl.commands import main

if __name__ == "__main__":
    main()
