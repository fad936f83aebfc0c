#!/bin/bash
# kafka-storage.sh format|info|random-uuid ...: upstream's storage tool.
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
