variable "project_id" {
  description = "The project the bridge, its topics, queues and identities live in."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens."
  }
}

variable "region" {
  description = "Region of the functions, the source bucket and (unless tasks_region is set) the Cloud Tasks queues."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region such as us-central1."
  }
}

variable "tasks_region" {
  description = "Region of the Cloud Tasks queues (the bridge's TASKS_REGION). null: same as region."
  type        = string
  default     = null

  validation {
    condition     = var.tasks_region == null || can(regex("^[a-z]+-[a-z]+[0-9]+$", var.tasks_region))
    error_message = "tasks_region must be null or a region such as us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of the names this module creates (functions, service accounts, bucket, subscriptions, metrics)."
  type        = string
  default     = "enqueue-bridge"

  validation {
    # Service account ids are 6-30 characters; the longest suffix used is "-runtime" (8).
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 4-22 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "services" {
  description = <<-EOT
    The workers, keyed by service name (the "service" a message names). Per service:
    url (worker endpoint, full path, https), env_suffix (the <S> in QUEUE_<S>, URL_<S>, ...; default
    upper(replace(name, "-", "_"))), queue (queue id, default "queue-<name>"), audience (OIDC audience;
    null: the bridge uses the origin of url), deadline_s (15..1800, default 900), rate limits, retry
    config, create_queue (false: the queue already exists and is not managed here; the enqueuer
    binding is still granted on it), worker_run_service / worker_run_region (the worker's Cloud Run
    service: grants CALLER_SA roles/run.invoker on it; null for public workers).
  EOT
  type = map(object({
    url                       = string
    env_suffix                = optional(string)
    queue                     = optional(string)
    audience                  = optional(string)
    deadline_s                = optional(number, 900)
    max_dispatches_per_second = optional(number, 10)
    max_concurrent_dispatches = optional(number, 100)
    retry = optional(object({
      max_attempts       = optional(number, 10)
      min_backoff        = optional(string, "10s")
      max_backoff        = optional(string, "600s")
      max_doublings      = optional(number, 5)
      max_retry_duration = optional(string, "0s")
    }), {})
    create_queue       = optional(bool, true)
    worker_run_service = optional(string)
    worker_run_region  = optional(string)
  }))

  validation {
    condition     = length(var.services) > 0
    error_message = "services must name at least one worker."
  }
  validation {
    condition     = alltrue([for name in keys(var.services) : can(regex("^[a-z][a-z0-9_-]{0,62}$", name))])
    error_message = "Each service name must match ^[a-z][a-z0-9_-]{0,62}$ (e.g. brain, testimonios)."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.env_suffix == null || can(regex("^[A-Z][A-Z0-9_]{0,62}$", s.env_suffix))])
    error_message = "env_suffix must match ^[A-Z][A-Z0-9_]{0,62}$ (e.g. BRAIN, TESTI, TRANS, REGRESOS)."
  }
  validation {
    condition     = length(distinct([for name, s in var.services : coalesce(s.env_suffix, upper(replace(name, "-", "_")))])) == length(var.services)
    error_message = "Two services resolve to the same env_suffix: give one of them an explicit env_suffix."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.queue == null || can(regex("^[A-Za-z0-9-]{1,100}$", s.queue))])
    error_message = "queue must be a Cloud Tasks queue id: letters, digits and hyphens, 1-100 characters."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : can(regex("^https://[^/\\s]+", s.url)) && length(s.url) <= 2083])
    error_message = "url must be an absolute https URL of at most 2083 characters."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.audience == null || can(regex("^\\S+$", s.audience))])
    error_message = "audience must not contain whitespace."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.deadline_s >= 15 && s.deadline_s <= 1800 && floor(s.deadline_s) == s.deadline_s])
    error_message = "deadline_s must be a whole number of seconds in 15..1800 (Cloud Tasks' range for HTTP targets)."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.max_dispatches_per_second > 0 && s.max_dispatches_per_second <= 500 && s.max_concurrent_dispatches >= 1 && s.max_concurrent_dispatches <= 5000])
    error_message = "max_dispatches_per_second must be in (0, 500] and max_concurrent_dispatches in 1..5000."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.retry.max_attempts == -1 || s.retry.max_attempts >= 1])
    error_message = "retry.max_attempts must be -1 (unlimited) or at least 1."
  }
}

variable "requests_topic" {
  description = "Topic the publishers write to and the push subscription reads."
  type        = string
  default     = "enqueue-requests"
}

variable "dead_letter_topic" {
  description = "Topic where Pub/Sub puts messages the function failed to take after max_delivery_attempts."
  type        = string
  default     = "enqueue-requests-dead-letter"
}

variable "rejected_topic" {
  description = "Topic where the bridge puts messages it rejects (its REJECTED_TOPIC)."
  type        = string
  default     = "enqueue-requests-rejected"
}

