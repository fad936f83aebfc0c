package domain

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

// Cursor is a position in a user's newest-first history: the (updated_at,
// video_id) of the last entry a client has seen. Keyset pagination on this
// pair stays stable while entries are added, moved to the top or removed,
// unlike OFFSET, which would skip or repeat entries.
type Cursor struct {
	UpdatedAt time.Time
	VideoID   uuid.UUID
}

// ErrMalformedCursor is returned by DecodeCursor. It is a plain error rather
// than an apperr because each transport names the offending field its own
// way (cursor in REST, page_token in gRPC).
var ErrMalformedCursor = errors.New("malformed cursor; pass the token from a previous page unchanged")

// cursorVersion prefixes the encoding so the format can change later without
// old cursors being misread as new ones.
const cursorVersion = 1

const cursorLen = 1 + 8 + 16

// CursorAfter returns the cursor positioned just after e.
func CursorAfter(e Entry) Cursor { return Cursor{UpdatedAt: e.UpdatedAt, VideoID: e.VideoID} }

// Encode returns the opaque form handed to clients: base64url (no padding) of
// a version byte, the update time in Unix microseconds and the video id.
// Microseconds because that is what both databases store exactly.
func (c Cursor) Encode() string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.UpdatedAt.UnixMicro()))
	copy(b[9:], c.VideoID[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor parses a cursor produced by Encode. A cursor only selects a
// position within the caller's own history, so there is nothing to gain by
// forging one and no need to sign it.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return Cursor{}, ErrMalformedCursor
	}
	var id uuid.UUID
	copy(id[:], b[9:])
	micros := int64(binary.BigEndian.Uint64(b[1:9]))
	return Cursor{UpdatedAt: time.UnixMicro(micros).UTC(), VideoID: id}, nil
}
