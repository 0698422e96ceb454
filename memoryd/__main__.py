"""``python -m memoryd`` runs the command-line interface."""

from memoryd.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
