# Log-based metrics, dashboard and alerts, applied against mocked providers (offline: see
# terraform/README.md, "Tests"). tests/terraform/test_monitoring.py checks the same resources
# against Google's published metric list and the bridge's own log lines.

mock_provider "google" {
  source = "./tests/mocks/google"
}

mock_provider "archive" {}

variables {
  services = {
    brain = {
      url = "https://brain-abc-uc.a.run.app/process"
    }
    testimonios = {
      url        = "https://testimonios-abc-uc.a.run.app/generate-testimony"
      env_suffix = "TESTI"
    }
    regresos = {
      url          = "https://regresos-123.us-central1.run.app/process"
      queue        = "queue-regresos-old"
      create_queue = false
    }
  }
}

run "monitoring" {
  command = apply

  # Log-based metrics: one per question, on both functions' Cloud Run services, labels extracted
  # from the JSON fields of the same name.
  assert {
    condition     = { for k, m in google_logging_metric.bridge : k => m.name } == { messages = "enqueue-bridge/messages", rejections = "enqueue-bridge/rejections", duplicates = "enqueue-bridge/duplicates" }
    error_message = "Expected the messages, rejections and duplicates log-based metrics, named under name_prefix."
  }
  assert {
    condition     = alltrue([for m in google_logging_metric.bridge : startswith(m.filter, "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"enqueue-bridge\" OR \"enqueue-bridge-http\") AND ")])
    error_message = "Every log-based metric must count only the two functions' Cloud Run services."
  }
  assert {
    condition     = endswith(google_logging_metric.bridge["messages"].filter, " AND jsonPayload.outcome=(\"created\" OR \"duplicate\" OR \"rejected\" OR \"retry\")") && endswith(google_logging_metric.bridge["rejections"].filter, " AND jsonPayload.outcome=\"rejected\"") && endswith(google_logging_metric.bridge["duplicates"].filter, " AND jsonPayload.outcome=\"duplicate\"")
    error_message = "Each log-based metric must select its outcome(s)."
  }
  assert {
    condition = {
      for k, m in google_logging_metric.bridge : k => m.label_extractors
      } == {
      messages   = tomap({ outcome = "EXTRACT(jsonPayload.outcome)", service = "EXTRACT(jsonPayload.service)" })
      rejections = tomap({ reason = "EXTRACT(jsonPayload.reason)", service = "EXTRACT(jsonPayload.service)" })
      duplicates = tomap({ task_state = "EXTRACT(jsonPayload.task_state)", service = "EXTRACT(jsonPayload.service)" })
    }
    error_message = "Labels must be extracted from the bridge's JSON fields: outcome, service, reason, task_state."
  }
  assert {
    condition     = alltrue([for m in google_logging_metric.bridge : m.metric_descriptor[0].metric_kind == "DELTA" && m.metric_descriptor[0].value_type == "INT64" && toset([for l in m.metric_descriptor[0].labels : l.key]) == toset(keys(m.label_extractors)) && alltrue([for l in m.metric_descriptor[0].labels : l.value_type == "STRING"])])
    error_message = "Each log-based metric must be a DELTA INT64 counter declaring exactly the labels it extracts."
  }
  assert {
    condition     = output.log_metrics == { messages = "logging.googleapis.com/user/enqueue-bridge/messages", rejections = "logging.googleapis.com/user/enqueue-bridge/rejections", duplicates = "logging.googleapis.com/user/enqueue-bridge/duplicates" }
    error_message = "The module must report the metric types Monitoring knows the log-based metrics by."
  }

  # The dashboard: every chart the issue asks for, on the module's own metrics and resources.
  assert {
    condition = toset([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : t.widget.title]) == toset([
      "How to read this dashboard",
      "Messages by outcome and service (per minute)",
      "Rejections by reason (per minute)",
      "Duplicates by task state (reserved: will not run)",
      "Cloud Tasks queue depth per queue",
      "Task attempts by response code, per queue (per minute)",
      "CreateTask calls by response code, per queue (per minute)",
      "Undelivered messages: dead-letter, rejected and push subscriptions",
      "Oldest unacked message age per subscription",
      "Function latency (p50, p99)",
      "Function requests by response code class (503: Pub/Sub redelivers)",
    ])
    error_message = "The dashboard must chart outcomes, rejections, duplicates, queue depth, attempts, backlogs and latency."
  }
  assert {
    condition     = alltrue([for k, t in output.log_metrics : anytrue([for f in flatten([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : [for d in try(t.widget.xyChart.dataSets, []) : d.timeSeriesQuery.timeSeriesFilter.filter]]) : strcontains(f, "metric.type=\"${t}\" AND resource.type=\"cloud_run_revision\"")])])
    error_message = "The dashboard must chart each log-based metric."
  }
  assert {
    condition     = anytrue([for f in flatten([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : [for d in try(t.widget.xyChart.dataSets, []) : d.timeSeriesQuery.timeSeriesFilter.filter]]) : strcontains(f, "resource.label.queue_id=one_of(\"queue-brain\", \"queue-regresos-old\", \"queue-testimonios\")")])
    error_message = "The queue charts must cover every queue, adopted ones included."
  }
  assert {
    condition     = anytrue([for f in flatten([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : [for d in try(t.widget.xyChart.dataSets, []) : d.timeSeriesQuery.timeSeriesFilter.filter]]) : strcontains(f, "resource.label.subscription_id=one_of(\"enqueue-requests-push\", \"enqueue-requests-dead-letter-operator\", \"enqueue-requests-rejected-operator\")")])
    error_message = "The backlog charts must cover the push, dead-letter and rejected subscriptions."
  }
  assert {
    condition     = anytrue([for f in flatten([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : [for d in try(t.widget.xyChart.dataSets, []) : d.timeSeriesQuery.timeSeriesFilter.filter]]) : strcontains(f, "resource.label.service_name=one_of(\"enqueue-bridge\", \"enqueue-bridge-http\")")])
    error_message = "The latency charts must cover both functions."
  }
  assert {
    condition     = alltrue([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : t.xPos + t.width <= 48])
    error_message = "Every tile must fit the 48-column grid."
  }

  # Alerts.
  assert {
    condition     = google_monitoring_alert_policy.reserved_duplicate.conditions[0].condition_threshold[0].filter == "metric.type=\"logging.googleapis.com/user/enqueue-bridge/duplicates\" AND resource.type=\"cloud_run_revision\" AND metric.label.task_state=\"reserved\"" && google_monitoring_alert_policy.reserved_duplicate.conditions[0].condition_threshold[0].threshold_value == 0 && google_monitoring_alert_policy.reserved_duplicate.conditions[0].condition_threshold[0].duration == "0s"
    error_message = "A single reserved duplicate must open the alert at once."
  }
  assert {
    condition     = strcontains(google_monitoring_alert_policy.rejection_rate.conditions[0].condition_threshold[0].filter, "metric.label.outcome=\"rejected\"") && strcontains(google_monitoring_alert_policy.rejection_rate.conditions[0].condition_threshold[0].denominator_filter, "metric.label.outcome=one_of(\"created\", \"duplicate\", \"rejected\")") && google_monitoring_alert_policy.rejection_rate.conditions[0].condition_threshold[0].threshold_value == 0.05
    error_message = "The rejection-rate alert must compare rejected with decided messages against alert_rejection_ratio."
  }
  assert {
    condition     = google_monitoring_alert_policy.rejection_rate.display_name == "enqueue-bridge: share of rejected messages above 5%"
    error_message = "The rejection-rate alert must name its threshold as a percentage."
  }
  assert {
    condition     = keys(google_monitoring_alert_policy.queue_growing) == ["brain", "regresos", "testimonios"] && alltrue([for k, p in google_monitoring_alert_policy.queue_growing : p.combiner == "AND_WITH_MATCHING_RESOURCE" && alltrue([for c in p.conditions : strcontains(c.condition_threshold[0].filter, "resource.label.queue_id=\"${local.queue_ids[k]}\"") && c.condition_threshold[0].duration == "900s"])])
    error_message = "Each queue, adopted ones included, must have its growth alert over alert_queue_growth_duration."
  }
  assert {
    condition     = alltrue([for p in google_monitoring_alert_policy.queue_growing : p.conditions[0].condition_threshold[0].aggregations[0].per_series_aligner == "ALIGN_PERCENT_CHANGE" && p.conditions[1].condition_threshold[0].threshold_value == 10])
    error_message = "Growth is a positive percent change while the depth is above alert_queue_depth_min."
  }
  assert {
    condition     = google_monitoring_alert_policy.undelivered["dead_letter"].conditions[0].condition_threshold[0].filter == "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"enqueue-requests-dead-letter-operator\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
    error_message = "The dead-letter backlog alert must watch the dead-letter operator subscription."
  }
}

