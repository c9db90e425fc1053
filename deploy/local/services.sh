#!/usr/bin/env bash
# Installs (when missing) and starts the local services the platform and its tests use, on a Debian machine
# without systemd: PostgreSQL always; RabbitMQ with --rabbitmq; the Docker engine with --docker (for the Docker
# executor's tests: no registry is needed, they build their image locally from a static busybox). Idempotent:
# running services are left alone.
# Usage: deploy/local/services.sh [--rabbitmq] [--docker]
set -euo pipefail

want_rabbitmq=false
want_docker=false
for arg in "$@"; do
  case "$arg" in
    --rabbitmq) want_rabbitmq=true ;;
    --docker) want_docker=true ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=false
apt_install() {
  if [ "$apt_updated" = false ]; then
    as_root apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL..."
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
    echo "starting PostgreSQL $version..."
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 50); do
    if pg_isready -q -h 127.0.0.1 -p 5432; then break; fi
    sleep 0.2
  done
  # The platform's default connection string uses postgres/postgres on 127.0.0.1.
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  # Many connections: every test host has its own pool.
  local max
  max=$(as_root su postgres -c "psql -tAq -c 'SHOW max_connections'")
  if [ "$max" -lt 500 ]; then
    as_root su postgres -c "psql -q -c 'ALTER SYSTEM SET max_connections = 500'" >/dev/null
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart
    for _ in $(seq 1 50); do
      if pg_isready -q -h 127.0.0.1 -p 5432; then break; fi
      sleep 0.2
    done
  fi
  echo "PostgreSQL is ready on 127.0.0.1:5432"
}

ensure_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "installing RabbitMQ..."
    apt_install rabbitmq-server
  fi
  if ! as_root rabbitmqctl -q status >/dev/null 2>&1; then
    echo "starting RabbitMQ..."
    as_root rabbitmq-server -detached
  fi
  for _ in $(seq 1 60); do
    if as_root rabbitmqctl -q await_startup >/dev/null 2>&1; then
      echo "RabbitMQ is ready on 127.0.0.1:5672"
      return 0
    fi
    sleep 1
  done
  echo "RabbitMQ did not start" >&2
  exit 1
}

ensure_docker() {
  if ! command -v dockerd >/dev/null 2>&1 || ! { [ -x /bin/busybox ] || [ -x /usr/bin/busybox ]; }; then
    echo "installing the Docker engine and a static busybox..."
    apt_install docker.io busybox-static
  fi
  # Engine API 1.41 (Docker 20.10, Debian 12's engine) is what the executor and its tests speak.
  export DOCKER_API_VERSION="${DOCKER_API_VERSION:-1.41}"
  if ! as_root docker info >/dev/null 2>&1; then
    echo "starting dockerd..."
    as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do
    if as_root docker info >/dev/null 2>&1; then
      echo "Docker engine is ready on /var/run/docker.sock"
      return 0
    fi
    sleep 0.5
  done
  echo "dockerd did not start; see /var/log/dockerd.log" >&2
  exit 1
}

ensure_postgres
if [ "$want_rabbitmq" = true ]; then
  ensure_rabbitmq
fi
if [ "$want_docker" = true ]; then
  ensure_docker
fi
