// pause: the sandbox process of every pod on the devspaces test cluster.
// It holds the pod's namespaces open, reaps orphaned children (it is PID 1
// of the pod when the PID namespace is shared), and exits on SIGINT/SIGTERM.
// Built statically (CGO_ENABLED=0) so it runs in a FROM-scratch image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		switch s {
		case syscall.SIGCHLD:
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		default:
			os.Exit(0)
		}
	}
}
