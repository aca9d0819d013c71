# The whole deployment, planned and applied against mocked providers (offline: see
# terraform/README.md, "Tests"). Assertions cover what a working bridge rests on.

mock_provider "google" {
  source = "./tests/mocks/google"
}

mock_provider "archive" {}

variables {
  services = {
    brain = {
      url        = "https://brain-abc-uc.a.run.app/process"
      env_suffix = "BRAIN"
      deadline_s = 700
    }
    testimonios = {
      url        = "https://testimonios-abc-uc.a.run.app/generate-testimony"
      env_suffix = "TESTI"
      deadline_s = 390
      audience   = "https://testimonios-abc-uc.a.run.app"
    }
    transcripciones = {
      url                       = "https://transcripciones-abc-uc.a.run.app/api/transcribe"
      env_suffix                = "TRANS"
      max_dispatches_per_second = 2
      max_concurrent_dispatches = 5
      retry = {
        max_attempts = 3
        min_backoff  = "30s"
      }
    }
    regresos = {
      url                = "https://regresos-123.us-central1.run.app/_tasks/process-pdf-back-questions-run"
      deadline_s         = 1800
      worker_run_service = "regresos"
    }
  }
  publisher_members    = ["user:sheets@example.com", "serviceAccount:svc@bridge-test-project.iam.gserviceaccount.com"]
  http_invoker_members = ["serviceAccount:old-caller@bridge-test-project.iam.gserviceaccount.com"]
}

