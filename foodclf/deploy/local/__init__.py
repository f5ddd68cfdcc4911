"""A Deployment played on one machine, to check the simulation against: real TorchServe replicas
under CPU quotas (.cgroups) behind HAProxy (.haproxy), started, joined, drained and stopped by
.replicas, and scaled by the simulation's own HPA functions (.scaling)."""
