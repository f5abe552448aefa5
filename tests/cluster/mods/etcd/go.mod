// Wrapper module: builds etcd 3.5 from the published go.etcd.io/etcd/server/v3
// module (its own go.mod replaces sibling modules by relative paths, which only
// apply inside etcd's repository, so they are restated here with versions).
module devspaces.test/cluster/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 v3.5.35

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.5.35
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 v3.5.35
	go.etcd.io/etcd/client/v2 => go.etcd.io/etcd/client/v2 v2.305.35
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 v3.5.35
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 v3.5.35
	go.etcd.io/etcd/raft/v3 => go.etcd.io/etcd/raft/v3 v3.5.35
)