run "deployment" {
  command = apply

  # Queues: one per service, with its settings.
  assert {
    condition     = length(google_cloud_tasks_queue.service) == 4
    error_message = "Expected one queue per service."
  }
  assert {
    condition     = { for k, q in google_cloud_tasks_queue.service : k => q.name } == { brain = "queue-brain", testimonios = "queue-testimonios", transcripciones = "queue-transcripciones", regresos = "queue-regresos" }
    error_message = "Queue ids must default to queue-<service>, the old enqueuer's names."
  }
  assert {
    condition     = alltrue([for q in google_cloud_tasks_queue.service : q.location == "us-central1" && q.project == "bridge-test-project"])
    error_message = "Queues must live in TASKS_REGION of the project."
  }
  assert {
    condition     = google_cloud_tasks_queue.service["transcripciones"].rate_limits[0].max_dispatches_per_second == 2 && google_cloud_tasks_queue.service["transcripciones"].rate_limits[0].max_concurrent_dispatches == 5
    error_message = "Per-service rate limits must reach the queue."
  }
  assert {
    condition     = google_cloud_tasks_queue.service["transcripciones"].retry_config[0].max_attempts == 3 && google_cloud_tasks_queue.service["transcripciones"].retry_config[0].min_backoff == "30s" && google_cloud_tasks_queue.service["transcripciones"].retry_config[0].max_backoff == "600s"
    error_message = "Per-service retry config (with defaults for the rest) must reach the queue."
  }

  # IAM, scoped as the README states.
  assert {
    condition     = length(google_cloud_tasks_queue_iam_member.enqueuer) == 4 && alltrue([for k, b in google_cloud_tasks_queue_iam_member.enqueuer : b.role == "roles/cloudtasks.enqueuer" && b.member == "serviceAccount:${google_service_account.runtime[0].email}" && b.name == google_cloud_tasks_queue.service[k].name])
    error_message = "The runtime identity must be enqueuer on each queue, and only there."
  }
  assert {
    condition     = length(google_cloud_tasks_queue_iam_member.task_reader) == 4 && alltrue([for k, b in google_cloud_tasks_queue_iam_member.task_reader : b.role == "roles/cloudtasks.viewer" && b.member == "serviceAccount:${google_service_account.runtime[0].email}" && b.name == google_cloud_tasks_queue.service[k].name])
    error_message = "The runtime identity must be viewer (GetTask, for task_state) on each queue, and only there."
  }
  assert {
    condition     = google_service_account_iam_member.caller_act_as.role == "roles/iam.serviceAccountUser" && google_service_account_iam_member.caller_act_as.member == "serviceAccount:${google_service_account.runtime[0].email}" && google_service_account_iam_member.caller_act_as.service_account_id == "projects/bridge-test-project/serviceAccounts/${google_service_account.caller[0].email}"
    error_message = "The runtime identity must hold actAs on CALLER_SA."
  }
  assert {
    condition     = google_service_account_iam_member.caller_token_creator.role == "roles/iam.serviceAccountTokenCreator" && google_service_account_iam_member.caller_token_creator.member == "serviceAccount:service-123456789012@gcp-sa-cloudtasks.iam.gserviceaccount.com" && google_service_account_iam_member.caller_token_creator.service_account_id == "projects/bridge-test-project/serviceAccounts/${google_service_account.caller[0].email}"
    error_message = "The Cloud Tasks service agent must be token creator on CALLER_SA."
  }
  assert {
    condition     = keys(google_cloud_run_v2_service_iam_member.worker_invoker) == ["regresos"] && google_cloud_run_v2_service_iam_member.worker_invoker["regresos"].name == "regresos" && google_cloud_run_v2_service_iam_member.worker_invoker["regresos"].role == "roles/run.invoker" && google_cloud_run_v2_service_iam_member.worker_invoker["regresos"].member == "serviceAccount:${google_service_account.caller[0].email}"
    error_message = "CALLER_SA must be run.invoker on the non-public worker only."
  }
  assert {
    condition     = google_cloud_run_v2_service_iam_member.push_invoker.name == google_cloudfunctions2_function.bridge["enqueue"].name && google_cloud_run_v2_service_iam_member.push_invoker.role == "roles/run.invoker" && google_cloud_run_v2_service_iam_member.push_invoker.member == "serviceAccount:${google_service_account.push[0].email}"
    error_message = "The push identity must be run.invoker on the bridge function."
  }
  assert {
    condition     = google_pubsub_topic_iam_member.dead_letter_publisher.topic == google_pubsub_topic.dead_letter.name && google_pubsub_topic_iam_member.dead_letter_publisher.role == "roles/pubsub.publisher" && google_pubsub_topic_iam_member.dead_letter_publisher.member == "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    error_message = "The Pub/Sub service agent must publish to the dead-letter topic."
  }
  assert {
    condition     = google_pubsub_subscription_iam_member.push_subscriber.subscription == google_pubsub_subscription.push.name && google_pubsub_subscription_iam_member.push_subscriber.role == "roles/pubsub.subscriber" && google_pubsub_subscription_iam_member.push_subscriber.member == "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    error_message = "The Pub/Sub service agent must be subscriber on the push subscription."
  }
  assert {
    condition     = google_pubsub_topic_iam_member.rejected_publisher.topic == google_pubsub_topic.rejected.name && google_pubsub_topic_iam_member.rejected_publisher.role == "roles/pubsub.publisher" && google_pubsub_topic_iam_member.rejected_publisher.member == "serviceAccount:${google_service_account.runtime[0].email}"
    error_message = "The runtime identity must publish to the rejected topic."
  }
  assert {
    condition     = toset([for b in google_pubsub_topic_iam_member.requests_publisher : b.member]) == toset(var.publisher_members) && alltrue([for b in google_pubsub_topic_iam_member.requests_publisher : b.topic == google_pubsub_topic.requests.name && b.role == "roles/pubsub.publisher"])
    error_message = "Each listed publisher must be publisher on enqueue-requests, and only there."
  }
  assert {
    condition     = toset([for b in google_cloud_run_v2_service_iam_member.http_invoker : b.member]) == toset(var.http_invoker_members) && alltrue([for b in google_cloud_run_v2_service_iam_member.http_invoker : b.name == google_cloudfunctions2_function.bridge["enqueue_http"].name && b.role == "roles/run.invoker"])
    error_message = "Only the listed members may invoke the HTTP function."
  }
  assert {
    condition = alltrue([
      for m in concat(
        [for b in google_cloud_tasks_queue_iam_member.enqueuer : b.member],
        [for b in google_cloud_tasks_queue_iam_member.http_enqueuer : b.member],
        [for b in google_cloud_run_v2_service_iam_member.worker_invoker : b.member],
        [for b in google_cloud_run_v2_service_iam_member.http_invoker : b.member],
        [for b in google_pubsub_topic_iam_member.requests_publisher : b.member],
        [for b in google_project_iam_member.build : b.member],
        [
          google_cloud_run_v2_service_iam_member.push_invoker.member,
          google_service_account_iam_member.caller_act_as.member,
          google_service_account_iam_member.caller_token_creator.member,
          google_pubsub_topic_iam_member.dead_letter_publisher.member,
          google_pubsub_topic_iam_member.rejected_publisher.member,
          google_service_account_iam_member.http_caller_act_as[0].member,
          google_pubsub_subscription_iam_member.push_subscriber.member,
          google_storage_bucket_iam_member.build_source_reader.member,
        ],
      ) : !contains(["allUsers", "allAuthenticatedUsers"], m)
    ])
    error_message = "No binding may grant anything to allUsers or allAuthenticatedUsers."
  }
  assert {
    condition     = toset([for b in google_project_iam_member.build : b.role]) == toset(["roles/logging.logWriter", "roles/artifactregistry.writer"])
    error_message = "The only project-wide roles are the build identity's log and image writes."
  }

  # The functions.
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].build_config[0].entry_point == "enqueue" && google_cloudfunctions2_function.bridge["enqueue"].service_config[0].ingress_settings == "ALLOW_INTERNAL_ONLY"
    error_message = "The bridge function must run enqueue with internal-only ingress."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].available_cpu == "1" && google_cloudfunctions2_function.bridge["enqueue"].service_config[0].max_instance_request_concurrency == 80 && google_cloudfunctions2_function.bridge["enqueue"].service_config[0].max_instance_count == 10
    error_message = "The function must get the capacity defaults of BENCHMARKS.md (1 vCPU, concurrency 80, 10 instances)."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].service_account_email == google_service_account.runtime[0].email && google_cloudfunctions2_function.bridge["enqueue"].build_config[0].service_account == "projects/bridge-test-project/serviceAccounts/${google_service_account.build[0].email}"
    error_message = "The function must run and build as its own identities, never the default accounts."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue_http"].build_config[0].entry_point == "enqueue_http" && google_cloudfunctions2_function.bridge["enqueue_http"].service_config[0].environment_variables == tomap({ for k, v in google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables : k => v if k != "REJECTED_TOPIC" })
    error_message = "The HTTP function must run enqueue_http with the same environment, minus REJECTED_TOPIC (it answers 422, never rejects to a topic)."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue_http"].service_config[0].service_account_email == google_service_account.http_runtime[0].email && google_service_account.http_runtime[0].email != google_service_account.runtime[0].email
    error_message = "The HTTP function must run as its own identity, not the Pub/Sub function's."
  }
  assert {
    condition     = length(google_cloud_tasks_queue_iam_member.http_enqueuer) == 4 && alltrue([for k, b in google_cloud_tasks_queue_iam_member.http_enqueuer : b.role == "roles/cloudtasks.enqueuer" && b.member == "serviceAccount:${google_service_account.http_runtime[0].email}" && b.name == google_cloud_tasks_queue.service[k].name])
    error_message = "The HTTP function's identity must be enqueuer on each queue, and only there."
  }
  assert {
    condition     = length(google_cloud_tasks_queue_iam_member.http_task_reader) == 4 && alltrue([for k, b in google_cloud_tasks_queue_iam_member.http_task_reader : b.role == "roles/cloudtasks.viewer" && b.member == "serviceAccount:${google_service_account.http_runtime[0].email}" && b.name == google_cloud_tasks_queue.service[k].name])
    error_message = "The HTTP function's identity must be viewer (GetTask, for task_state) on each queue, and only there."
  }
  assert {
    condition     = google_service_account_iam_member.http_caller_act_as[0].role == "roles/iam.serviceAccountUser" && google_service_account_iam_member.http_caller_act_as[0].member == "serviceAccount:${google_service_account.http_runtime[0].email}" && google_service_account_iam_member.http_caller_act_as[0].service_account_id == "projects/bridge-test-project/serviceAccounts/${google_service_account.caller[0].email}"
    error_message = "The HTTP function's identity must hold actAs on CALLER_SA."
  }
  assert {
    condition     = google_pubsub_topic_iam_member.rejected_publisher.member != "serviceAccount:${google_service_account.http_runtime[0].email}"
    error_message = "The HTTP function's identity must not publish to the rejected topic (it never needs to)."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue_http"].service_config[0].ingress_settings == "ALLOW_ALL"
    error_message = "With callers listed (http_invoker_members), the HTTP function's default ingress must let them in from outside the VPC."
  }
  assert {
    condition = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables == tomap({
      PROJECT_ID          = "bridge-test-project"
      TASKS_REGION        = "us-central1"
      CALLER_SA           = google_service_account.caller[0].email
      BRIDGE_SERVICES     = "brain:BRAIN,regresos:REGRESOS,testimonios:TESTI,transcripciones:TRANS"
      REJECTED_TOPIC      = google_pubsub_topic.rejected.id
      TASKS_TIMEOUT_S     = "10"
      QUEUE_BRAIN         = "queue-brain"
      URL_BRAIN           = "https://brain-abc-uc.a.run.app/process"
      DEADLINE_BRAIN_S    = "700"
      QUEUE_TESTI         = "queue-testimonios"
      URL_TESTI           = "https://testimonios-abc-uc.a.run.app/generate-testimony"
      AUD_TESTI           = "https://testimonios-abc-uc.a.run.app"
      DEADLINE_TESTI_S    = "390"
      QUEUE_TRANS         = "queue-transcripciones"
      URL_TRANS           = "https://transcripciones-abc-uc.a.run.app/api/transcribe"
      DEADLINE_TRANS_S    = "900"
      QUEUE_REGRESOS      = "queue-regresos"
      URL_REGRESOS        = "https://regresos-123.us-central1.run.app/_tasks/process-pdf-back-questions-run"
      DEADLINE_REGRESOS_S = "1800"
    })
    error_message = "The function's environment must be generated from the services map, in the bridge's names."
  }

  # Delivery.
  assert {
    condition     = google_pubsub_subscription.push.topic == google_pubsub_topic.requests.id && google_pubsub_subscription.push.push_config[0].push_endpoint == google_cloudfunctions2_function.bridge["enqueue"].service_config[0].uri && google_pubsub_subscription.push.push_config[0].oidc_token[0].service_account_email == google_service_account.push[0].email
    error_message = "The push subscription must deliver enqueue-requests to the function with the push identity's token."
  }
  assert {
    condition     = google_pubsub_subscription.push.dead_letter_policy[0].dead_letter_topic == google_pubsub_topic.dead_letter.id && google_pubsub_subscription.push.dead_letter_policy[0].max_delivery_attempts == 10
    error_message = "The push subscription must dead-letter to the dead-letter topic after max_delivery_attempts."
  }
  assert {
    condition     = google_pubsub_subscription.push.ack_deadline_seconds >= 3 * tonumber(google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables["TASKS_TIMEOUT_S"])
    error_message = "The push ack deadline must be well above the bridge's Cloud Tasks timeout."
  }
  assert {
    condition     = google_pubsub_subscription.push.retry_policy[0].minimum_backoff == "10s" && google_pubsub_subscription.push.retry_policy[0].maximum_backoff == "600s"
    error_message = "The push subscription must retry with exponential backoff."
  }
  assert {
    condition     = alltrue([for s in google_pubsub_subscription.operator : s.expiration_policy[0].ttl == "" && s.message_retention_duration == "604800s" && length(s.push_config) == 0])
    error_message = "Operator subscriptions must be pull, never expire and retain messages for 7 days."
  }
  assert {
    condition     = google_pubsub_subscription.operator["dead_letter"].topic == google_pubsub_topic.dead_letter.id && google_pubsub_subscription.operator["rejected"].topic == google_pubsub_topic.rejected.id
    error_message = "Each operator subscription must read its own topic."
  }

  # Alerting.
  assert {
    condition     = length(google_monitoring_alert_policy.undelivered) == 2 && strcontains(google_logging_metric.rejected_or_retried.filter, "resource.type=\"cloud_run_revision\"")
    error_message = "Expected a log-based metric and an alert per operator subscription."
  }
}
