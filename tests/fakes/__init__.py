"""Contract fakes of provider APIs, served over HTTP on 127.0.0.1 for the real client libraries."""
