"""``python -m minimtl``: the same command group as ``python cli.py`` and the ``minimtl`` command."""

from minimtl.commands import main

if __name__ == "__main__":
    main()
