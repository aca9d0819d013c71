# Least privilege: every binding is on the one resource that needs it, none project-wide except
# the build identity's log and image writes.

# The runtime identity creates tasks whose OIDC token is CALLER_SA's: it must be able to act as it.
resource "google_service_account_iam_member" "caller_act_as" {
  service_account_id = "projects/${var.project_id}/serviceAccounts/${local.caller_sa_email}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.runtime_member
}

# So must the HTTP function's identity (it creates the same tasks).
resource "google_service_account_iam_member" "http_caller_act_as" {
  count = var.enable_http_function ? 1 : 0

  service_account_id = "projects/${var.project_id}/serviceAccounts/${local.caller_sa_email}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.http_runtime_member
}

# Cloud Tasks mints CALLER_SA's OIDC tokens.
resource "google_service_account_iam_member" "caller_token_creator" {
  service_account_id = "projects/${var.project_id}/serviceAccounts/${local.caller_sa_email}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.tasks_agent

  depends_on = [google_project_service.apis]
}

# Only in projects that enabled Pub/Sub on or before 8 April 2021.
resource "google_service_account_iam_member" "push_token_creator" {
  count = var.grant_pubsub_token_creator ? 1 : 0

  service_account_id = "projects/${var.project_id}/serviceAccounts/${local.push_sa_email}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# The push identity may call the bridge function (its Cloud Run service has the function's name).
resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.bridge["enqueue"].name
  role     = "roles/run.invoker"
  member   = local.push_member
}

# Only the listed members may call the HTTP function.
resource "google_cloud_run_v2_service_iam_member" "http_invoker" {
  for_each = var.enable_http_function ? toset(var.http_invoker_members) : toset([])

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.bridge["enqueue_http"].name
  role     = "roles/run.invoker"
  member   = each.value
}

# Dead-lettering: the Pub/Sub service agent publishes to the dead-letter topic and acks on the
# source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "push_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# The Pub/Sub function publishes what it rejects (the HTTP function answers 422 instead: it is
# never granted this).
resource "google_pubsub_topic_iam_member" "rejected_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.rejected.name
  role    = "roles/pubsub.publisher"
  member  = local.runtime_member
}

# Publishers of requests (Apps Script users, services).
resource "google_pubsub_topic_iam_member" "requests_publisher" {
  for_each = toset(var.publisher_members)

  project = var.project_id
  topic   = google_pubsub_topic.requests.name
  role    = "roles/pubsub.publisher"
  member  = each.value
}

# The build identity: write build logs and the function images, read the source archive.
resource "google_project_iam_member" "build" {
  for_each = toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])

  project = var.project_id
  role    = each.value
  member  = local.build_member
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = local.build_member
}