variable "publisher_members" {
  description = "Members granted roles/pubsub.publisher on the requests topic (e.g. user:apps-script-owner@example.com, serviceAccount:...)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.publisher_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "publisher_members must not contain allUsers or allAuthenticatedUsers."
  }
}

variable "runtime_service_account_email" {
  description = "Existing service account the Pub/Sub function runs as. null: create <name_prefix>-runtime."
  type        = string
  default     = null
}

variable "http_runtime_service_account_email" {
  description = "Existing service account the HTTP function runs as (it creates tasks, and publishes nothing). null: create <name_prefix>-http."
  type        = string
  default     = null
}

variable "caller_service_account_email" {
  description = "Existing service account whose OIDC token Cloud Tasks attaches (CALLER_SA). null: create <name_prefix>-caller, unless caller_is_runtime."
  type        = string
  default     = null
}

variable "caller_is_runtime" {
  description = "Use the runtime identity as CALLER_SA too, as the old enqueuer did (one account for both). Default: separate accounts."
  type        = bool
  default     = false
}

variable "push_service_account_email" {
  description = "Existing service account Pub/Sub signs push requests as. null: create <name_prefix>-push."
  type        = string
  default     = null
}

variable "build_service_account_email" {
  description = "Existing service account Cloud Build builds the functions as. null: create <name_prefix>-build (never the default build account)."
  type        = string
  default     = null
}

variable "enable_http_function" {
  description = "Deploy the HTTP entry point (enqueue_http, POST /enqueue) for the old enqueuer's callers."
  type        = bool
  default     = true
}

variable "http_invoker_members" {
  description = "The only members allowed to call the HTTP function (roles/run.invoker). Never allUsers or allAuthenticatedUsers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.http_invoker_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "http_invoker_members must not contain allUsers or allAuthenticatedUsers: the HTTP function is never public."
  }
}

variable "http_ingress" {
  description = "Ingress of the HTTP function: ALLOW_ALL (callers outside the project's VPC, such as Apps Script or a Cloud Run service without VPC egress; IAM still restricts who may call), ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB. null: the narrowest that serves http_invoker_members, ALLOW_INTERNAL_ONLY when it is empty (no caller), else ALLOW_ALL."
  type        = string
  default     = null

  validation {
    condition     = var.http_ingress == null || contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], coalesce(var.http_ingress, "ALLOW_ALL"))
    error_message = "http_ingress must be one of ALLOW_ALL, ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "function_runtime" {
  description = "Cloud Run functions runtime."
  type        = string
  default     = "python311"
}

variable "function_memory" {
  description = "Memory of each function instance."
  type        = string
  default     = "256M"
}

variable "function_timeout_s" {
  description = "Request timeout of the functions, in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.function_timeout_s >= 10 && var.function_timeout_s <= 540
    error_message = "function_timeout_s must be in 10..540."
  }
}

variable "function_max_instances" {
  description = "Upper bound on function instances. Capacity is about max_instances x 1,000 messages/s (an instance is CPU-bound at concurrency 80): see BENCHMARKS.md, \"Scale, from measurements\"."
  type        = number
  default     = 10

  validation {
    condition     = var.function_max_instances >= 1 && var.function_max_instances <= 1000
    error_message = "function_max_instances must be in 1..1000."
  }
}

variable "function_cpu" {
  description = "vCPUs of each function instance (Cloud Run allows concurrency above 1 only from 1 vCPU)."
  type        = string
  default     = "1"

  validation {
    condition     = can(tonumber(var.function_cpu)) && tonumber(var.function_cpu) > 0 && tonumber(var.function_cpu) <= 8
    error_message = "function_cpu must be a number of vCPUs in (0, 8], e.g. \"0.5\", \"1\", \"2\"."
  }
}

variable "function_concurrency" {
  description = "Requests one instance serves at once. The bridge is a coroutine on functions-framework's ASGI stack (main.py's functions_framework.aio entry points select it: no THREADS or FUNCTION_USE_ASGI to set): a request holds no thread while it waits on CreateTask (20-50 ms in production), so one vCPU keeps about 80 in flight and is CPU-bound, not latency-bound (~0.5-0.9 ms of CPU per message: about 1,100-2,000 messages/s; BENCHMARKS.md, \"One instance\"). Far above 80 only queues requests inside the instance, where Cloud Run would start another."
  type        = number
  default     = 80

  validation {
    condition     = var.function_concurrency >= 1 && var.function_concurrency <= 1000
    error_message = "function_concurrency must be in 1..1000."
  }
}

variable "function_min_instances" {
  description = "Instances kept warm (0: scale to zero)."
  type        = number
  default     = 0
}

variable "tasks_timeout_s" {
  description = "The bridge's timeout for one CreateTask call (TASKS_TIMEOUT_S, 1..300). The push ack deadline must be well above it."
  type        = number
  default     = 10

  validation {
    condition     = var.tasks_timeout_s >= 1 && var.tasks_timeout_s <= 300
    error_message = "tasks_timeout_s must be in 1..300."
  }
}

