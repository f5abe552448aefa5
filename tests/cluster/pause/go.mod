module devspaces.test/cluster/pause

go 1.22
