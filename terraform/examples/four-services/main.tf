# The old enqueuer's four services behind the bridge. Copy terraform.tfvars.example to
# terraform.tfvars, fill it in, then: terraform init && terraform apply.

provider "google" {
  project = var.project_id
  region  = var.region
}

module "enqueue_bridge" {
  source = "../.."

  project_id = var.project_id
  region     = var.region
  services   = var.services

  publisher_members    = var.publisher_members
  http_invoker_members = var.http_invoker_members

  runtime_service_account_email = var.runtime_service_account_email
  caller_service_account_email  = var.caller_service_account_email
  caller_is_runtime             = var.caller_is_runtime

  notification_channels = var.notification_channels
}

output "function_uri" {
  description = "The bridge function's URL (push endpoint)."
  value       = module.enqueue_bridge.function_uri
}

output "requests_topic" {
  description = "Topic to publish requests to."
  value       = module.enqueue_bridge.requests_topic
}

output "operator_subscriptions" {
  description = "Subscriptions to read rejected and dead-lettered messages from."
  value       = module.enqueue_bridge.operator_subscriptions
}

output "function_environment" {
  description = "The environment the bridge runs with."
  value       = module.enqueue_bridge.function_environment
}
