"""A faithful local Cloud Tasks emulator for HTTP targets (gRPC and REST, see README.md).

Self-contained: it imports nothing from ``bridge``. Start it with ``python -m tasks_emulator``.
"""
