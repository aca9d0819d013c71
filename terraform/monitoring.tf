locals {
  function_names = [for f in google_cloudfunctions2_function.bridge : f.name] # enqueue, then enqueue_http
  # Both functions' log entries: a Cloud Run functions (2nd gen) function logs as the Cloud Run
  # service of the same name.
  function_resource_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(${join(" OR ", [for n in local.function_names : "\"${n}\""])})",
  ])
  function_log_filter = "${local.function_resource_filter} AND (${var.rejected_log_filter})"

  # Log-based metrics over the bridge's one JSON line per message (bridge/logs.py): Cloud Run puts
  # its fields in jsonPayload. Each label is extracted from the field of the same name;
  # tests/terraform/test_monitoring.py checks every one is a field the bridge writes.
  log_metrics = {
    messages = {
      display_name = "enqueue-bridge messages by outcome"
      description  = "Every message (Pub/Sub) or request (POST /enqueue) the bridge decided, by outcome and service. retry counts each failed delivery, so one message can count several times."
      filter       = "jsonPayload.outcome=(\"created\" OR \"duplicate\" OR \"rejected\" OR \"retry\")"
      labels = {
        outcome = "created, duplicate, rejected or retry."
        service = "The envelope's service (empty when the message could not be read that far)."
      }
    }
    rejections = {
      display_name = "enqueue-bridge rejections by reason"
      description  = "Messages the bridge rejected (published to the rejected topic, or refused with 4xx on POST /enqueue), by reason code."
      filter       = "jsonPayload.outcome=\"rejected\""
      labels = {
        reason  = "The stable rejection code (bridge.errors.Reason, the bridge_reason attribute)."
        service = "The envelope's service, when the message was read that far."
      }
    }
    duplicates = {
      display_name = "enqueue-bridge duplicates by task state"
      description  = "Messages whose task already existed, by what the earlier task is: pending (still queued: fine) or reserved (it already ran or was deleted: this message will not run)."
      filter       = "jsonPayload.outcome=\"duplicate\""
      labels = {
        task_state = "pending or reserved (from the bridge's GetTask after ALREADY_EXISTS)."
        service    = "The envelope's service."
      }
    }
  }

  log_metric_types = { for k, m in google_logging_metric.bridge : k => "logging.googleapis.com/user/${m.name}" }
}

resource "google_logging_metric" "rejected_or_retried" {
  project     = var.project_id
  name        = "${var.name_prefix}/rejected_or_retried"
  description = "Messages the bridge rejected (sent to the rejected topic) or left for Pub/Sub to redeliver."
  filter      = local.function_log_filter

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "enqueue-bridge rejected or retried messages"
  }

  depends_on = [google_project_service.apis]
}

resource "google_logging_metric" "bridge" {
  for_each = local.log_metrics

  project          = var.project_id
  name             = "${var.name_prefix}/${each.key}"
  description      = each.value.description
  filter           = "${local.function_resource_filter} AND ${each.value.filter}"
  label_extractors = { for key in keys(each.value.labels) : key => "EXTRACT(jsonPayload.${key})" }

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = each.value.display_name

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_monitoring_alert_policy" "undelivered" {
  for_each = {
    dead_letter = google_pubsub_subscription.operator["dead_letter"].name
    rejected    = google_pubsub_subscription.operator["rejected"].name
  }

  project               = var.project_id
  display_name          = "enqueue-bridge: messages waiting in ${each.value}"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "${each.value} holds undelivered messages"

    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${each.value}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = var.alert_undelivered_duration

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages are waiting in `${each.value}`. List them with their reasons, consuming none: `bridge replay --subscription ${each.value} --project ${var.project_id}`; for one request, `bridge status --service S --key K --look-in rejected,dead-letter`. Fix the cause, then replay them (see terraform/README.md, \"Reading the rejected and dead-letter subscriptions\")."
  }

  depends_on = [google_project_service.apis]
}

