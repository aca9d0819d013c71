terraform {
  # 1.7: mock_provider and override_* in terraform test; 1.9: cross-variable validation.
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 8.7, < 9"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3"
    }
  }
}
