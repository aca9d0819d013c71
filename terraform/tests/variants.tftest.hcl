# Adoption of the old setup, switches, and the inputs the module refuses.

mock_provider "google" {
  source = "./tests/mocks/google"
}

mock_provider "archive" {}

variables {
  services = {
    brain = {
      url = "https://brain-abc-uc.a.run.app/process"
    }
    "new-worker" = {
      url = "https://new-worker-abc-uc.a.run.app/run"
    }
  }
}

run "old_setup_adopted" {
  command = plan

  variables {
    runtime_service_account_email = "enqueuer-api@bridge-test-project.iam.gserviceaccount.com"
    caller_is_runtime             = true
    enable_http_function          = false
    services = {
      brain = {
        url          = "https://brain-abc-uc.a.run.app/process"
        queue        = "queue-brain"
        create_queue = false
      }
    }
  }

  assert {
    condition     = length(google_service_account.runtime) == 0 && length(google_service_account.caller) == 0
    error_message = "An adopted account must not be created again."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables["CALLER_SA"] == "enqueuer-api@bridge-test-project.iam.gserviceaccount.com" && google_cloudfunctions2_function.bridge["enqueue"].service_config[0].service_account_email == "enqueuer-api@bridge-test-project.iam.gserviceaccount.com"
    error_message = "One account for runtime and CALLER_SA, as the old enqueuer had."
  }
  assert {
    condition     = google_service_account_iam_member.caller_act_as.service_account_id == "projects/bridge-test-project/serviceAccounts/enqueuer-api@bridge-test-project.iam.gserviceaccount.com" && google_service_account_iam_member.caller_act_as.member == "serviceAccount:enqueuer-api@bridge-test-project.iam.gserviceaccount.com"
    error_message = "The old README's actAs binding of the account on itself must be kept."
  }
  assert {
    condition     = length(google_cloud_tasks_queue.service) == 0 && google_cloud_tasks_queue_iam_member.enqueuer["brain"].name == "queue-brain"
    error_message = "An existing queue (create_queue = false) is not managed, but still gets the enqueuer binding."
  }
  assert {
    condition     = !contains(keys(google_cloudfunctions2_function.bridge), "enqueue_http") && length(google_cloud_run_v2_service_iam_member.http_invoker) == 0
    error_message = "The HTTP function must be switchable off."
  }
}

run "http_function_without_callers_is_internal_only" {
  command = plan

  variables {
    http_invoker_members = []
  }

  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue_http"].service_config[0].ingress_settings == "ALLOW_INTERNAL_ONLY"
    error_message = "With no caller listed, the HTTP function's default ingress must be the narrowest: internal only."
  }
}

run "http_ingress_can_be_chosen" {
  command = plan

  variables {
    http_invoker_members = []
    http_ingress         = "ALLOW_INTERNAL_AND_GCLB"
  }

  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue_http"].service_config[0].ingress_settings == "ALLOW_INTERNAL_AND_GCLB"
    error_message = "An explicit http_ingress wins."
  }
}

run "derived_suffix" {
  command = plan

  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables["BRIDGE_SERVICES"] == "brain:BRAIN,new-worker:NEW_WORKER"
    error_message = "A service without env_suffix gets upper(replace(name, \"-\", \"_\"))."
  }
  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables["QUEUE_NEW_WORKER"] == "queue-new-worker" && !contains(keys(google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables), "AUD_NEW_WORKER") && !contains(keys(google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables), "MAX_BODY_BYTES")
    error_message = "Optional variables are left to the bridge's defaults when not given."
  }
}

run "rejects_public_http_invoker" {
  command = plan

  variables {
    http_invoker_members = ["allUsers"]
  }

  expect_failures = [var.http_invoker_members]
}

run "rejects_public_publisher" {
  command = plan

  variables {
    publisher_members = ["allAuthenticatedUsers"]
  }

  expect_failures = [var.publisher_members]
}

run "rejects_deadline_out_of_range" {
  command = plan

  variables {
    services = {
      brain = {
        url        = "https://brain-abc-uc.a.run.app/process"
        deadline_s = 3600
      }
    }
  }

  expect_failures = [var.services]
}

run "rejects_duplicate_suffix" {
  command = plan

  variables {
    services = {
      brain = {
        url = "https://brain-abc-uc.a.run.app/process"
      }
      cerebro = {
        url        = "https://cerebro-abc-uc.a.run.app/process"
        env_suffix = "BRAIN"
      }
    }
  }

  expect_failures = [var.services]
}

run "rejects_plain_http_worker" {
  command = plan

  variables {
    services = {
      brain = {
        url = "http://brain-abc-uc.a.run.app/process"
      }
    }
  }

  expect_failures = [var.services]
}

run "rejects_ack_deadline_below_tasks_timeout" {
  command = plan

  variables {
    tasks_timeout_s     = 30
    push_ack_deadline_s = 60
  }

  expect_failures = [var.push_ack_deadline_s]
}
