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
func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logPanic(ctx, logger, info.FullMethod, r)
				resp, err = nil, status.Error(codes.Internal, internalMessage)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logPanic(ss.Context(), logger, info.FullMethod, r)
				err = status.Error(codes.Internal, internalMessage)
			}
		}()
		return handler(srv, ss)
	}
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
func statusUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return resp, mapError(ctx, logger, info.FullMethod, err)
		}
		return resp, nil
	}
}

func statusStream(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return mapError(ss.Context(), logger, info.FullMethod, err)
		}
		return nil
	}
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
