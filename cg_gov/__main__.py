"""``python -m cg_gov``: the same as the ``cg-gov`` command."""

from cg_gov.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
