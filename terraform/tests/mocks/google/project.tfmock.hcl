# The project every test deploys into: its number builds the service agents' emails.
mock_data "google_project" {
  defaults = {
    number = "123456789012"
  }
}
