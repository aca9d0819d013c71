terraform {
  required_version = ">= 1.9"

  # The example configures google; the module's own versions.tf bounds google and archive.
  required_providers {
    google = {
      source = "hashicorp/google"
    }
  }

  # State in a bucket: terraform init -backend-config=bucket=BUCKET -backend-config=prefix=enqueue-bridge
  backend "gcs" {}
}