variable "max_body_bytes" {
  description = "The bridge's MAX_BODY_BYTES. null: not set (the bridge's default, 1000000)."
  type        = number
  default     = null

  validation {
    condition     = var.max_body_bytes == null || try(var.max_body_bytes >= 2 && var.max_body_bytes <= 10000000, false)
    error_message = "max_body_bytes must be null or in 2..10000000."
  }
}

variable "push_ack_deadline_s" {
  description = "Ack deadline of the push subscription (for push: the request timeout), 10..600 s. Must be at least 3 x tasks_timeout_s."
  type        = number
  default     = 60

  validation {
    condition     = var.push_ack_deadline_s >= 10 && var.push_ack_deadline_s <= 600 && var.push_ack_deadline_s >= 3 * var.tasks_timeout_s
    error_message = "push_ack_deadline_s must be in 10..600 and at least 3 x tasks_timeout_s, so a slow CreateTask never outlives the push request."
  }
}

variable "push_retry_minimum_backoff" {
  description = "Shortest wait before Pub/Sub redelivers a message the function failed (exponential backoff)."
  type        = string
  default     = "10s"
}

variable "push_retry_maximum_backoff" {
  description = "Longest wait before Pub/Sub redelivers a message the function failed."
  type        = string
  default     = "600s"
}

variable "max_delivery_attempts" {
  description = "Deliveries before a message goes to the dead-letter topic (5..100)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be in 5..100."
  }
}

variable "grant_pubsub_token_creator" {
  description = "Grant the Pub/Sub service agent roles/iam.serviceAccountTokenCreator on the push identity: needed only in projects that enabled Pub/Sub on or before 8 April 2021."
  type        = bool
  default     = false
}

variable "enable_apis" {
  description = "Enable the APIs the bridge needs (never disabled on destroy)."
  type        = bool
  default     = true
}

variable "source_dir" {
  description = "Directory whose main.py, requirements.txt and bridge/*.py (no subpackage, no bridge/__main__.py) become the functions' source. null: the repository root above this module."
  type        = string
  default     = null
}

variable "source_bucket_name" {
  description = "Bucket created for the source archives. null: <project_id>-<name_prefix>-source."
  type        = string
  default     = null
}

variable "notification_channels" {
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) the alerts notify."
  type        = list(string)
  default     = []
}

variable "alert_undelivered_duration" {
  description = "How long the dead-letter or rejected subscription must hold undelivered messages before an alert opens."
  type        = string
  default     = "300s"
}

variable "rejected_log_filter" {
  description = "Extra Logging filter, ANDed with the functions' resource filter, that selects the bridge's log entries for rejected and retried messages (the log-based metric)."
  type        = string
  default     = "jsonPayload.outcome=(\"rejected\" OR \"retry\")"
}

variable "labels" {
  description = "Labels put on the resources that take them."
  type        = map(string)
  default     = {}
}

# Monitoring (monitoring.tf, dashboard.tf; terraform/README.md, "Monitoring").

variable "alert_rejection_ratio" {
  description = "Share of decided messages (created, duplicate, rejected) that may be rejected over alert_rejection_window before the rejection-rate alert opens, in (0, 1]."
  type        = number
  default     = 0.05

  validation {
    condition     = var.alert_rejection_ratio > 0 && var.alert_rejection_ratio <= 1
    error_message = "alert_rejection_ratio must be in (0, 1], e.g. 0.05 for 5%."
  }
}

variable "alert_rejection_window" {
  description = "Window over which the share of rejected messages is computed, in whole minutes as seconds (e.g. \"600s\")."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.alert_rejection_window)) && try(tonumber(trimsuffix(var.alert_rejection_window, "s")) >= 60 && tonumber(trimsuffix(var.alert_rejection_window, "s")) % 60 == 0, false)
    error_message = "alert_rejection_window must be a whole number of minutes written in seconds, at least \"60s\" (e.g. \"600s\")."
  }
}

variable "alert_queue_growth_duration" {
  description = "How long a queue's depth must keep rising (and stay above alert_queue_depth_min) before the queue-growing alert opens: the N minutes, written in seconds (e.g. \"900s\")."
  type        = string
  default     = "900s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.alert_queue_growth_duration)) && try(tonumber(trimsuffix(var.alert_queue_growth_duration, "s")) >= 60 && tonumber(trimsuffix(var.alert_queue_growth_duration, "s")) % 60 == 0, false)
    error_message = "alert_queue_growth_duration must be a whole number of minutes written in seconds, at least \"60s\" (e.g. \"900s\")."
  }
}

variable "alert_queue_depth_min" {
  description = "Depth a queue must exceed for the queue-growing alert: below it, growth is normal traffic."
  type        = number
  default     = 10

  validation {
    condition     = var.alert_queue_depth_min >= 0
    error_message = "alert_queue_depth_min must be 0 or more."
  }
}
