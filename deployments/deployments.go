// Package deployments holds what runs fanout outside `make dev` — container images,
// a compose stack, Kubernetes manifests (Kustomize), dashboards and alert rules — and the tests that check
// them offline, with the parsers and API types of the tools that will read them: no
// Docker engine or cluster is needed to know that a file would be refused.
package deployments
