"""Stage 6, load tests: siege-like closed-loop profiles run by locust, with the server's CPU and
memory sampled beside them, summarised in loadtest.json."""
