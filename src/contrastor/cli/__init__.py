"""The ``contrastor`` command line."""
