# One dashboard for "is the bridge healthy, and where are my messages?": the bridge's own log-based
# metrics (monitoring.tf) next to Google's metrics for the queues, the subscriptions and the
# functions. tests/terraform/test_monitoring.py checks every metric type and label named here
# exists (google-metrics.json, from Google's metric lists).
locals {
  queue_filter = join(" AND ", [
    "resource.type=\"cloud_tasks_queue\"",
    "resource.label.location=\"${local.tasks_region}\"",
    "resource.label.queue_id=one_of(${join(", ", [for q in values(local.queue_ids) : "\"${q}\""])})",
  ])
  subscription_filter = join(" AND ", [
    "resource.type=\"pubsub_subscription\"",
    "resource.label.subscription_id=one_of(${join(", ", [for s in concat([google_pubsub_subscription.push.name], values(google_pubsub_subscription.operator)[*].name) : "\"${s}\""])})",
  ])
  function_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.label.service_name=one_of(${join(", ", [for n in local.function_names : "\"${n}\""])})",
  ])

  # How each chart aligns and reduces its series, by name. A chart with several names draws one
  # line per name, its legend prefixed with the name.
  aggregations = {
    sum = { perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM" } # per-minute counts of a DELTA metric
    max = { perSeriesAligner = "ALIGN_MAX", crossSeriesReducer = "REDUCE_MAX" } # a gauge's worst value
    p50 = { perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_50" }
    p99 = { perSeriesAligner = "ALIGN_DELTA", crossSeriesReducer = "REDUCE_PERCENTILE_99" }
  }
  log_metric_filter = { for k, type in local.log_metric_types : k => "metric.type=\"${type}\" AND resource.type=\"cloud_run_revision\"" }

  # One entry per chart, in the order shown; the legend names the labels grouped by.
  dashboard_charts = [
    {
      title  = "Messages by outcome and service (per minute)", plot = "STACKED_BAR", y = "messages / min", by = ["sum"]
      filter = local.log_metric_filter["messages"], group = ["metric.label.outcome", "metric.label.service"]
    },
    {
      title  = "Rejections by reason (per minute)", plot = "STACKED_BAR", y = "rejections / min", by = ["sum"]
      filter = local.log_metric_filter["rejections"], group = ["metric.label.reason"]
    },
    {
      title  = "Duplicates by task state (reserved: will not run)", plot = "STACKED_BAR", y = "duplicates / min", by = ["sum"]
      filter = local.log_metric_filter["duplicates"], group = ["metric.label.task_state", "metric.label.service"]
    },
    {
      title  = "Cloud Tasks queue depth per queue", plot = "LINE", y = "tasks", by = ["max"]
      filter = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND ${local.queue_filter}", group = ["resource.label.queue_id"]
    },
    {
      title  = "Task attempts by response code, per queue (per minute)", plot = "STACKED_BAR", y = "attempts / min", by = ["sum"]
      filter = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_count\" AND ${local.queue_filter}"
      group  = ["resource.label.queue_id", "metric.label.response_code"]
    },
    {
      title  = "CreateTask calls by response code, per queue (per minute)", plot = "STACKED_BAR", y = "calls / min", by = ["sum"]
      filter = "metric.type=\"cloudtasks.googleapis.com/api/request_count\" AND ${local.queue_filter} AND metric.label.api_method=\"CreateTask\""
      group  = ["resource.label.queue_id", "metric.label.response_code"]
    },
    {
      title  = "Undelivered messages: dead-letter, rejected and push subscriptions", plot = "LINE", y = "messages", by = ["max"]
      filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND ${local.subscription_filter}"
      group  = ["resource.label.subscription_id"]
    },
    {
      title  = "Oldest unacked message age per subscription", plot = "LINE", y = "seconds", by = ["max"]
      filter = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND ${local.subscription_filter}"
      group  = ["resource.label.subscription_id"]
    },
    {
      title  = "Function latency (p50, p99)", plot = "LINE", y = "ms", by = ["p50", "p99"]
      filter = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.function_filter}", group = ["resource.label.service_name"]
    },
    {
      title  = "Function requests by response code class (503: Pub/Sub redelivers)", plot = "STACKED_BAR", y = "requests / min", by = ["sum"]
      filter = "metric.type=\"run.googleapis.com/request_count\" AND ${local.function_filter}"
      group  = ["resource.label.service_name", "metric.label.response_code_class"]
    },
  ]

  dashboard_tiles = concat(
    [{
      width = 48, height = 6
      widget = {
        title = "How to read this dashboard"
        text = {
          format  = "MARKDOWN"
          content = "Each chart and each alert of this dashboard is explained, with what to do, in the module's terraform/README.md, section **Monitoring**. Messages waiting for an operator: `${google_pubsub_subscription.operator["rejected"].name}` and `${google_pubsub_subscription.operator["dead_letter"].name}`."
        }
      }
    }],
    [for c in local.dashboard_charts : {
      width = 24, height = 16
      widget = {
        title = c.title
        xyChart = {
          dataSets = [for name in c.by : {
            plotType = c.plot
            # "metric.label.outcome" is shown by the template "${metric.labels.outcome}".
            legendTemplate = join(" ", concat(
              length(c.by) > 1 ? [name] : [],
              [for g in c.group : "$${${replace(g, ".label.", ".labels.")}}"],
            ))
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = c.filter
                aggregation = merge(local.aggregations[name], { alignmentPeriod = "60s", groupByFields = c.group })
              }
            }
          }]
          yAxis = { label = c.y, scale = "LINEAR" }
        }
      }
    }],
  )

  # Two columns of 24 under the full-width text tile, in list order.
  dashboard = {
    displayName = "${var.name_prefix}: messages, queues, backlogs"
    labels      = var.labels
    mosaicLayout = {
      columns = 48
      tiles = [for i, t in local.dashboard_tiles : merge(t, {
        xPos = i == 0 ? 0 : ((i - 1) % 2) * 24
        yPos = i == 0 ? 0 : 6 + floor((i - 1) / 2) * 16
      })]
    }
  }
}

resource "google_monitoring_dashboard" "bridge" {
  project        = var.project_id
  dashboard_json = jsonencode(local.dashboard)

  depends_on = [google_project_service.apis]
}
