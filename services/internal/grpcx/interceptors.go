package grpcx

import (
	"context"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// recoverUnary turns a handler panic into INTERNAL for that one call instead
// of a crashed process (grpc-go does not recover handler panics). The stack
// goes to the log, with the trace id the logger adds from ctx.
//
// The interceptors are methods of a small struct rather than closures built
// in NewServer: the contextcheck linter follows closures into their callers
// and would otherwise ask every NewServer caller to pass a context that the
// server, which lives longer than any request, must not hold.
type interceptors struct {
	logger *slog.Logger
}

func (i interceptors) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			logPanic(ctx, i.logger, info.FullMethod, r)
			resp, err = nil, status.Error(codes.Internal, internalMessage)
		}
	}()
	return handler(ctx, req)
}

func (i interceptors) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			logPanic(ss.Context(), i.logger, info.FullMethod, r)
			err = status.Error(codes.Internal, internalMessage)
		}
	}()
	return handler(srv, ss)
}

func logPanic(ctx context.Context, logger *slog.Logger, method string, r any) {
	logger.ErrorContext(ctx, "grpc handler panicked",
		slog.String("rpc.method", method),
		slog.Any("panic", r),
		slog.String("stack", string(debug.Stack())),
	)
}

// statusUnary maps a handler's error to a status with ToStatus, logging the
// errors the caller will not see the cause of (INTERNAL).
func (i interceptors) statusUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return resp, mapError(ctx, i.logger, info.FullMethod, err)
	}
	return resp, nil
}

func (i interceptors) statusStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := handler(srv, ss); err != nil {
		return mapError(ss.Context(), i.logger, info.FullMethod, err)
	}
	return nil
}

func mapError(ctx context.Context, logger *slog.Logger, method string, err error) error {
	mapped := ToStatus(err)
	if status.Code(mapped) == codes.Internal {
		logger.ErrorContext(ctx, "grpc handler failed",
			slog.String("rpc.method", method),
			slog.String("error", err.Error()),
			slog.String("kind", apperr.KindOf(err).String()),
		)
	}
	return mapped
}
