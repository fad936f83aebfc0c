package systemtest

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	historyv1 "github.com/vidstream/vidstream/services/api/history/v1"
	"github.com/vidstream/vidstream/services/internal/kafkabus/kafkatest"
)

// TestHistoryFollowsAccountsAndCatalog drives watch history's consumers with
// the events the real user and video services publish: a renamed video is
// renamed in every history, a deleted video leaves every history, and a
// deleted account takes its history with it, and only its own.
func TestHistoryFollowsAccountsAndCatalog(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, b, kafkatest.Broker(t), options{})
		owner, ann, bob := s.newUser(t), s.newUser(t), s.newUser(t)
		film := s.newVideo(t, owner, "Film", 100)
		show := s.newVideo(t, owner, "Show", 100)
		s.put(t, ann, film.ID, 50)
		s.put(t, ann, show.ID, 95)
		s.put(t, bob, film.ID, 80)
		s.put(t, bob, show.ID, 10)

		// VideoUpdated: PATCH by the owner renames it everywhere.
		s.request(t, http.MethodPatch, s.videoURL+"/v1/videos/"+film.ID, owner.token,
			map[string]string{"title": "Film (Restored)"}, http.StatusOK)
		s.waitHistories(t, map[string]map[string]string{
			ann.id: {film.ID: "Film (Restored)", show.ID: "Show"},
			bob.id: {film.ID: "Film (Restored)", show.ID: "Show"},
		})

		// VideoDeleted: the video leaves every history.
		s.request(t, http.MethodDelete, s.videoURL+"/v1/videos/"+show.ID, owner.token, nil, http.StatusNoContent)
		s.waitHistories(t, map[string]map[string]string{
			ann.id: {film.ID: "Film (Restored)"},
			bob.id: {film.ID: "Film (Restored)"},
		})

		// UserDeleted: ann closes her account; her history goes, bob's
		// stays. Her token no longer works, so the check uses watch
		// history's gRPC API, which takes a user id.
		s.request(t, http.MethodDelete, s.userURL+"/v1/users/me", ann.token, nil, http.StatusNoContent)
		s.waitHistories(t, map[string]map[string]string{
			ann.id: {},
			bob.id: {film.ID: "Film (Restored)"},
		})
		// Nothing else can remove bob's entry, but REST must agree with gRPC.
		var page struct {
			Items []entry `json:"items"`
		}
		s.request(t, http.MethodGet, s.historyURL+"/v1/history", bob.token, nil, http.StatusOK).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].VideoID != film.ID || page.Items[0].Title != "Film (Restored)" ||
			page.Items[0].PositionSeconds != 80 {
			t.Fatalf("bob's history over REST = %+v", page.Items)
		}
	})
}

// waitHistories polls watch history until each user's history holds exactly
// the given videos (id → title).
func (s *system) waitHistories(t *testing.T, want map[string]map[string]string) {
	t.Helper()
	eventually(t, func() error {
		for userID, videos := range want {
			entries, err := s.listHistory(t.Context(), userID)
			if err != nil {
				return err
			}
			if err := sameHistory(entries, videos); err != nil {
				return fmt.Errorf("user %s: %w", userID, err)
			}
		}
		return nil
	})
}

func sameHistory(entries []*historyv1.HistoryEntry, want map[string]string) error {
	got := map[string]string{}
	for _, e := range entries {
		got[e.GetVideoId()] = e.GetTitle()
	}
	if len(got) != len(entries) || len(got) != len(want) {
		return fmt.Errorf("history %v, want %v", describe(entries), want)
	}
	for id, title := range want {
		if got[id] != title {
			return fmt.Errorf("history %v, want %v", describe(entries), want)
		}
	}
	return nil
}

func describe(entries []*historyv1.HistoryEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.GetVideoId()+"="+e.GetTitle())
	}
	slices.Sort(out)
	return out
}
