package cachedstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/database/databasetest"
	"github.com/vidstream/vidstream/services/internal/outbox"
	"github.com/vidstream/vidstream/services/internal/readcache"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	"github.com/vidstream/vidstream/services/video/internal/cachedstore"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

type noAnnouncer struct{}

func (noAnnouncer) Publish(context.Context, ...string) {}

// BenchmarkGetVideo is domain.Service.Get, what GetVideo and
// GET /v1/videos/{id} both call, over 50 videos read at random by
// GOMAXPROCS goroutines:
//
//	cache=off  straight to the store: one SELECT by primary key
//	cache=on   through the read cache, every video already cached
//
//	go test ./services/video/internal/cachedstore -run '^$' -bench GetVideo -count 6
func BenchmarkGetVideo(b *testing.B) {
	for _, d := range databasetest.Backends() {
		b.Run("db="+d.String(), func(b *testing.B) {
			db := databasetest.Open(b, d, store.Migrations())
			if err := outbox.Migrate(b.Context(), db); err != nil {
				b.Fatal(err)
			}
			st := store.New(db, outbox.New(db, "/services/video", telemetry.Noop()))
			cache, err := readcache.New[string, domain.Video](readcache.Options{Size: 10000}, telemetry.Noop())
			if err != nil {
				b.Fatal(err)
			}
			cache.SetEnabled(true)
			ids := seed(b, domain.NewService(st), 50)
			for name, svc := range map[string]*domain.Service{
				"off": domain.NewService(st),
				"on":  domain.NewService(cachedstore.New(st, cache, noAnnouncer{})),
			} {
				b.Run("cache="+name, func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						i := 0
						for pb.Next() {
							i++
							if _, err := svc.Get(context.Background(), ids[i%len(ids)]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

func seed(b *testing.B, svc *domain.Service, n int) []uuid.UUID {
	b.Helper()
	owner := uuid.New()
	year, series, season, episode := 1999, "The Show", 1, 3
	ids := make([]uuid.UUID, n)
	for i := range ids {
		v, err := svc.Create(b.Context(), owner, domain.NewVideo{
			Title: "Episode", Description: "An episode of the show.", Kind: domain.KindEpisode, DurationSeconds: 1500,
			SeriesTitle: &series, Season: &season, Episode: &episode, ReleaseYear: &year,
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = v.ID
	}
	return ids
}
