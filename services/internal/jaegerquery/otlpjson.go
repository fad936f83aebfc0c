package jaegerquery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// tracesDocument is the body of Jaeger's /api/v3/traces answers: OTLP/JSON
// TracesData wrapped in {"result": ...} by its grpc-gateway style.
type tracesDocument struct {
	Result struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	} `json:"result"`
}

type resourceSpans struct {
	Resource struct {
		Attributes []keyValue `json:"attributes"`
	} `json:"resource"`
	ScopeSpans []struct {
		Spans []otlpSpan `json:"spans"`
	} `json:"scopeSpans"`
}

type otlpSpan struct {
	TraceID           string     `json:"traceId"`
	SpanID            string     `json:"spanId"`
	ParentSpanID      string     `json:"parentSpanId"`
	Name              string     `json:"name"`
	Kind              enum       `json:"kind"`
	StartTimeUnixNano flexInt    `json:"startTimeUnixNano"`
	EndTimeUnixNano   flexInt    `json:"endTimeUnixNano"`
	Attributes        []keyValue `json:"attributes"`
	Links             []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"links"`
	Status struct {
		Code    enum   `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

type keyValue struct {
	Key   string   `json:"key"`
	Value anyValue `json:"value"`
}

// anyValue is OTLP's AnyValue: exactly one of its fields is set.
type anyValue struct {
	StringValue *string  `json:"stringValue"`
	BoolValue   *bool    `json:"boolValue"`
	IntValue    *flexInt `json:"intValue"`
	DoubleValue *float64 `json:"doubleValue"`
	BytesValue  *string  `json:"bytesValue"`
	ArrayValue  *struct {
		Values []anyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []keyValue `json:"values"`
	} `json:"kvlistValue"`
}

func (v anyValue) String() string {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return strconv.FormatBool(*v.BoolValue)
	case v.IntValue != nil:
		return strconv.FormatInt(int64(*v.IntValue), 10)
	case v.DoubleValue != nil:
		return strconv.FormatFloat(*v.DoubleValue, 'g', -1, 64)
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		items := make([]string, len(v.ArrayValue.Values))
		for i, item := range v.ArrayValue.Values {
			items[i] = item.String()
		}
		return "[" + strings.Join(items, ", ") + "]"
	case v.KvlistValue != nil:
		items := make([]string, len(v.KvlistValue.Values))
		for i, kv := range v.KvlistValue.Values {
			items[i] = kv.Key + "=" + kv.Value.String()
		}
		return "{" + strings.Join(items, ", ") + "}"
	default:
		return ""
	}
}

// flexInt reads a 64-bit integer written as a JSON number or, as the
// protobuf JSON mapping writes 64-bit integers, as a decimal string.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("integer: %w", err)
	}
	*n = flexInt(v)
	return nil
}

// enum reads a protobuf enum written as its number or its name
// ("SPAN_KIND_SERVER", "STATUS_CODE_ERROR"); names are kept upper-case.
type enum struct {
	number int
	name   string
}

func (e *enum) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("enum: %w", err)
		}
		e.name = strings.ToUpper(s)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("enum: %w", err)
	}
	e.number = n
	return nil
}

func (e enum) is(number int, name string) bool {
	if e.name != "" {
		return e.name == name
	}
	return e.number == number
}

func (e enum) kind() Kind {
	switch {
	case e.is(1, "SPAN_KIND_INTERNAL"):
		return KindInternal
	case e.is(2, "SPAN_KIND_SERVER"):
		return KindServer
	case e.is(3, "SPAN_KIND_CLIENT"):
		return KindClient
	case e.is(4, "SPAN_KIND_PRODUCER"):
		return KindProducer
	case e.is(5, "SPAN_KIND_CONSUMER"):
		return KindConsumer
	default:
		return KindUnspecified
	}
}

// traces groups the document's spans by trace id, in order of first
// appearance.
func (d *tracesDocument) traces() ([]*Trace, error) {
	var order []string
	byTrace := map[string][]*Span{}
	for _, rs := range d.Result.ResourceSpans {
		service := "unknown"
		for _, kv := range rs.Resource.Attributes {
			if kv.Key == "service.name" {
				service = kv.Value.String()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for i := range ss.Spans {
				s, err := ss.Spans[i].span(service)
				if err != nil {
					return nil, err
				}
				if _, ok := byTrace[s.TraceID]; !ok {
					order = append(order, s.TraceID)
				}
				byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
			}
		}
	}
	out := make([]*Trace, 0, len(order))
	for _, id := range order {
		out = append(out, NewTrace(id, byTrace[id]))
	}
	return out, nil
}

// trace returns the one trace the document must hold.
func (d *tracesDocument) trace(id string) (*Trace, error) {
	ts, err := d.traces()
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if strings.EqualFold(t.ID, id) {
			return t, nil
		}
	}
	return nil, ErrNotFound
}

func (o *otlpSpan) span(service string) (*Span, error) {
	if !isHexID(o.TraceID, 32) || !isHexID(o.SpanID, 16) {
		return nil, fmt.Errorf("span %q: malformed ids %q/%q", o.Name, o.TraceID, o.SpanID)
	}
	s := &Span{
		TraceID:       strings.ToLower(o.TraceID),
		SpanID:        strings.ToLower(o.SpanID),
		ParentSpanID:  strings.ToLower(o.ParentSpanID),
		Name:          o.Name,
		Service:       service,
		Kind:          o.Kind.kind(),
		Start:         time.Unix(0, int64(o.StartTimeUnixNano)),
		End:           time.Unix(0, int64(o.EndTimeUnixNano)),
		Attributes:    make(map[string]string, len(o.Attributes)),
		Error:         o.Status.Code.is(2, "STATUS_CODE_ERROR"),
		StatusMessage: o.Status.Message,
	}
	for _, kv := range o.Attributes {
		s.Attributes[kv.Key] = kv.Value.String()
	}
	for _, l := range o.Links {
		s.Links = append(s.Links, Link{TraceID: strings.ToLower(l.TraceID), SpanID: strings.ToLower(l.SpanID)})
	}
	if s.End.Before(s.Start) {
		s.End = s.Start
	}
	return s, nil
}
