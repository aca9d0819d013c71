variable "project_id" {
  description = "Project to deploy to."
  type        = string
}

variable "region" {
  description = "Region of the functions and queues."
  type        = string
  default     = "us-central1"
}

variable "services" {
  description = "Workers keyed by service name; see the module's services variable."
  type = map(object({
    url                = string
    env_suffix         = optional(string)
    queue              = optional(string)
    audience           = optional(string)
    deadline_s         = optional(number, 900)
    create_queue       = optional(bool, true)
    worker_run_service = optional(string)
  }))
}

variable "publisher_members" {
  description = "Who may publish to enqueue-requests."
  type        = list(string)
  default     = []
}

variable "http_invoker_members" {
  description = "Who may call the HTTP entry point."
  type        = list(string)
  default     = []
}

variable "runtime_service_account_email" {
  description = "Existing runtime identity (e.g. the old enqueuer-api@ account), or null to create one."
  type        = string
  default     = null
}

variable "caller_service_account_email" {
  description = "Existing CALLER_SA, or null to create one."
  type        = string
  default     = null
}

variable "caller_is_runtime" {
  description = "Use one account for both, as the old enqueuer did."
  type        = bool
  default     = false
}

variable "notification_channels" {
  description = "Notification channels for the alerts."
  type        = list(string)
  default     = []
}
