// Wrapper module: the test cluster's DNS server, CoreDNS built from the published
// github.com/coredns/coredns module with only the plugins tests/cluster/up's
// Corefile uses (main.go). Built and cached by tests/cluster/build.
module devspaces.test/cluster/coredns

go 1.26.0

require github.com/coredns/coredns v1.15.0
