data "google_project" "this" {
  project_id = var.project_id
}

locals {
  tasks_region = coalesce(var.tasks_region, var.region)
  source_dir   = coalesce(var.source_dir, abspath("${path.module}/.."))
  bucket_name  = coalesce(var.source_bucket_name, "${var.project_id}-${var.name_prefix}-source")

  # Service agents, built from the project number (google_project_service_identity is beta-only).
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  tasks_agent  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudtasks.iam.gserviceaccount.com"

  apis = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudtasks.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = var.enable_apis ? local.apis : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
