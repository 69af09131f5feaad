// Package deploy holds no code: its folder holds the deployment files
// (Dockerfile, Kubernetes manifests, systemd unit, Prometheus and Grafana
// configuration), and its tests check them, together with the repository's
// docker-compose.yml, .env.example and .dockerignore, against the code: the
// environment variables notifyd reads, its HTTP paths and port, its metrics
// and the binaries the Dockerfile builds. No Docker engine or cluster is
// needed; kubectl and systemd-analyze are used when they are on PATH.
//
// See README.md in this folder for how to deploy.
package deploy
