package grpcx

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// internalMessage is all a caller learns about a server fault; the cause is
// logged on the server, with the trace id to find it.
const internalMessage = "internal error"

// ToStatus converts a handler's error into a gRPC status error. An
// *apperr.Error maps by Kind, with its field errors as a BadRequest detail
// and its retry hint as a RetryInfo detail; an error that already carries a
// status passes through; context errors become the codes
// Canceled or DeadlineExceeded; anything else is INTERNAL with a generic message.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	// apperr first: a handler may return a domain error that wraps the
	// status of a downstream call; the domain's classification wins.
	if e, ok := apperr.As(err); ok {
		return appStatus(e).Err()
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, internalMessage)
}

func appStatus(e *apperr.Error) *status.Status {
	code := codeOf(e.Kind)
	msg := e.Message
	if code == codes.Internal || msg == "" {
		msg = internalMessage
	}
	st := status.New(code, msg)

	var details []*errdetails.BadRequest_FieldViolation
	for _, f := range e.Fields {
		details = append(details, &errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Detail})
	}
	if len(details) > 0 {
		st = withDetail(st, &errdetails.BadRequest{FieldViolations: details})
	}
	if e.RetryAfterSeconds > 0 {
		st = withDetail(st, &errdetails.RetryInfo{
			RetryDelay: durationpb.New(time.Duration(e.RetryAfterSeconds) * time.Second),
		})
	}
	return st
}

// withDetail adds a detail, keeping the status without it if the detail
// cannot be marshaled (it always can for these well-known messages).
func withDetail(st *status.Status, detail protoadapt.MessageV1) *status.Status {
	if withD, err := st.WithDetails(detail); err == nil {
		return withD
	}
	return st
}

func codeOf(k apperr.Kind) codes.Code {
	switch k {
	case apperr.Invalid:
		return codes.InvalidArgument
	case apperr.Unauthenticated:
		return codes.Unauthenticated
	case apperr.Forbidden:
		return codes.PermissionDenied
	case apperr.NotFound:
		return codes.NotFound
	case apperr.Conflict:
		return codes.AlreadyExists
	case apperr.TooManyRequests:
		return codes.ResourceExhausted
	case apperr.Unavailable:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// FromStatus converts the error of a gRPC call into an *apperr.Error, so a
// client adapter can hand its domain a classified error. The status error
// stays in the chain (status.Code still works on the result). A deadline
// exceeded or a server unavailable both mean "the dependency is not
// answering" to the caller: Unavailable.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &apperr.Error{Kind: apperr.Internal, Message: internalMessage, Err: err}
	}
	e := &apperr.Error{Kind: kindOf(st.Code()), Message: st.Message(), Err: err}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, apperr.FieldError{Field: v.GetField(), Detail: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryAfterSeconds = int(d.GetRetryDelay().AsDuration().Round(time.Second) / time.Second)
		}
	}
	return e
}

func kindOf(c codes.Code) apperr.Kind {
	switch c {
	case codes.InvalidArgument:
		return apperr.Invalid
	case codes.Unauthenticated:
		return apperr.Unauthenticated
	case codes.PermissionDenied:
		return apperr.Forbidden
	case codes.NotFound:
		return apperr.NotFound
	case codes.AlreadyExists:
		return apperr.Conflict
	case codes.ResourceExhausted:
		return apperr.TooManyRequests
	case codes.Unavailable, codes.DeadlineExceeded:
		return apperr.Unavailable
	default:
		return apperr.Internal
	}
}
