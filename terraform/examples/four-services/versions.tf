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

  # State in a bucket: terraform init -backend-config=bucket=BUCKET -backend-config=prefix=enqueue-bridge
  backend "gcs" {}
}
