"""``python -m aegis``: the ``aegis`` command line."""

from aegis.cli import main

if __name__ == "__main__":
    main()
