locals {
  # The function's environment, generated from var.services in exactly the names the bridge reads
  # (bridge/config.py; tests/terraform checks the two agree).
  bridge_services = join(",", [for name in sort(keys(local.services)) : "${name}:${local.services[name].env_suffix}"])

  service_env = merge([
    for name, s in local.services : merge(
      {
        "QUEUE_${s.env_suffix}"      = local.queue_ids[name]
        "URL_${s.env_suffix}"        = s.url
        "DEADLINE_${s.env_suffix}_S" = tostring(s.deadline_s)
      },
      s.audience == null ? {} : { "AUD_${s.env_suffix}" = s.audience },
    )
  ]...)

  function_env = merge(
    {
      PROJECT_ID      = var.project_id
      TASKS_REGION    = local.tasks_region
      CALLER_SA       = local.caller_sa_email
      BRIDGE_SERVICES = local.bridge_services
      REJECTED_TOPIC  = google_pubsub_topic.rejected.id
      TASKS_TIMEOUT_S = tostring(var.tasks_timeout_s)
    },
    var.max_body_bytes == null ? {} : { MAX_BODY_BYTES = tostring(var.max_body_bytes) },
    local.service_env,
  )

  # POST /enqueue rejects with a 422, never to a topic: no REJECTED_TOPIC, and no role on it.
  http_function_env = { for k, v in local.function_env : k => v if k != "REJECTED_TOPIC" }
  # The functions, by entry point. enqueue_http exists only with var.enable_http_function.
  functions = {
    enqueue = {
      name            = var.name_prefix
      description     = "Pub/Sub (push) to Cloud Tasks bridge: entry point enqueue."
      min_instances   = var.function_min_instances
      ingress         = "ALLOW_INTERNAL_ONLY"
      service_account = local.runtime_sa_email
      environment     = local.function_env
    }
    enqueue_http = {
      name            = "${var.name_prefix}-http"
      description     = "HTTP entry for the old enqueuer's callers (POST /enqueue): entry point enqueue_http."
      min_instances   = 0
      ingress         = local.http_ingress
      service_account = local.http_runtime_sa_email
      environment     = local.http_function_env
    }
  }

  # The narrowest ingress that serves the listed callers: none listed, nothing to serve.
  http_ingress = coalesce(
    var.http_ingress, length(var.http_invoker_members) == 0 ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL"
  )

  # The archive is an allow-list: main.py, requirements.txt and the modules directly in bridge/,
  # which are exactly what the function imports (bridge/cli/, the operator's command,
  # bridge/publishing/, the publisher library, and bridge/stack/, the local stack, are
  # subpackages it never imports). bridge/__main__.py is
  # `python -m bridge`, the operator's command. tests/terraform checks the exact list.
  source_files = sort(concat(
    ["main.py", "requirements.txt"],
    [for f in fileset(local.source_dir, "bridge/*.py") : f if f != "bridge/__main__.py"],
  ))
}

data "archive_file" "source" {
  type        = "zip"
  output_path = "${path.module}/.build/${var.name_prefix}-source.zip"

  # One source block per file: nothing else can enter the archive (excludes would be a deny-list).
  dynamic "source" {
    for_each = local.source_files
    content {
      content  = file("${local.source_dir}/${source.value}")
      filename = source.value
    }
  }
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs written by Terraform; access logging of it adds cost and no audit value beyond Cloud Audit Logs.
  #checkov:skip=CKV_GCP_63:No access logging at all (see CKV_GCP_62), so there is no log bucket that could be this one.
  project                     = var.project_id
  name                        = local.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 3
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "${var.name_prefix}-${data.archive_file.source.output_md5}.zip"
  source = data.archive_file.source.output_path
}

# Both entry points from one definition: what differs between them is in local.functions.
resource "google_cloudfunctions2_function" "bridge" {
  #checkov:skip=CKV_GCP_124:Only enqueue_http allows more than internal ingress: the old enqueuer's callers are outside Google Cloud; only http_invoker_members hold run.invoker (never allUsers), and http_ingress can narrow it.
  for_each = { for entry_point, f in local.functions : entry_point => f if entry_point != "enqueue_http" || var.enable_http_function }

  project     = var.project_id
  location    = var.region
  name        = each.value.name
  description = each.value.description
  labels      = var.labels

  build_config {
    runtime         = var.function_runtime
    entry_point     = each.key
    service_account = "projects/${var.project_id}/serviceAccounts/${local.build_sa_email}"

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.function_memory
    timeout_seconds                  = var.function_timeout_s
    max_instance_count               = var.function_max_instances
    min_instance_count               = each.value.min_instances
    available_cpu                    = var.function_cpu
    max_instance_request_concurrency = var.function_concurrency
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = each.value.service_account
    environment_variables            = each.value.environment
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.build,
    google_storage_bucket_iam_member.build_source_reader,
  ]
}

# The two functions were two resources before: their state moves, nothing is replaced.
moved {
  from = google_cloudfunctions2_function.enqueue
  to   = google_cloudfunctions2_function.bridge["enqueue"]
}

moved {
  from = google_cloudfunctions2_function.enqueue_http[0]
  to   = google_cloudfunctions2_function.bridge["enqueue_http"]
}
