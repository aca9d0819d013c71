resource "google_pubsub_topic" "requests" {
  #checkov:skip=CKV_GCP_83:Messages are job requests already readable by their publishers; Google-managed encryption at rest is the accepted baseline here, and a CMEK would add a key ring this module would then have to own.
  project = var.project_id
  name    = var.requests_topic
  labels  = var.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Messages are job requests already readable by their publishers; Google-managed encryption at rest is the accepted baseline here, and a CMEK would add a key ring this module would then have to own.
  project = var.project_id
  name    = var.dead_letter_topic
  labels  = var.labels

  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "rejected" {
  #checkov:skip=CKV_GCP_83:Messages are job requests already readable by their publishers; Google-managed encryption at rest is the accepted baseline here, and a CMEK would add a key ring this module would then have to own.
  project = var.project_id
  name    = var.rejected_topic
  labels  = var.labels

  depends_on = [google_project_service.apis]
}

# Delivery: a push subscription we own, because the Eventarc trigger's subscription cannot be given
# a dead-letter policy, ack deadline or retry policy from Terraform.
resource "google_pubsub_subscription" "push" {
  project = var.project_id
  name    = "${var.requests_topic}-push"
  topic   = google_pubsub_topic.requests.id
  labels  = var.labels

  ack_deadline_seconds       = var.push_ack_deadline_s
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].uri

    oidc_token {
      service_account_email = local.push_sa_email
      audience              = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = var.push_retry_minimum_backoff
    maximum_backoff = var.push_retry_maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_v2_service_iam_member.push_invoker]
}

# What an operator reads: never expire, keep messages for the maximum (7 days).
resource "google_pubsub_subscription" "operator" {
  for_each = {
    dead_letter = google_pubsub_topic.dead_letter.id
    rejected    = google_pubsub_topic.rejected.id
  }

  project = var.project_id
  name    = "${each.key == "dead_letter" ? var.dead_letter_topic : var.rejected_topic}-operator"
  topic   = each.value
  labels  = var.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}
