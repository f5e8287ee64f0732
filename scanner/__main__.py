"""``python -m scanner scan URL ...``: the same command ``cmp-server scan`` mounts."""

from .cli import main

if __name__ == "__main__":
    main()
