# Certificates and kubeconfigs of the test cluster (openssl, ECDSA P-256).
# Sourced by `up` after lib.sh. Files are made once per state folder and kept.

# PKCS#8 ("BEGIN PRIVATE KEY") ECDSA P-256 keys: read by Go, rustls and openssl alike
pki_key() { [ -f "$1" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# pki_cert NAME SUBJECT EKU [SAN]
pki_cert() {
  local name="$1" subj="$2" eku="$3" san="${4:-}"
  [ -f "$PKI/$name.crt" ] && return 0
  pki_key "$PKI/$name.key"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

# kubeconfig FILE USER CERTNAME
kubeconfig() {
  local file="$1" user="$2" cert="$3"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: devspaces
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
- name: devspaces
  context:
    cluster: devspaces
    user: $user
current-context: devspaces
EOF
  chmod 600 "$file"
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  # the CA's subject says which addresses it was made for, so a change of the
  # network layout regenerates everything
  local stamp="pki-v2 $NODE_IP $KUBERNETES_SERVICE_IP $NODE_NAME"
  if [ "$(cat "$PKI/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -f "$PKI"/*
  fi
  if [ ! -f "$PKI/ca.crt" ]; then
    pki_key "$PKI/ca.key"
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=devspaces-test-cluster-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  pki_cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  pki_cert kubelet "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
  pki_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  pki_cert admin "/O=system:masters/CN=devspaces-admin" clientAuth
  pki_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  pki_cert scheduler "/CN=system:kube-scheduler" clientAuth
  pki_cert kube-proxy "/CN=system:kube-proxy" clientAuth
  pki_cert coredns "/CN=system:coredns" clientAuth
  if [ ! -f "$PKI/sa.key" ]; then
    pki_key "$PKI/sa.key"
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  echo "$stamp" >"$PKI/stamp"
  kubeconfig "$KUBECONFIG_ADMIN" devspaces-admin admin
  kubeconfig "$STATE/config/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet-client
  kubeconfig "$STATE/config/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  kubeconfig "$STATE/config/scheduler.kubeconfig" system:kube-scheduler scheduler
  kubeconfig "$STATE/config/kube-proxy.kubeconfig" system:kube-proxy kube-proxy
  kubeconfig "$STATE/config/coredns.kubeconfig" system:coredns coredns
}
