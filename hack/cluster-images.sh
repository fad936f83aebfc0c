#!/usr/bin/env bash
# Builds the images the cluster of hack/cluster-up.sh runs and pushes them to
# its registry (127.0.0.1:15000), with no image registry on the internet:
#
#   cluster/pause:3.10                 hack/tools/cluster/pause (static Go), the sandbox image
#   cluster/coredns:1.15.0             CoreDNS built by hack/k8s-tools.sh
#   cluster/busybox:1.35.0             Debian's busybox-static (with OpenBSD netcat, dash): the
#                                      services' wait-for-database init containers and the
#                                      helm test pods (busybox:1.37.0 upstream) need sh,
#                                      nc -z and wget
#   vidstream/<service>:<tag>          user, video, watch-history, topic-operator (and
#                                      transcoder, once services/transcoder exists):
#                                      hack/build-service.sh, the binary the Dockerfile's
#                                      build stage makes, on a distroless-like base
#                                      (passwd with nonroot 65532, CA certificates, /tmp),
#                                      with the Dockerfile's user, env, workdir and ports
#   cluster/jaeger:2.13.0              Jaeger built by hack/k8s-tools.sh (module v1.76.0), on
#                                      Debian's glibc (it is built with cgo, as `make run` builds it)
#   cluster/otel-collector:0.165.0     the collector hack/k8s-tools.sh builds (otelcol-vidstream)
#   cluster/kafka:4.4.0                Debian's JRE (debootstrap) + the jars hack/kafka.sh
#                                      assembles from Maven Central + k8s/cluster/images/kafka
#   cluster/postgresql:15              Debian's PostgreSQL 15 (debootstrap) +
#                                      k8s/cluster/images/postgresql (an entrypoint that
#                                      does what the chart needs of the official image's)
#   cluster/rabbitmq:3.10.8            Debian's RabbitMQ (debootstrap; the rabbitmq user
#                                      renumbered to 999 as in the official image) +
#                                      k8s/cluster/images/rabbitmq (its entrypoint)
#   cluster/redis:7.0.15               Debian's Redis (debootstrap; the redis user
#                                      renumbered to 999:1000 as in the official alpine
#                                      image); the chart runs redis-server itself
#
# Each image is assembled FROM scratch out of layer tarballs by
# `vidstream-cluster image` (deterministic: same inputs, same digest, and a
# push of an unchanged layer moves nothing). The Debian root filesystems are
# cached in .cache/cluster/cache/rootfs, keyed by what goes into them; the
# first build of each takes a few minutes (downloads from the Debian mirror
# apt uses).
#
# Writes each image's digest to .cache/cluster/run/images/<name> and a Helm
# values file pinning the chart's images to them,
# .cache/cluster/run/images/values.yaml.
#
# Usage: hack/cluster-images.sh [IMAGE...]   (default: all; names as above
#        without repository: pause coredns busybox user video watch-history
#        topic-operator transcoder jaeger otel-collector kafka postgresql
#        rabbitmq redis)
#        hack/cluster-images.sh --to REF SERVICE   (one service image, pushed
#        to REF: skaffold's custom builder, hack/skaffold-build.sh)
set -euo pipefail

# shellcheck source=hack/cluster/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"

all=(pause coredns busybox user video watch-history topic-operator jaeger otel-collector kafka postgresql rabbitmq redis)
# The transcoder joins once its code exists (it is built like the others).
if [[ -f "$root/services/transcoder/main.go" ]]; then
	all+=(transcoder)
fi
work="$state/images"
layers="$work/layers"

# mktar DIR OUT: DIR as a layer tarball, reproducibly (sorted, epoch
# mtimes, numeric owners as they are in DIR).
mktar() {
	tar --sort=name --mtime=@0 --numeric-owner --format=gnu -C "$1" -cf "$2" .
}

# push NAME REF ARGS...: assemble and push; record the digest under NAME.
push() {
	local name="$1" ref="$2" out
	shift 2
	out="$("$bin/vidstream-cluster" image -o "$ref" "$@")"
	echo "${out##*@}" >"$work/digests/$name"
	log "image $ref ${out##*@}"
}

