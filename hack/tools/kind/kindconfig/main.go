// Command kind-config-check decodes a kind cluster configuration with kind's
// own v1alpha4 types, strictly (an unknown or misspelt field is an error),
// applies kind's defaults and checks what vidstream relies on: one
// control-plane node running the node image this kind release was built
// for, and host ports published on the loopback address only.
//
// kind validates a configuration only while creating a cluster, which needs
// Docker; this runs anywhere.
//
// Usage: kind-config-check k8s/kind/cluster.yaml
package main

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kind-config-check CLUSTER_YAML")
		os.Exit(2)
	}
	if err := check(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	fmt.Printf("%s: valid kind %s cluster configuration\n", os.Args[1], apiVersion)
}

const apiVersion = "kind.x-k8s.io/v1alpha4"

func check(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != apiVersion {
		return fmt.Errorf("kind %q, apiVersion %q: want Cluster, %s", c.Kind, c.APIVersion, apiVersion)
	}
	v1alpha4.SetDefaultsCluster(&c)
	var errs []error
	controlPlanes := 0
	hostPorts := map[int32]bool{}
	for i, n := range c.Nodes {
		if n.Role == v1alpha4.ControlPlaneRole {
			controlPlanes++
		}
		if n.Image != defaults.Image {
			errs = append(errs, fmt.Errorf("node %d: image %q, want kind's own %q", i, n.Image, defaults.Image))
		}
		for _, m := range n.ExtraPortMappings {
			if m.ListenAddress != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("node %d: host port %d listens on %q, want 127.0.0.1", i, m.HostPort, m.ListenAddress))
			}
			if hostPorts[m.HostPort] {
				errs = append(errs, fmt.Errorf("node %d: host port %d mapped twice", i, m.HostPort))
			}
			hostPorts[m.HostPort] = true
		}
	}
	if controlPlanes != 1 {
		errs = append(errs, fmt.Errorf("%d control-plane nodes, want 1", controlPlanes))
	}
	if c.Networking.DisableDefaultCNI {
		errs = append(errs, errors.New("the default CNI (kindnet, which enforces NetworkPolicies) is disabled"))
	}
	return errors.Join(errs...)
}