# A reserved duplicate is work that silently will not run: the same key was published again after
# its task ran (or was deleted) inside Cloud Tasks' name-reservation window. One is enough to tell.
resource "google_monitoring_alert_policy" "reserved_duplicate" {
  project               = var.project_id
  display_name          = "enqueue-bridge: a duplicate key will not run (reserved task name)"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "duplicate with task_state reserved"

    condition_threshold {
      filter                  = "metric.type=\"${local.log_metric_types["duplicates"]}\" AND resource.type=\"cloud_run_revision\" AND metric.label.task_state=\"reserved\""
      comparison              = "COMPARISON_GT"
      threshold_value         = 0
      duration                = "0s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE" # no new duplicate: close

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.service"]
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    subject   = "enqueue-bridge: a re-published key will not run"
    content   = "A message reused an idempotency key whose task already ran or was deleted within Cloud Tasks' name-reservation window (about an hour, up to 24 h): the bridge acked it and **its work will not run**. Find it with `gcloud logging read 'jsonPayload.outcome=\"duplicate\" AND jsonPayload.task_state=\"reserved\"' --project ${var.project_id} --freshness 1h` (`bridge status --service S --key K` says the task ran recently), then ask the publisher: to run the work again on purpose, publish with a new key (terraform/README.md, \"Monitoring\")."
  }
}

# A share of rejected messages, not a count: a publisher sending a malformed or unknown-service
# envelope shows up whatever the traffic. Every rejected message also waits in the rejected
# subscription (the undelivered alert above); this one says the share is abnormal.
resource "google_monitoring_alert_policy" "rejection_rate" {
  project               = var.project_id
  display_name          = "enqueue-bridge: share of rejected messages above ${var.alert_rejection_ratio * 100}%"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "rejected / decided messages over ${var.alert_rejection_window}"

    condition_threshold {
      filter             = "metric.type=\"${local.log_metric_types["messages"]}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome=\"rejected\""
      denominator_filter = "metric.type=\"${local.log_metric_types["messages"]}\" AND resource.type=\"cloud_run_revision\" AND metric.label.outcome=one_of(\"created\", \"duplicate\", \"rejected\")"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_rejection_ratio
      duration           = "0s"
      # No traffic (no ratio) closes the incident instead of keeping it open.
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"

      aggregations {
        alignment_period     = var.alert_rejection_window
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = var.alert_rejection_window
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "More than ${var.alert_rejection_ratio * 100}% of the messages decided over ${var.alert_rejection_window} were rejected. The dashboard's \"Rejections by reason\" says why; the messages wait in `${google_pubsub_subscription.operator["rejected"].name}` with their `bridge_reason`. Fix the publisher (or the services map, for `unknown_service`), then replay them (terraform/README.md, \"Monitoring\")."
  }
}

# Queue depth growing for N minutes while above a floor: the workers (or their quota) do not keep
# up, or the queue is paused. ALIGN_PERCENT_CHANGE compares a 10-minute moving mean with its value
# one alignment period earlier; the depth condition keeps a queue going from 0 to 2 quiet.
resource "google_monitoring_alert_policy" "queue_growing" {
  for_each = local.queue_ids

  project               = var.project_id
  display_name          = "enqueue-bridge: ${each.value} keeps growing"
  combiner              = "AND_WITH_MATCHING_RESOURCE"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "${each.value} depth rising for ${var.alert_queue_growth_duration}"

    condition_threshold {
      filter          = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND resource.type=\"cloud_tasks_queue\" AND resource.label.location=\"${local.tasks_region}\" AND resource.label.queue_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = var.alert_queue_growth_duration

      aggregations {
        alignment_period   = "600s"
        per_series_aligner = "ALIGN_PERCENT_CHANGE"
      }
    }
  }

  conditions {
    display_name = "${each.value} holds more than ${var.alert_queue_depth_min} tasks"

    condition_threshold {
      filter          = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND resource.type=\"cloud_tasks_queue\" AND resource.label.location=\"${local.tasks_region}\" AND resource.label.queue_id=\"${each.value}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_queue_depth_min
      duration        = var.alert_queue_growth_duration

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "`${each.value}` has held more than ${var.alert_queue_depth_min} tasks and kept growing for ${var.alert_queue_growth_duration}. Check the dashboard's \"Task attempts by response code\" (a worker answering 5xx or 429 is retried, not drained), `gcloud tasks queues describe ${each.value} --location ${local.tasks_region} --project ${var.project_id}` (state PAUSED?) and `bridge queues` (terraform/README.md, \"Monitoring\")."
  }

  depends_on = [google_project_service.apis]
}
