"""The local stack: real emulators wired to the real ``main.py``, for ``make demo``, ``make up``
and the end-to-end tests.

Development tooling only: nothing here is imported by ``main.py`` or by the bridge's core modules,
and nothing here is deployed.

    procs.py                    start processes in their own group, poll readiness, stop by PID
    pubsub_rest.py              the Pub/Sub emulator's REST API, with urllib
    tasks_admin.py              list/pause/resume queues on the Cloud Tasks emulator (insecure gRPC)
    tasks_emulator_loopback.py  runs gcloud-tasks-emulator bound to 127.0.0.1 (its own virtualenv)
    worker.py                   the recording worker standing in for the four services
    runner.py                   the Stack: starts, wires and stops all of the above
    demo.py                     ``make demo``: publishes real messages and prints a report
    __main__.py                 ``python -m bridge.stack demo|up``
"""
