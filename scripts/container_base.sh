#!/usr/bin/env bash
# The base image tests/deploy/test_container.py builds Sésame's image on (called by .ci/run).
# The Containerfile's default base is the official python:3.11-slim-bookworm; where no registry
# answers (the project's CI machines), a stand-in is made from Debian 12 with debootstrap — its
# python3 is 3.11 with the venv module, what the Containerfile asks of a base — and imported into
# podman as localhost/sesame-test-base:bookworm. Nothing is done when podman is missing.
set -euo pipefail
official=docker.io/library/python:3.11-slim-bookworm
stand_in=localhost/sesame-test-base:bookworm
command -v podman >/dev/null 2>&1 || { echo "container_base: no podman" >&2; exit 0; }
podman image exists "$official" && exit 0
podman image exists "$stand_in" && exit 0
if timeout 120 podman pull -q "$official" >/dev/null 2>&1; then exit 0; fi
echo "container_base: $official cannot be pulled; making $stand_in with debootstrap" >&2
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" \
    http://deb.debian.org/debian >/dev/null
tar -C "$rootfs" -c . | podman import -q - "$stand_in" >/dev/null
echo "container_base: $stand_in ready" >&2
