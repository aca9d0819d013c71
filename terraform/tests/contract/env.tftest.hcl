# The function's environment for a given tfvars file, applied against mocks whose computed values
# look real (emails, topic ids), so that tests/terraform can hand the generated environment to the
# bridge's own configuration loader. Run by tests/terraform/test_env_contract.py with
# -test-directory=tests/contract -var-file=...; it sets no variables of its own.

mock_provider "google" {
  source = "./tests/mocks/google"
  mock_resource "google_service_account" {
    defaults = {
      email = "mocked-sa@mocked-project.iam.gserviceaccount.com"
    }
  }
  mock_resource "google_pubsub_topic" {
    defaults = {
      id = "projects/mocked-project/topics/mocked-rejected"
    }
  }
}

mock_provider "archive" {}

run "env" {
  command = apply

  assert {
    condition     = google_cloudfunctions2_function.bridge["enqueue"].service_config[0].environment_variables == tomap(output.function_environment)
    error_message = "The function's environment must be the one the module reports."
  }
}
