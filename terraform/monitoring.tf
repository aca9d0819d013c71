locals {
  function_names = concat(
    [google_cloudfunctions2_function.enqueue.name],
    [for f in google_cloudfunctions2_function.enqueue_http : f.name],
  )
  function_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(${join(" OR ", [for n in local.function_names : "\"${n}\""])})",
    "(${var.rejected_log_filter})",
  ])
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
    content   = "Messages are waiting in `${each.value}`. Read them with `gcloud pubsub subscriptions pull ${each.value} --project ${var.project_id} --limit 10` (see terraform/README.md, \"Reading the rejected and dead-letter subscriptions\")."
  }

  depends_on = [google_project_service.apis]
}
