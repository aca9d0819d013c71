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

  # Per-minute counts of a DELTA metric, summed into one series per group.
  per_minute = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_SUM", crossSeriesReducer = "REDUCE_SUM" }

  dashboard_tiles = [
    {
      width = 48, height = 6
      widget = {
        title = "How to read this dashboard"
        text = {
          format  = "MARKDOWN"
          content = "Each chart and each alert of this dashboard is explained, with what to do, in the module's terraform/README.md, section **Monitoring**. Messages waiting for an operator: `${google_pubsub_subscription.operator["rejected"].name}` and `${google_pubsub_subscription.operator["dead_letter"].name}`."
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Messages by outcome and service (per minute)"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${metric.labels.outcome} $${metric.labels.service}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types["messages"]}\" AND resource.type=\"cloud_run_revision\""
                aggregation = merge(local.per_minute, { groupByFields = ["metric.label.outcome", "metric.label.service"] })
              }
            }
          }]
          yAxis = { label = "messages / min", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Rejections by reason (per minute)"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${metric.labels.reason}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types["rejections"]}\" AND resource.type=\"cloud_run_revision\""
                aggregation = merge(local.per_minute, { groupByFields = ["metric.label.reason"] })
              }
            }
          }]
          yAxis = { label = "rejections / min", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Duplicates by task state (reserved: will not run)"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${metric.labels.task_state} $${metric.labels.service}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"${local.log_metric_types["duplicates"]}\" AND resource.type=\"cloud_run_revision\""
                aggregation = merge(local.per_minute, { groupByFields = ["metric.label.task_state", "metric.label.service"] })
              }
            }
          }]
          yAxis = { label = "duplicates / min", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Cloud Tasks queue depth per queue"
        xyChart = {
          dataSets = [{
            plotType       = "LINE"
            legendTemplate = "$${resource.labels.queue_id}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"cloudtasks.googleapis.com/queue/depth\" AND ${local.queue_filter}"
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_MAX"
                  crossSeriesReducer = "REDUCE_MAX"
                  groupByFields      = ["resource.label.queue_id"]
                }
              }
            }
          }]
          yAxis = { label = "tasks", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Task attempts by response code, per queue (per minute)"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${resource.labels.queue_id} $${metric.labels.response_code}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"cloudtasks.googleapis.com/queue/task_attempt_count\" AND ${local.queue_filter}"
                aggregation = merge(local.per_minute, { groupByFields = ["resource.label.queue_id", "metric.label.response_code"] })
              }
            }
          }]
          yAxis = { label = "attempts / min", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "CreateTask calls by response code, per queue (per minute)"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${resource.labels.queue_id} $${metric.labels.response_code}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"cloudtasks.googleapis.com/api/request_count\" AND ${local.queue_filter} AND metric.label.api_method=\"CreateTask\""
                aggregation = merge(local.per_minute, { groupByFields = ["resource.label.queue_id", "metric.label.response_code"] })
              }
            }
          }]
          yAxis = { label = "calls / min", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Undelivered messages: dead-letter, rejected and push subscriptions"
        xyChart = {
          dataSets = [{
            plotType       = "LINE"
            legendTemplate = "$${resource.labels.subscription_id}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND ${local.subscription_filter}"
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_MAX"
                  crossSeriesReducer = "REDUCE_MAX"
                  groupByFields      = ["resource.label.subscription_id"]
                }
              }
            }
          }]
          yAxis = { label = "messages", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Oldest unacked message age per subscription"
        xyChart = {
          dataSets = [{
            plotType       = "LINE"
            legendTemplate = "$${resource.labels.subscription_id}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND ${local.subscription_filter}"
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_MAX"
                  crossSeriesReducer = "REDUCE_MAX"
                  groupByFields      = ["resource.label.subscription_id"]
                }
              }
            }
          }]
          yAxis = { label = "seconds", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Function latency (p50, p99)"
        xyChart = {
          dataSets = [for p in ["50", "99"] : {
            plotType       = "LINE"
            legendTemplate = "p${p} $${resource.labels.service_name}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"run.googleapis.com/request_latencies\" AND ${local.function_filter}"
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_PERCENTILE_${p}"
                  groupByFields      = ["resource.label.service_name"]
                }
              }
            }
          }]
          yAxis = { label = "ms", scale = "LINEAR" }
        }
      }
    },
    {
      width = 24, height = 16
      widget = {
        title = "Function requests by response code class (503: Pub/Sub redelivers)"
        xyChart = {
          dataSets = [{
            plotType       = "STACKED_BAR"
            legendTemplate = "$${resource.labels.service_name} $${metric.labels.response_code_class}"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter      = "metric.type=\"run.googleapis.com/request_count\" AND ${local.function_filter}"
                aggregation = merge(local.per_minute, { groupByFields = ["resource.label.service_name", "metric.label.response_code_class"] })
              }
            }
          }]
          yAxis = { label = "requests / min", scale = "LINEAR" }
        }
      }
    },
  ]

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
