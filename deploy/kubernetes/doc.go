// Package kubernetes holds the manifests that run replay shards on a
// Kubernetes cluster (an Indexed Job, one pod per shard) and the test that
// decodes them strictly as Kubernetes objects and checks their shard
// arithmetic. It has no code of its own: the manifests are the product.
package kubernetes
