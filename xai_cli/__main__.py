"""Entry point for ``python -m xai_cli``."""

from xai_cli.cli import main

if __name__ == "__main__":
    main()
