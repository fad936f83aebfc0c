package app

import (
	"fmt"
	"log/slog"

	"github.com/vidstream/vidstream/services/internal/cacheinval"
	"github.com/vidstream/vidstream/services/internal/readcache"
	"github.com/vidstream/vidstream/services/internal/service"
	"github.com/vidstream/vidstream/services/video/internal/cachedstore"
	"github.com/vidstream/vidstream/services/video/internal/domain"
	"github.com/vidstream/vidstream/services/video/internal/store"
)

// readCache puts the read cache and its Redis invalidation in front of st
// when REDIS_URL is set, and returns st unchanged when it is not: without
// the channel a replica cannot hear other replicas' writes, and a cache
// would serve their old values.
func readCache(k *service.Kit, cfg Config, st *store.Store) (cachedstore.Inner, []service.Worker, error) {
	if cfg.RedisURL == "" {
		k.Log.Info("video read cache off (REDIS_URL is empty)")
		return st, nil, nil
	}
	cache, err := readcache.New[string, domain.Video](readcache.Options{
		Name: "videos", Size: cfg.VideoCacheSize, TTL: cfg.VideoCacheTTL,
	}, k.Providers)
	if err != nil {
		return nil, nil, fmt.Errorf("video read cache (VIDEO_CACHE_SIZE=%d): %w", cfg.VideoCacheSize, err)
	}
	bus, err := cacheinval.New(cacheinval.Options{URL: cfg.RedisURL, Channel: cfg.CacheChannel}, cache, k.Providers)
	if err != nil {
		return nil, nil, err
	}
	k.Log.Info("video read cache on", slog.Int("size", cfg.VideoCacheSize), slog.String("ttl", cfg.VideoCacheTTL.String()),
		slog.String("channel", bus.Channel()), slog.String("source", bus.Source()))
	return cachedstore.New(st, cache, bus), []service.Worker{{Name: "cache invalidation", Run: bus.Run}}, nil
}
