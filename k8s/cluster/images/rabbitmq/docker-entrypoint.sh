#!/bin/bash
# Entrypoint of the cluster's RabbitMQ image (hack/cluster-images.sh): what
# the chart relies on of the official image's docker-entrypoint.sh. The
# broker itself reads the rest: RABBITMQ_DEFAULT_USER and
# RABBITMQ_DEFAULT_PASS (the user it creates on its first start),
# RABBITMQ_NODENAME, RABBITMQ_CONFIG_FILE and RABBITMQ_ENABLED_PLUGINS_FILE.
#
#   - refuses to run as root (the chart runs it as 999, the official
#     image's "rabbitmq" user, which this image's is renumbered to)
#   - HOME is the data directory, where the Erlang cookie the CLI tools of
#     the probes authenticate with is created
#   - short node names unless the host name is a long one, as the official
#     image decides
#   - then exec the command (rabbitmq-server) in the foreground
set -Eeuo pipefail

if [[ "$(id -u)" == 0 ]]; then
	echo "docker-entrypoint.sh: refusing to run RabbitMQ as root; run as the rabbitmq user (999)" >&2
	exit 1
fi
: "${RABBITMQ_DATA_DIR:=/var/lib/rabbitmq}"
export HOME="${HOME:-$RABBITMQ_DATA_DIR}"
if [[ -z "${RABBITMQ_USE_LONGNAME:-}" && "$(hostname)" != "$(hostname -s)" ]]; then
	export RABBITMQ_USE_LONGNAME=true
fi
exec "$@"
