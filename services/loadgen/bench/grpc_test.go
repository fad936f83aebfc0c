package bench

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	videov1 "github.com/vidstream/vidstream/services/api/video/v1"
	"github.com/vidstream/vidstream/services/internal/cacheinval/cacheinvaltest"
	"github.com/vidstream/vidstream/services/internal/database"
	"github.com/vidstream/vidstream/services/internal/grpcx"
	"github.com/vidstream/vidstream/services/internal/loopback"
	"github.com/vidstream/vidstream/services/internal/service/servicetest"
	"github.com/vidstream/vidstream/services/internal/telemetry"
	videoapp "github.com/vidstream/vidstream/services/video/app"
)

// grpcVideos is how many videos GetVideo picks from.
const grpcVideos = 50

// BenchmarkGetVideo compares the east-west hop watch history makes on
// every progress report, vidstream.video.v1.VideoService/GetVideo:
//
//	path=bare     a bare grpc-go server and client (grpc.NewServer,
//	              grpc.NewClient, insecure, nothing else) answering the
//	              very message the service answers, from memory
//	path=bare-db  the same bare server, reading the video's row from the
//	              video service's database (database/sql, one SELECT of
//	              every column by primary key) before it answers: the
//	              least a GetVideo backed by that database can cost
//	path=service  the video service's gRPC server (grpcx: stats handler,
//	              recovery and status interceptors; the domain; one
//	              database read) called through grpcx.Dial (stats handler,
//	              retry policy, default deadline), tracing off
//	path=service-cached  the same, from a second video replica on the
//	              same database with its read cache on (embedded Redis),
//	              every video cached before the timing starts
//
// Both in this process on loopback, 32 concurrent callers, b.N calls:
// calls/s and allocs/op (whole process).
//
//	go test ./services/loadgen/bench -run '^$' -bench GetVideo -benchtime 20000x
func BenchmarkGetVideo(b *testing.B) {
	for _, d := range dialects() {
		b.Run("db="+d.String(), func(b *testing.B) {
			sys := startSystem(b, systemConfig{db: d, tracing: tracingOff})
			fx := newFixture(b, sys.client, 1, grpcVideos)
			conn, err := grpcx.Dial(sys.videoGRPC, providers(b, "watch-history", tracingOff))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = conn.Close() })
			service := videov1.NewVideoServiceClient(conn)

			// The bare server answers what the service answers.
			answers := map[string]*videov1.GetVideoResponse{}
			for _, v := range fx.videos {
				resp, err := service.GetVideo(b.Context(), &videov1.GetVideoRequest{Id: v.id})
				if err != nil {
					b.Fatal(err)
				}
				answers[v.id] = resp
			}
			bareClient := bareVideoServer(b, answers, nil)
			db, err := database.Open(b.Context(), sys.videoDB, nil, telemetry.Noop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			bareDBClient := bareVideoServer(b, answers, db.DB)

			call := func(c videov1.VideoServiceClient) func(context.Context) error {
				return func(ctx context.Context) error {
					_, err := c.GetVideo(ctx, &videov1.GetVideoRequest{Id: fx.videos[rand.IntN(len(fx.videos))].id})
					return err
				}
			}
			b.Run("path=bare", func(b *testing.B) { saturate(b, "calls/s", call(bareClient)) })
			b.Run("path=bare-db", func(b *testing.B) { saturate(b, "calls/s", call(bareDBClient)) })
			b.Run("path=service", func(b *testing.B) { saturate(b, "calls/s", call(service)) })
			cached := startCachedVideo(b, sys.videoDB, sys.brokers)
			for _, v := range fx.videos {
				if _, err := cached.GetVideo(b.Context(), &videov1.GetVideoRequest{Id: v.id}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("path=service-cached", func(b *testing.B) { saturate(b, "calls/s", call(cached)) })
		})
	}
}

// startCachedVideo runs another video replica on databaseURL with its read
// cache on, invalidated through an embedded Redis, and returns a client of
// it once the cache serves (its subscription is confirmed).
func startCachedVideo(b *testing.B, databaseURL string, brokers []string) videov1.VideoServiceClient {
	b.Helper()
	redis := cacheinvaltest.Embedded(b)
	va, err := videoapp.New(b.Context(), videoapp.Config{
		Base: benchBase(b, databaseURL, brokers),
		// GetVideo asks nothing of the user service.
		UserGRPCAddr: loopback.FreeAddr(b),
		RedisURL:     redis.URL,
	}, providers(b, videoapp.ServiceName, tracingOff))
	if err != nil {
		b.Fatalf("start cached video: %v", err)
	}
	servicetest.Run(b, "video (cached)", va.Run)
	err = poll(b.Context(), 30*time.Second, time.Millisecond, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+va.HTTPAddr()+"/metrics", http.NoBody)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for line := range strings.SplitSeq(string(body), "\n") {
			if strings.HasPrefix(line, "vidstream_cache_enabled{") && strings.HasSuffix(line, " 1") {
				return nil
			}
		}
		return errors.New("read cache not on yet")
	})
	if err != nil {
		b.Fatalf("cached video replica: %v", err)
	}
	conn, err := grpcx.Dial(va.GRPCAddr(), providers(b, "watch-history", tracingOff))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return videov1.NewVideoServiceClient(conn)
}

// bareVideo answers GetVideo from a map, after reading the row from db
// when it has one.
type bareVideo struct {
	videov1.UnimplementedVideoServiceServer
	answers map[string]*videov1.GetVideoResponse
	db      *sql.DB
}

func (s *bareVideo) GetVideo(ctx context.Context, req *videov1.GetVideoRequest) (*videov1.GetVideoResponse, error) {
	if s.db != nil {
		rows, err := s.db.QueryContext(ctx, `SELECT * FROM videos WHERE id = $1`, req.GetId())
		if err != nil {
			return nil, err
		}
		defer func() { _ = rows.Close() }()
		cols, err := rows.Columns()
		if err != nil {
			return nil, err
		}
		if !rows.Next() {
			return nil, status.Error(codes.NotFound, "no such video")
		}
		dst := make([]any, len(cols))
		for i := range dst {
			dst[i] = new(any)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return s.answers[req.GetId()], nil
}

// bareVideoServer serves answers with plain grpc-go on 127.0.0.1 and
// returns a plain client of it.
func bareVideoServer(tb testing.TB, answers map[string]*videov1.GetVideoResponse, db *sql.DB) videov1.VideoServiceClient {
	tb.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := grpc.NewServer()
	videov1.RegisterVideoServiceServer(srv, &bareVideo{answers: answers, db: db})
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return videov1.NewVideoServiceClient(conn)
}
