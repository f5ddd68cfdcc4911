"""Stage 7, Kubernetes: the deployments' manifests and the HPA simulation that predicts them."""
