package systemtest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/vidstream/vidstream/services/api/events/v1"
	"github.com/vidstream/vidstream/services/internal/kafkabus"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

// TestBrokerOutage stops the broker, sends 500 progress reports (several
// users and videos, some crossing 90%), and starts the broker again: every
// report succeeded while it was down, every WatchProgressed event reaches
// the topic once the broker is back, and each video's view_count is exactly
// the number of users who completed it. Nothing lost, nothing counted twice.
//
// Always on kfake, even when a real cluster is configured: stopping a broker
// other tests share would break them.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		cluster := kafkatest.NewCluster(t)
		s := start(t, b, cluster.Brokers(), options{logLevel: slog.LevelWarn})

		const (
			users   = 5
			videos  = 4
			reports = 25 // per user and video: 5 × 4 × 25 = 500
		)
		owner := s.newUser(t)
		var viewers []user
		var keys []string
		for range users {
			u := s.newUser(t)
			viewers = append(viewers, u)
			keys = append(keys, u.id)
		}
		var vids []video
		for i := range videos {
			vids = append(vids, s.newVideo(t, owner, fmt.Sprintf("Video %d", i), 100))
		}

		// Each (user, video) pair reports 25 distinct positions in
		// ascending order. 14 of the 20 pairs go from 75 to 99 and so
		// complete the video at 90 and report nine more positions past it;
		// the others go from 60 to 84 and never complete it.
		type report struct {
			user, video string
			position    int32
		}
		want := map[report]bool{}
		wantViews := make([]int64, videos)
		completions := 0
		type pair struct {
			u         user
			v         video
			positions []int32
		}
		var pairs []pair
		for i, u := range viewers {
			for j, v := range vids {
				first := int32(60)
				if (i*videos+j)%3 != 2 {
					first = 75
					wantViews[j]++
					completions++
				}
				p := pair{u: u, v: v}
				for k := range int32(reports) {
					p.positions = append(p.positions, first+k)
					want[report{u.id, v.ID, first + k}] = true
				}
				pairs = append(pairs, p)
			}
		}
		if len(want) != 500 {
			t.Fatalf("planned %d reports, want 500", len(want))
		}

		// The view counter is in its group and the topic exists: the
		// outage hits a running system, not one still starting up.
		waitTopic(t, s.brokers, watchTopic)
		kafkatest.WaitGroupStable(t, s.brokers, s.viewCounterGroup, 1)

		cluster.Stop()
		if conn, err := net.DialTimeout("tcp", s.brokers[0], kafkaTimeout); err == nil {
			_ = conn.Close()
			t.Fatalf("the stopped broker still accepts connections at %s", s.brokers[0])
		}
		// One goroutine per pair: reports of different pairs interleave,
		// those of one pair stay in order, as from one player.
		var wg sync.WaitGroup
		errs := make(chan error, len(pairs))
		for _, p := range pairs {
			wg.Go(func() {
				for _, pos := range p.positions {
					e, err := s.tryPut(t.Context(), p.u, p.v.ID, int(pos))
					if err != nil {
						errs <- fmt.Errorf("with the broker down: %w", err)
						return
					}
					if e.Completed != (pos >= 90) {
						errs <- fmt.Errorf("position %d reported completed=%v", pos, e.Completed)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if conn, err := net.DialTimeout("tcp", s.brokers[0], kafkaTimeout); err == nil {
			_ = conn.Close()
			t.Fatalf("the broker at %s came back during the reports", s.brokers[0])
		}
		var failed []error
		for err := range errs {
			failed = append(failed, err)
		}
		if len(failed) > 0 {
			t.Fatalf("%d of %d players failed: %v", len(failed), len(pairs), errors.Join(failed...))
		}
		cluster.Start()

		// Every report's event arrives, read the way a new downstream
		// consumer group would read the topic.
		msgs := readAsGroup(t, s.brokers, watchTopic, keys, func(msgs []kafka.Message) error {
			p, w := distinctIDs(msgs, typeWatchProgressed), distinctIDs(msgs, typeVideoWatched)
			if len(p) < len(want) || len(w) < completions {
				return fmt.Errorf("%d of %d WatchProgressed, %d of %d VideoWatched", len(p), len(want), len(w), completions)
			}
			return nil
		})
		progressed := distinctIDs(msgs, typeWatchProgressed)
		if len(progressed) != len(want) {
			t.Fatalf("%d distinct WatchProgressed events, want exactly %d", len(progressed), len(want))
		}
		seen := map[report]string{}
		for id, m := range progressed {
			var ev eventsv1.WatchProgressed
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatalf("decode WatchProgressed %s: %v", id, err)
			}
			r := report{ev.GetUserId(), ev.GetVideoId(), ev.GetPositionSeconds()}
			if !want[r] {
				t.Fatalf("WatchProgressed %s reports %+v, which was never sent", id, r)
			}
			if other, dup := seen[r]; dup {
				t.Fatalf("report %+v published as two events, %s and %s", r, other, id)
			}
			seen[r] = id
		}
		watched := distinctIDs(msgs, typeVideoWatched)
		if len(watched) != completions {
			t.Fatalf("%d distinct VideoWatched events, want exactly %d", len(watched), completions)
		}
		completed := map[[2]string]bool{}
		for id, m := range watched {
			var ev eventsv1.VideoWatched
			if err := proto.Unmarshal(m.Value, &ev); err != nil {
				t.Fatalf("decode VideoWatched %s: %v", id, err)
			}
			k := [2]string{ev.GetUserId(), ev.GetVideoId()}
			if completed[k] || !want[report{k[0], k[1], 90}] {
				t.Fatalf("VideoWatched %s for user %s, video %s: a second one, or for a video they never completed", id, k[0], k[1])
			}
			completed[k] = true
		}
		if copies := len(msgs) - len(progressed) - len(watched); copies > 0 {
			// Allowed (at least once), and the consumers' business.
			t.Logf("the relay published %d records twice", copies)
		}

		for j, v := range vids {
			s.waitViewCountWithin(t, v.ID, wantViews[j], resumeTimeout)
		}
		// And no late copy adds to it: once the view counter is past every
		// record, the counts are final.
		waitConsumed(t, s.brokers, s.viewCounterGroup, msgs...)
		for j, v := range vids {
			if got := s.viewCount(t, v.ID); got != wantViews[j] {
				t.Errorf("video %d: view_count %d, want %d", j, got, wantViews[j])
			}
		}
	})
}

// resumeTimeout bounds how long the view counter may take to consume again
// after the broker is back. kafka-go's group consumer can sit in JoinGroup
// until the broker gives up on its member from before the outage, after the
// session timeout (30 s by default), before it gets its partition back.
const resumeTimeout = 90 * time.Second

// distinctIDs returns the records of type typ by ce_id (the last copy of
// each).
func distinctIDs(msgs []kafka.Message, typ string) map[string]kafka.Message {
	out := map[string]kafka.Message{}
	for _, m := range msgs {
		if kafkatest.Header(m, kafkabus.HeaderType) == typ {
			out[kafkatest.Header(m, kafkabus.HeaderID)] = m
		}
	}
	return out
}
