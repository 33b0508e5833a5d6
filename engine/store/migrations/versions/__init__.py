"""Schema revisions, oldest first by ``down_revision``: each file is one step."""
