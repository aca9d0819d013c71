terraform {
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

  # Keep state in a bucket (cloudbuild.yaml passes it with -backend-config="bucket=...").
  # backend "gcs" {}
}
