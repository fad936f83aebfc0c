# shellcheck shell=bash
# Certificates and kubeconfigs of one cluster run, made fresh by
# hack/cluster-up.sh with openssl (sourced after common.sh). Nothing is
# reused between runs: the CA's key dies with the cluster.
#
# Identities follow kubeadm's, so that RBAC and the Node authorizer see
# what they see in any cluster:
#   admin                      O=system:masters             kubectl, helm, the tests
#   kubelet                    O=system:nodes, CN=system:node:<node>   (Node authorizer)
#   kube-controller-manager    CN=system:kube-controller-manager
#   kube-scheduler             CN=system:kube-scheduler
#   kube-proxy                 CN=system:kube-proxy         (system:node-proxier)
#   apiserver-kubelet-client   O=system:masters             the API server calling kubelets

pki_generate() {
	local dir="$state/pki" ip
	ip="$(node_ip)"
	mkdir -p "$dir"
	(
		cd "$dir"
		umask 077
		openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
		openssl req -x509 -new -key ca.key -out ca.crt -days 30 -subj "/CN=vidstream-cluster-ca" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		pki_sign apiserver "/CN=kube-apiserver" \
			"DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$api_service_ip,IP:$ip"
		pki_sign admin "/O=system:masters/CN=admin"
		pki_sign kubelet "/O=system:nodes/CN=system:node:$node_name"
		pki_sign kube-controller-manager "/CN=system:kube-controller-manager"
		pki_sign kube-scheduler "/CN=system:kube-scheduler"
		pki_sign kube-proxy "/CN=system:kube-proxy"
		pki_sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
		# Service account tokens are signed with this key pair.
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		rm -f ./*.csr ./*.ext ca.srl
	)
	local who
	for who in admin kubelet kube-controller-manager kube-scheduler kube-proxy; do
		pki_kubeconfig "$who"
	done
}

# pki_sign NAME SUBJECT [SANS]: a key and a certificate signed by the CA;
# with SANS a server (and client) certificate, without a client one.
pki_sign() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
	openssl req -new -key "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [[ -n "${3:-}" ]]; then
			echo "subjectAltName=$3"
			echo "extendedKeyUsage=serverAuth,clientAuth"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 \
		-extfile "$1.ext" 2>/dev/null
}

# pki_kubeconfig NAME: NAME.kubeconfig, connecting with NAME's certificate.
pki_kubeconfig() {
	local dir="$state/pki"
	cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: vidstream-cluster
    cluster:
      server: https://127.0.0.1:$apiserver_port
      certificate-authority: $dir/ca.crt
users:
  - name: $1
    user:
      client-certificate: $dir/$1.crt
      client-key: $dir/$1.key
contexts:
  - name: vidstream-cluster
    context:
      cluster: vidstream-cluster
      user: $1
current-context: vidstream-cluster
EOF
	chmod 600 "$dir/$1.kubeconfig"
}
