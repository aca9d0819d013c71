# A deployment unlike the example: a fifth service with a derived suffix, explicit audiences,
# MAX_BODY_BYTES, a non-default Cloud Tasks timeout and region.
project_id        = "another-project-1"
region            = "europe-west1"
tasks_region      = "europe-west3"
tasks_timeout_s   = 15
max_body_bytes    = 500000
caller_is_runtime = true

services = {
  brain = {
    url        = "https://brain-abc-ew.a.run.app/process"
    env_suffix = "BRAIN"
    audience   = "https://brain-abc-ew.a.run.app"
  }
  "nuevo-worker" = {
    url        = "https://nuevo-worker-abc-ew.a.run.app/run"
    deadline_s = 60
  }
}
