"""Every number the bridge is bounded by, each defined once, with where it comes from.

Google's limits first (Pub/Sub, Cloud Tasks), then our own defaults and bounds. Everything else
imports them; ``tests/test_limits.py`` fails on a copy of one of these numbers elsewhere.
"""

from __future__ import annotations

# -- Pub/Sub: https://cloud.google.com/pubsub/quotas#resource_limits ---------------------------
# "10 MB" per publish request and per message: read as decimal (the smaller reading), and counted
# as the serialized request (rejections.message_size), so nothing we publish can be refused.
MAX_REQUEST_BYTES = 10_000_000
MAX_REQUEST_MESSAGES = 1000  # messages in one publish request
MAX_ATTRIBUTES = 100  # attributes on one message
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
MAX_ACK_DEADLINE_S = 600  # the longest lease a pull subscriber can ask for (ModifyAckDeadline)
# Ours: room left in a request for the topic path (at most ~300 bytes) and the request's framing,
# so one message of this size always fits one publish request.
TOPIC_PATH_MARGIN_BYTES = 400
MAX_MESSAGE_BYTES = MAX_REQUEST_BYTES - TOPIC_PATH_MARGIN_BYTES

# -- Cloud Tasks: https://cloud.google.com/tasks/docs/quotas, tasks v2 proto comments -----------
MIN_DEADLINE_S, MAX_DEADLINE_S = 15, 1800  # dispatch_deadline range for HTTP targets
MAX_DELAY_S = 30 * 24 * 3600  # schedule_time at most 30 days ahead
MAX_TASK_BYTES = 1_000_000  # task size, 1 MB (the CreateTask proto comment still says 100 KB)
MAX_URL_CHARS = 2083  # HTTP target URL
MAX_QUEUE_ID_CHARS = 100  # queue id: [A-Za-z0-9-]{1,100}
MAX_LIST_TASKS_PAGE = 1000  # ListTasks page_size, at most

# -- Our own defaults and bounds ----------------------------------------------------------------
DEFAULT_DEADLINE_S = 900  # what the old enqueuer used when a service named none
DEFAULT_MAX_BODY_BYTES = MAX_TASK_BYTES  # MAX_BODY_BYTES: what a worker receives, at most
MIN_MAX_BODY_BYTES = 2  # "{}"
MAX_MAX_BODY_BYTES = MAX_REQUEST_BYTES  # no larger body can arrive through Pub/Sub
# TASKS_TIMEOUT_S (one CreateTask call) and PUBLISH_TIMEOUT_S (one rejection publish): well under
# any push ack deadline Terraform allows (at least 3 x TASKS_TIMEOUT_S, default 60 s;
# docs/configuration.md, "Configuration"), so both fit in one push request before Pub/Sub gives
# up on it.
DEFAULT_TASKS_TIMEOUT_S = 10.0
DEFAULT_PUBLISH_TIMEOUT_S = 10.0
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1.0, 300.0
MAX_KEY_CHARS = 500  # idempotency_key (hashed into the task id, so any length would do)
MAX_MESSAGE_ID_CHARS = 500  # a message id kept in logs, headers and bridge_message_id
MAX_ORIGIN_ID_DIGITS = 64  # bridge_origin_message_id: a Pub/Sub message id (decimal digits)
MAX_CLOCK_SKEW_S = 300  # a publish time further ahead is not skew but a lie
SHORT_ERROR_BYTES = 200  # what is left of bridge_error when a rejection is near the size limit
RETRY_AFTER_S = 5  # POST /enqueue's Retry-After when Cloud Tasks is unavailable

# -- The bridge command (bridge/cli/) ----------------------------------------------------------
CLI_TIMEOUT_S = 60.0  # --timeout-s: one Pub/Sub request
REPLAY_MAX_MESSAGES = 1000  # --max
REPLAY_WAIT_S = 5.0  # --wait-s
REPLAY_PULL_MESSAGES = 100  # messages asked for in one pull
ACK_IDS_PER_REQUEST = 1000  # ack ids in one acknowledge / modifyAckDeadline request
STATUS_MAX_SCAN = 1000  # bridge status --max-scan: messages read per operator subscription
QUEUES_MAX_COUNT = 10_000  # bridge queues --max-count: tasks counted per queue
