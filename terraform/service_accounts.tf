# Identities. Each one is created unless an existing account's email is given, so the old setup's
# enqueuer-api@ account can be adopted as the runtime identity and CALLER_SA (see README).

resource "google_service_account" "runtime" {
  count = var.runtime_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-runtime"
  display_name = "enqueue-bridge function runtime"
  description  = "Runs the enqueue-bridge Pub/Sub function: creates Cloud Tasks, publishes rejected messages."
}

# The HTTP entry creates tasks and never rejects to a topic: an identity of its own, without the
# rejected topic's publisher role.
resource "google_service_account" "http_runtime" {
  count = var.enable_http_function && var.http_runtime_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-http"
  display_name = "enqueue-bridge HTTP function runtime"
  description  = "Runs the enqueue-bridge HTTP function (POST /enqueue): creates Cloud Tasks only."
}

resource "google_service_account" "caller" {
  count = var.caller_service_account_email == null && !var.caller_is_runtime ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-caller"
  display_name = "enqueue-bridge task caller (CALLER_SA)"
  description  = "Identity of the OIDC token Cloud Tasks attaches to calls to the workers."
}

resource "google_service_account" "push" {
  count = var.push_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "enqueue-bridge push invoker"
  description  = "Identity Pub/Sub signs push requests to the bridge function as."
}

resource "google_service_account" "build" {
  count = var.build_service_account_email == null ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "enqueue-bridge function builder"
  description  = "Cloud Build identity for building the enqueue-bridge functions."
}

locals {
  runtime_sa_email = coalesce(var.runtime_service_account_email, try(google_service_account.runtime[0].email, null))
  caller_sa_email = (
    var.caller_is_runtime ? local.runtime_sa_email :
    coalesce(var.caller_service_account_email, try(google_service_account.caller[0].email, null))
  )
  http_runtime_sa_email = (
    var.enable_http_function
    ? coalesce(var.http_runtime_service_account_email, try(google_service_account.http_runtime[0].email, null))
    : null
  )
  push_sa_email  = coalesce(var.push_service_account_email, try(google_service_account.push[0].email, null))
  build_sa_email = coalesce(var.build_service_account_email, try(google_service_account.build[0].email, null))

  runtime_member      = "serviceAccount:${local.runtime_sa_email}"
  http_runtime_member = var.enable_http_function ? "serviceAccount:${local.http_runtime_sa_email}" : null
  caller_member       = "serviceAccount:${local.caller_sa_email}"
  push_member         = "serviceAccount:${local.push_sa_email}"
  build_member        = "serviceAccount:${local.build_sa_email}"
}