# A minimal root like distroless/static's: users, groups, CA certificates,
# a world-writable /tmp and the nonroot user's home.
static_base() {
	local dir="$work/base" out="$layers/static-base.tar"
	[[ -f "$out" ]] && return 0
	rm -rf "$dir"
	mkdir -p "$dir/etc/ssl/certs" "$dir/tmp" "$dir/home/nonroot"
	cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
otel:x:10001:10001:otel:/tmp:/sbin/nologin
EOF
	cat >"$dir/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
otel:x:10001:
EOF
	echo "hosts: files dns" >"$dir/etc/nsswitch.conf"
	cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
	chmod 1777 "$dir/tmp"
	chown 65532:65532 "$dir/home/nonroot"
	mktar "$dir" "$out"
	rm -rf "$dir"
}

# file_layer OUT SRC DEST [MODE]: a layer holding one file.
file_layer() {
	local dir="$work/file.$$"
	rm -rf "$dir"
	mkdir -p "$dir/$(dirname "$3")"
	install -m "${4:-0755}" -o 0 -g 0 "$2" "$dir/$3"
	mktar "$dir" "$1"
	rm -rf "$dir"
}

image_pause() {
	file_layer "$layers/pause.tar" "$bin/pause" /pause
	push pause "$registry_addr/cluster/pause:3.10" -layer "$layers/pause.tar" \
		-entrypoint /pause -user 65535:65535
}

image_coredns() {
	file_layer "$layers/coredns.tar" "$bin/coredns" /coredns
	push coredns "$registry_addr/cluster/coredns:1.15.0" -layer "$layers/coredns.tar" \
		-entrypoint /coredns
}

# Debian's busybox (linked to the glibc that comes along, so that name
# lookups work; the static build crashes in them) has no `nc -z` (the services' wait-for-database
# init containers use it), so Debian's OpenBSD netcat and the libraries it
# links come along, unpacked from their packages; and dash is /bin/sh,
# because busybox's shell runs its own nc applet whatever PATH says.
busybox_debs=(busybox netcat-openbsd libbsd0 libmd0 libc6 dash)

image_busybox() {
	local dir="$work/stage-busybox" pkg applet
	rm -rf "$dir"
	mkdir -p "$dir/root/bin" "$dir/root/tmp"
	for pkg in "${busybox_debs[@]}"; do
		dpkg-deb -x "$(deb_file "$pkg")" "$dir/root"
	done
	rm -rf "$dir"/root/usr/share/{doc,man,lintian,locale} "$dir"/root/etc/ld.so.conf.d
	ln -sf nc.openbsd "$dir/root/bin/nc"
	ln -sf dash "$dir/root/bin/sh"
	install -m 0755 "$root/k8s/cluster/images/busybox/wget" "$dir/root/bin/wget"
	for applet in $("$dir/root/bin/busybox" --list); do
		[[ -e "$dir/root/bin/$applet" || -L "$dir/root/bin/$applet" ]] || ln -s busybox "$dir/root/bin/$applet"
	done
	chmod 1777 "$dir/root/tmp"
	mktar "$dir/root" "$layers/busybox.tar"
	rm -rf "$dir"
	push busybox "$registry_addr/cluster/busybox:1.35.0" -layer "$layers/busybox.tar" \
		-env PATH=/bin:/usr/bin -cmd sh
}

# image_service NAME: as the Dockerfile builds it.
image_service() {
	local name="$1" version commit
	version="$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)"
	commit="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
	static_base
	VERSION="$version" COMMIT="$commit" GOFLAGS=-mod=readonly "$root/hack/build-service.sh" "$name" "$work/$name.bin"
	file_layer "$layers/$name.tar" "$work/$name.bin" /service
	rm -f "$work/$name.bin"
	push "$name" "${to:-$registry_addr/vidstream/$name:cluster}" \
		-layer "$layers/static-base.tar" -layer "$layers/$name.tar" \
		-entrypoint /service -user 65532:65532 -workdir /home/nonroot \
		-env PATH=/usr/local/bin:/usr/bin:/bin -env HTTP_ADDR=:8080 -env GRPC_ADDR=:9090 \
		-port 8080/tcp -port 9090/tcp \
		-label "org.opencontainers.image.title=vidstream-$name" \
		-label "org.opencontainers.image.version=$version" -label "org.opencontainers.image.revision=$commit"
}

# deb_file PACKAGE: the package's .deb, downloaded once into the cache.
deb_file() {
	local deb
	mkdir -p "$cache/debs"
	deb="$(find "$cache/debs" -name "${1}_*.deb" | sort | tail -n1)"
	if [[ -z "$deb" ]]; then
		(cd "$cache/debs" && apt-get download "$1" >&2)
		deb="$(find "$cache/debs" -name "${1}_*.deb" | sort | tail -n1)"
	fi
	echo "$deb"
}