run "without_http_function" {
  command = apply

  variables {
    enable_http_function        = false
    name_prefix                 = "bridge"
    alert_rejection_ratio       = 0.2
    alert_queue_growth_duration = "1800s"
    alert_queue_depth_min       = 100
  }

  assert {
    condition     = alltrue([for m in google_logging_metric.bridge : startswith(m.filter, "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(\"bridge\") AND ")])
    error_message = "Without the HTTP function the metrics count the Pub/Sub function only."
  }
  assert {
    condition     = anytrue([for f in flatten([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : [for d in try(t.widget.xyChart.dataSets, []) : d.timeSeriesQuery.timeSeriesFilter.filter]]) : strcontains(f, "resource.label.service_name=one_of(\"bridge\")")]) && anytrue([for f in flatten([for t in jsondecode(google_monitoring_dashboard.bridge.dashboard_json).mosaicLayout.tiles : [for d in try(t.widget.xyChart.dataSets, []) : d.timeSeriesQuery.timeSeriesFilter.filter]]) : strcontains(f, "logging.googleapis.com/user/bridge/messages")])
    error_message = "The dashboard must follow name_prefix and the functions deployed."
  }
  assert {
    condition     = google_monitoring_alert_policy.rejection_rate.conditions[0].condition_threshold[0].threshold_value == 0.2 && alltrue([for p in google_monitoring_alert_policy.queue_growing : p.conditions[0].condition_threshold[0].duration == "1800s" && p.conditions[1].condition_threshold[0].threshold_value == 100])
    error_message = "The alert thresholds must follow their variables."
  }
}

run "refuses_a_window_not_in_minutes" {
  command = plan

  variables {
    alert_rejection_window = "90s"
  }

  expect_failures = [var.alert_rejection_window]
}

run "refuses_a_ratio_above_one" {
  command = plan

  variables {
    alert_rejection_ratio = 5
  }

  expect_failures = [var.alert_rejection_ratio]
}
