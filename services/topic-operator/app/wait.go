package app

import (
	"context"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messagingv1alpha1 "github.com/vidstream/vidstream/services/topic-operator/api/v1alpha1"
)

// WaitReady returns once every KafkaTopic named in names (in namespace) is
// Ready for its current generation, or an error naming those that are not
// when ctx ends. It polls every interval and writes to progress each time a
// topic's state changes, so an init container's log says what it waits
// for and why.
//
// Polling rather than a watch: an init container waits once, for a few
// objects, and a Get needs only the `get` verb.
func WaitReady(ctx context.Context, c client.Reader, namespace string, names []string, interval time.Duration, progress io.Writer) error {
	last := map[string]string{}
	// A failed read (the API server restarting, client throttling) says
	// nothing new: each topic keeps the readiness of its last good read.
	ready := map[string]bool{}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		var pending []string
		for _, name := range names {
			state, ok, err := topicState(ctx, c, types.NamespacedName{Namespace: namespace, Name: name})
			if state != last[name] {
				_, _ = fmt.Fprintf(progress, "kafkatopic %s/%s: %s\n", namespace, name, state)
				last[name] = state
			}
			if err == nil {
				ready[name] = ok
			}
			if !ready[name] {
				pending = append(pending, name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka topics not ready in %s: %v: %w", namespace, pending, context.Cause(ctx))
		case <-ticker.C:
		}
	}
}

// topicState describes a KafkaTopic's readiness in a line, and says whether
// it is Ready for its current generation; err is a failure to read it.
func topicState(ctx context.Context, c client.Reader, key types.NamespacedName) (string, bool, error) {
	var kt messagingv1alpha1.KafkaTopic
	if err := c.Get(ctx, key, &kt); err != nil {
		if apierrors.IsNotFound(err) {
			return "not found", false, nil
		}
		return "cannot read: " + err.Error(), false, err
	}
	cond := meta.FindStatusCondition(kt.Status.Conditions, messagingv1alpha1.ConditionReady)
	switch {
	case cond == nil:
		return "not reconciled yet", false, nil
	case cond.ObservedGeneration != kt.Generation:
		return fmt.Sprintf("generation %d not reconciled yet", kt.Generation), false, nil
	case cond.Status != metav1.ConditionTrue:
		return fmt.Sprintf("not ready: %s: %s", cond.Reason, cond.Message), false, nil
	}
	return fmt.Sprintf("ready (%d partitions)", kt.Status.Partitions), true, nil
}
