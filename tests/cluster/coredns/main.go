// The test cluster's DNS server: CoreDNS (the version in go.mod), its own
// coremain, linked with only the plugins the Corefile written by
// tests/cluster/up uses. CoreDNS's own main links every plugin, cloud SDKs
// included; registering a subset is how CoreDNS builds with a chosen plugin set
// (core/dnsserver's Directives keep the upstream order).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
