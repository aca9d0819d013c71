"""The local stack: real emulators wired to the real ``main.py``, for ``make demo``, ``make up``
and the end-to-end tests.

Development tooling only: nothing here is imported by ``main.py`` or by the bridge's core modules,
and nothing here is deployed.

    procs.py                    start processes in their own group, poll readiness, stop by PID
    pubsub_rest.py              the Pub/Sub emulator's REST API, with urllib
    tasks_admin.py              queues and tasks on the Cloud Tasks emulator (official client)
    queue_policy.py             the queues' rate and retry settings, read from terraform/
    caller_check.py             Cloud Run's IAM in miniature: the OIDC token, audience, caller
    worker.py                   the recording worker standing in for the four services
    runner.py                   the Stack: starts, wires and stops all of the above
    outcomes.py                 what became of each published message (taps + the function's log)
    feed.py                     the taps on the stack's topics and the function's log, as they grow
    bridge_page.py              the bridge's page (messages, outcomes, replay) and demo's report
    page/                       its static HTML, JS and CSS
    demo.py                     ``make demo``: publishes real messages and prints a report
    __main__.py                 ``python -m bridge.stack demo|up``
"""
