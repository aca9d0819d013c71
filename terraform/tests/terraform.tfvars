# The project every test file in this directory deploys into: terraform test loads this file.
project_id = "bridge-test-project"