# glibc from Debian's libc6, for binaries built with cgo (as distroless/base
# carries it): Jaeger is built the way `make run` builds it, which links the
# C library for the resolver.
glibc_base() {
	local dir="$work/stage-glibc" out="$layers/glibc.tar"
	[[ -f "$out" ]] && return 0
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg-deb -x "$(deb_file libc6)" "$dir"
	rm -rf "$dir"/usr/share "$dir"/usr/bin "$dir"/usr/sbin "$dir"/sbin "$dir"/etc/ld.so.conf.d "$dir"/usr/lib/*/gconv
	mktar "$dir" "$out"
	rm -rf "$dir"
}

image_jaeger() {
	static_base
	glibc_base
	file_layer "$layers/jaeger.tar" "$bin/jaeger" /jaeger
	push jaeger "$registry_addr/cluster/jaeger:2.13.0" -layer "$layers/static-base.tar" -layer "$layers/glibc.tar" -layer "$layers/jaeger.tar" \
		-entrypoint /jaeger -user 10001:10001 -port 16686/tcp -port 4317/tcp -port 4318/tcp
}

image_otel_collector() {
	static_base
	file_layer "$layers/otelcol.tar" "$bin/otelcol-vidstream" /otelcol
	push otel-collector "$registry_addr/cluster/otel-collector:0.165.0" \
		-layer "$layers/static-base.tar" -layer "$layers/otelcol.tar" \
		-entrypoint /otelcol -user 10001:10001 -port 4317/tcp -port 4318/tcp
}

# debian_mirror: the Debian archive apt on this machine uses.
debian_mirror() {
	local m
	m="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)"
	[[ -n "$m" ]] || m="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)"
	[[ -n "$m" ]] || die "no Debian mirror in apt's sources; set DEBIAN_MIRROR"
	echo "$m"
}

# rootfs NAME PACKAGES CUSTOMIZE_FUNCTION: a Debian (minbase) root
# filesystem with PACKAGES, changed by CUSTOMIZE_FUNCTION DIR, as a layer
# tarball; cached by everything that goes into it.
rootfs() {
	local name="$1" packages="$2" customize="$3" suite key out dir mirror
	suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
	mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
	key="$({
		echo "$suite $packages"
		declare -f rootfs "$customize"
	} | sha256sum | cut -c1-16)"
	out="$cache/rootfs/$name-$key.tar"
	if [[ -f "$out" ]]; then
		echo "$out"
		return 0
	fi
	command -v debootstrap >/dev/null || {
		log "installing debootstrap ..."
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
	}
	dir="$cache/rootfs/$name.build"
	rm -rf "$dir"
	mkdir -p "$dir" "$cache/debs"
	log "debootstrap $suite for $name ($packages) ..."
	local t=$SECONDS
	debootstrap --variant=minbase --include="$packages" --cache-dir="$cache/debs" \
		"$suite" "$dir" "$mirror" >"$cache/rootfs/$name.log" 2>&1 || {
		tail -n 30 "$cache/rootfs/$name.log" >&2
		die "debootstrap for $name failed (log: $cache/rootfs/$name.log)"
	}
	"$customize" "$dir"
	# What a container does not need: package caches and lists,
	# documentation, the device nodes (the runtime mounts /dev).
	rm -rf "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/* \
		"$dir"/usr/share/info/* "$dir"/var/log/* "$dir"/dev/* "$dir"/proc/* "$dir"/sys/* "$dir"/run/*
	rm -f "$cache/rootfs/$name"-*.tar
	mktar "$dir" "$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$dir"
	log "$name root filesystem: $(du -h "$out" | cut -f1) in $((SECONDS - t))s"
	echo "$out"
}

# The apache/kafka image's user, whose uid the chart runs as.
customize_kafka() {
	chroot "$1" /usr/sbin/groupadd --gid 1000 appuser
	chroot "$1" /usr/sbin/useradd --uid 1000 --gid 1000 --no-create-home --home-dir /opt/kafka --shell /bin/bash appuser
}

# The official postgres image's uid and gid (the chart runs as 70:70),
# instead of the ones Debian's package picked.
customize_postgresql() {
	local dir="$1" uid gid
	uid="$(awk -F: '$1 == "postgres" {print $3}' "$dir/etc/passwd")"
	gid="$(awk -F: '$1 == "postgres" {print $3}' "$dir/etc/group")"
	sed -i -E "s/^postgres:x:$uid:$gid:/postgres:x:70:70:/" "$dir/etc/passwd"
	sed -i -E "s/^postgres:x:$gid:/postgres:x:70:/" "$dir/etc/group"
	find "$dir" -xdev -uid "$uid" -exec chown -h 70 {} +
	find "$dir" -xdev -gid "$gid" -exec chgrp -h 70 {} +
	# The package's own cluster (the entrypoint makes one in $PGDATA), the
	# LLVM JIT (a third of the image; PostgreSQL turns JIT off without it)
	# and locale sources.
	rm -rf "$dir"/var/lib/postgresql/15/main "$dir"/etc/postgresql/15/main \
		"$dir"/usr/lib/postgresql/15/lib/llvmjit* "$dir"/usr/lib/postgresql/15/lib/bitcode \
		"$dir"/usr/lib/x86_64-linux-gnu/libLLVM-* "$dir"/usr/lib/x86_64-linux-gnu/libz3.so.* \
		"$dir"/usr/share/i18n/locales
}

image_kafka() {
	local base dir="$work/stage-kafka"
	base="$(rootfs kafka "openjdk-17-jre-headless,bash" customize_kafka)"
	"$root/hack/kafka.sh" assemble >&2
	rm -rf "$dir"
	mkdir -p "$dir/opt/kafka/libs" "$dir/opt/kafka/bin"
	cp "$root"/hack/kafka/lib/*.jar "$dir/opt/kafka/libs/"
	install -m 0755 "$root"/k8s/cluster/images/kafka/bin/*.sh "$dir/opt/kafka/bin/"
	mktar "$dir" "$layers/kafka.tar"
	rm -rf "$dir"
	push kafka "$registry_addr/cluster/kafka:4.4.0" -layer "$base" -layer "$layers/kafka.tar" \
		-user 1000:1000 -workdir /opt/kafka -env PATH=/opt/kafka/bin:/usr/local/bin:/usr/bin:/bin \
		-env LANG=C.UTF-8 -port 9092/tcp
}

image_postgresql() {
	local base dir="$work/stage-postgresql"
	base="$(rootfs postgresql "postgresql-15" customize_postgresql)"
	rm -rf "$dir"
	mkdir -p "$dir/usr/local/bin" "$dir/docker-entrypoint-initdb.d"
	install -m 0755 "$root/k8s/cluster/images/postgresql/docker-entrypoint.sh" "$dir/usr/local/bin/"
	mktar "$dir" "$layers/postgresql.tar"
	rm -rf "$dir"
	push postgresql "$registry_addr/cluster/postgresql:15" -layer "$base" -layer "$layers/postgresql.tar" \
		-entrypoint docker-entrypoint.sh -cmd postgres -user 70:70 \
		-env PATH=/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/bin:/bin -env LANG=C.UTF-8 \
		-env PGDATA=/var/lib/postgresql/15/docker -port 5432/tcp
}

# The official rabbitmq image's uid and gid (the chart runs as 999:999),
# instead of the ones Debian's package picked; the package's own data and
# logs go (the broker makes its data in the volume the chart mounts).
customize_rabbitmq() {
	local dir="$1" uid gid
	uid="$(awk -F: '$1 == "rabbitmq" {print $3}' "$dir/etc/passwd")"
	gid="$(awk -F: '$1 == "rabbitmq" {print $3}' "$dir/etc/group")"
	sed -i -E "s/^rabbitmq:x:$uid:$gid:/rabbitmq:x:999:999:/" "$dir/etc/passwd"
	sed -i -E "s/^rabbitmq:x:$gid:/rabbitmq:x:999:/" "$dir/etc/group"
	find "$dir" -xdev -uid "$uid" -exec chown -h 999 {} +
	find "$dir" -xdev -gid "$gid" -exec chgrp -h 999 {} +
	rm -rf "$dir"/var/lib/rabbitmq/* "$dir"/var/lib/rabbitmq/.erlang.cookie "$dir"/var/log/rabbitmq/*
}

image_rabbitmq() {
	local base dir="$work/stage-rabbitmq"
	base="$(rootfs rabbitmq "rabbitmq-server" customize_rabbitmq)"
	rm -rf "$dir"
	mkdir -p "$dir/usr/local/bin"
	install -m 0755 "$root/k8s/cluster/images/rabbitmq/docker-entrypoint.sh" "$dir/usr/local/bin/"
	mktar "$dir" "$layers/rabbitmq.tar"
	rm -rf "$dir"
	push rabbitmq "$registry_addr/cluster/rabbitmq:3.10.8" -layer "$base" -layer "$layers/rabbitmq.tar" \
		-entrypoint docker-entrypoint.sh -cmd rabbitmq-server -user 999:999 -workdir /var/lib/rabbitmq \
		-env PATH=/usr/local/bin:/usr/lib/rabbitmq/bin:/usr/bin:/bin -env LANG=C.UTF-8 \
		-env RABBITMQ_DATA_DIR=/var/lib/rabbitmq -env HOME=/var/lib/rabbitmq -env RABBITMQ_LOGS=- \
		-port 5672/tcp
}

# The official alpine redis image's uid and gid (the chart runs as
# 999:1000), and its working directory /data.
customize_redis() {
	local dir="$1" uid gid
	uid="$(awk -F: '$1 == "redis" {print $3}' "$dir/etc/passwd")"
	gid="$(awk -F: '$1 == "redis" {print $3}' "$dir/etc/group")"
	sed -i -E "s/^redis:x:$uid:$gid:/redis:x:999:1000:/" "$dir/etc/passwd"
	sed -i -E "s/^redis:x:$gid:/redis:x:1000:/" "$dir/etc/group"
	find "$dir" -xdev -uid "$uid" -exec chown -h 999 {} +
	find "$dir" -xdev -gid "$gid" -exec chgrp -h 1000 {} +
	mkdir -p "$dir/data"
	chown 999:1000 "$dir/data"
	rm -rf "$dir"/var/lib/redis/* "$dir"/var/log/redis/*
}

# The chart starts redis-server itself (its configuration on standard
# input) and probes with redis-cli: no entrypoint of the official image's
# is involved.
image_redis() {
	local base
	base="$(rootfs redis "redis-server" customize_redis)"
	push redis "$registry_addr/cluster/redis:7.0.15" -layer "$base" \
		-cmd redis-server -user 999:1000 -workdir /data \
		-env PATH=/usr/local/bin:/usr/bin:/bin -env LANG=C.UTF-8 -port 6379/tcp
}

# values_file: a Helm values file pinning every image of the chart to what
# was pushed (the repositories are in k8s/cluster/values.yaml).
values_file() {
	local d video_queue transcoder
	d() { cat "$work/digests/$1" 2>/dev/null || true; }
	if [[ -f "$root/services/transcoder/main.go" ]]; then
		video_queue=""
		transcoder="{image: {digest: \"$(d transcoder)\"}}"
	else
		# No transcoder yet: nothing would consume the work queue, so
		# video does not enqueue (new videos are ready at once).
		video_queue=", rabbitmq: {enabled: false}"
		transcoder="{enabled: false}"
	fi
	cat >"$work/values.yaml" <<EOF
# Written by hack/cluster-images.sh: the digests it pushed.
user: {image: {digest: "$(d user)"}}
video: {image: {digest: "$(d video)"}$video_queue}
watch-history: {image: {digest: "$(d watch-history)"}}
transcoder: $transcoder
global: {topicOperator: {image: {digest: "$(d topic-operator)"}}}
kafka: {image: {digest: "$(d kafka)"}}
postgresql: {image: {digest: "$(d postgresql)"}}
rabbitmq: {image: {digest: "$(d rabbitmq)"}}
redis: {image: {digest: "$(d redis)"}}
jaeger: {image: {digest: "$(d jaeger)"}}
otel-collector: {image: {digest: "$(d otel-collector)"}}
EOF
}

main() {
	to=
	if [[ "${1:-}" == --to ]]; then
		# One service image, to a reference of the caller's (skaffold's).
		to="$2"
		shift 2
		[[ $# == 1 && "$1" =~ ^(user|video|watch-history|topic-operator|transcoder)$ ]] || die "--to REF takes one service"
	fi
	local selected=("$@") name
	((${#selected[@]})) || selected=("${all[@]}")
	mkdir -p "$layers" "$work/digests" "$cache/rootfs"
	curl -fsS "http://$registry_addr/v2/" >/dev/null || die "no registry on $registry_addr: hack/cluster-up.sh first"
	local t=$SECONDS
	for name in "${selected[@]}"; do
		case "$name" in
		pause | coredns | busybox | jaeger | kafka | postgresql | rabbitmq | redis) "image_$name" ;;
		otel-collector) image_otel_collector ;;
		user | video | watch-history | topic-operator | transcoder) image_service "$name" ;;
		*) die "unknown image $name (want: ${all[*]})" ;;
		esac
	done
	[[ -n "$to" ]] || values_file
	log "images pushed in $((SECONDS - t))s"
}

main "$@"
