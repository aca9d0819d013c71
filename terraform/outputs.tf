output "function_name" {
  description = "Name of the bridge function (Pub/Sub push entry point enqueue)."
  value       = google_cloudfunctions2_function.bridge["enqueue"].name
}

output "function_uri" {
  description = "URL of the bridge function's Cloud Run service (the push endpoint)."
  value       = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].uri
}

output "http_function_uri" {
  description = "URL of the HTTP entry point (POST /enqueue), or null when disabled."
  value       = try(google_cloudfunctions2_function.bridge["enqueue_http"].service_config[0].uri, null)
}

output "function_environment" {
  description = "The Pub/Sub function's environment: exactly the variables the bridge reads (the HTTP function gets it without REJECTED_TOPIC)."
  value       = local.function_env
}

output "bridge_services" {
  description = "The BRIDGE_SERVICES value generated from var.services."
  value       = local.bridge_services
}

output "requests_topic" {
  description = "Full id of the topic publishers write to."
  value       = google_pubsub_topic.requests.id
}

output "dead_letter_topic" {
  description = "Full id of the dead-letter topic."
  value       = google_pubsub_topic.dead_letter.id
}

output "rejected_topic" {
  description = "Full id of the rejected-messages topic (REJECTED_TOPIC)."
  value       = google_pubsub_topic.rejected.id
}

output "push_subscription" {
  description = "Name of the push subscription that delivers requests to the function."
  value       = google_pubsub_subscription.push.name
}

output "operator_subscriptions" {
  description = "Pull subscriptions an operator reads, keyed dead_letter and rejected."
  value       = { for k, s in google_pubsub_subscription.operator : k => s.name }
}

output "queues" {
  description = "Cloud Tasks queue id per service."
  value       = local.queue_ids
}

output "service_accounts" {
  description = "Emails of the identities: runtime, caller (CALLER_SA), push, build."
  value = {
    runtime = local.runtime_sa_email
    caller  = local.caller_sa_email
    push    = local.push_sa_email
    build   = local.build_sa_email
  }
}

output "log_metrics" {
  description = "Metric types of the bridge's log-based metrics (messages, rejections, duplicates), as Monitoring names them."
  value       = local.log_metric_types
}

output "dashboard_id" {
  description = "Id of the Monitoring dashboard (projects/N/dashboards/ID)."
  value       = google_monitoring_dashboard.bridge.id
}
