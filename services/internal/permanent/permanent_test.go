package permanent_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vidstream/vidstream/services/internal/permanent"
)

func TestMarkSurvivesWrappingAndKeepsTheCause(t *testing.T) {
	cause := errors.New("bad payload")
	err := fmt.Errorf("decode: %w", permanent.Mark(cause))
	if !permanent.Is(err) {
		t.Fatal("a wrapped permanent error is not recognised")
	}
	if !errors.Is(err, cause) {
		t.Fatal("the cause is lost")
	}
	if err.Error() != "decode: bad payload" {
		t.Fatalf("message = %q", err.Error())
	}
	if permanent.Is(cause) || permanent.Is(nil) {
		t.Fatal("an unmarked error counts as permanent")
	}
	if permanent.Mark(nil) != nil {
		t.Fatal("Mark(nil) is not nil")
	}
}
