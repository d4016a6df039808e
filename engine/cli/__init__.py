"""The `sonolume` command. Each module here that defines ``register(subparsers)`` adds
its sub-commands; main.py finds them, so features land without editing a central list."""
