"""enqueue-bridge: Pub/Sub messages to Cloud Tasks (see README.md).

``main.py`` imports this package on the function's cold-start path: nothing is imported here.

The modules directly in this package are exactly what the function runs. The subpackages are
never imported by it (``tests/test_layout.py`` checks every deployed module's imports):
``bridge.publishing`` (the publisher library), ``bridge.cli`` (the ``bridge`` command) and
``bridge.stack`` (the local stack).
"""
