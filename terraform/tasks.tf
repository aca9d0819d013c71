locals {
  services = {
    for name, s in var.services : name => merge(s, {
      env_suffix = coalesce(s.env_suffix, upper(replace(name, "-", "_")))
      queue      = coalesce(s.queue, "queue-${name}")
    })
  }
}

resource "google_cloud_tasks_queue" "service" {
  for_each = { for name, s in local.services : name => s if s.create_queue }

  project  = var.project_id
  location = local.tasks_region
  name     = each.value.queue

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = each.value.retry.max_attempts
    min_backoff        = each.value.retry.min_backoff
    max_backoff        = each.value.retry.max_backoff
    max_doublings      = each.value.retry.max_doublings
    max_retry_duration = each.value.retry.max_retry_duration
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

locals {
  # Queue ids, whether created here or adopted as they are (create_queue = false).
  queue_ids = {
    for name, s in local.services : name => (s.create_queue ? google_cloud_tasks_queue.service[name].name : s.queue)
  }
}

# The runtime identity may create tasks in these queues only (the old README granted
# roles/cloudtasks.enqueuer on the whole project).
resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = local.queue_ids

  project  = var.project_id
  location = local.tasks_region
  name     = each.value
  role     = "roles/cloudtasks.enqueuer"
  member   = local.runtime_member
}

# And the HTTP function's identity, on the same queues only.
resource "google_cloud_tasks_queue_iam_member" "http_enqueuer" {
  for_each = var.enable_http_function ? local.queue_ids : {}

  project  = var.project_id
  location = local.tasks_region
  name     = each.value
  role     = "roles/cloudtasks.enqueuer"
  member   = local.http_runtime_member
}

# On ALREADY_EXISTS the bridge makes one GetTask to tell a pending task from a reserved name
# (`task_state`); enqueuer grants create, not get. Viewer on the same queues only.
resource "google_cloud_tasks_queue_iam_member" "task_reader" {
  for_each = local.queue_ids

  project  = var.project_id
  location = local.tasks_region
  name     = each.value
  role     = "roles/cloudtasks.viewer"
  member   = local.runtime_member
}

resource "google_cloud_tasks_queue_iam_member" "http_task_reader" {
  for_each = var.enable_http_function ? local.queue_ids : {}

  project  = var.project_id
  location = local.tasks_region
  name     = each.value
  role     = "roles/cloudtasks.viewer"
  member   = local.http_runtime_member
}

# Workers that are not public accept CALLER_SA's token.
resource "google_cloud_run_v2_service_iam_member" "worker_invoker" {
  for_each = { for name, s in local.services : name => s if s.worker_run_service != null }

  project  = var.project_id
  location = coalesce(each.value.worker_run_region, var.region)
  name     = each.value.worker_run_service
  role     = "roles/run.invoker"
  member   = local.caller_member
}
