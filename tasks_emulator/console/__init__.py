"""A console for people: the emulator's queues and tasks in a browser, under ``/console``.

``app`` serves it (a page of static files, JSON endpoints, and actions through the service);
``views`` and ``task_detail`` read the store; ``actions`` are the buttons; ``guard`` decides who
may use it. It is never on the dispatch path: it only reads the store, and acts through the same
service methods as the RPCs.
"""

from tasks_emulator.console.app import PREFIX, Console, mount

__all__ = ["PREFIX", "Console", "mount"]
