package domain

import (
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/vidstream/vidstream/services/internal/apperr"
)

// Cursor is a position in the newest-first listing: the (created_at, id) of
// the last item a client has seen. Keyset pagination on this pair stays
// stable while videos are added or removed, unlike OFFSET.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// cursorVersion prefixes the encoding so the format can change later
// without old cursors being misread as new ones.
const cursorVersion = 1

const cursorLen = 1 + 8 + 16

// CursorAfter returns the cursor positioned just after v.
func CursorAfter(v Video) Cursor { return Cursor{CreatedAt: v.CreatedAt, ID: v.ID} }

// Encode returns the opaque form handed to clients: base64url (no padding)
// of a version byte, the creation time in Unix microseconds and the id.
// Microseconds because that is what both databases store exactly.
func (c Cursor) Encode() string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.CreatedAt.UnixMicro()))
	copy(b[9:], c.ID[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor parses a cursor produced by Encode. Anything else is the
// client's mistake, reported against the "cursor" field.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return Cursor{}, apperr.InvalidField("cursor", "malformed cursor; pass next_cursor from a previous page unchanged")
	}
	var id uuid.UUID
	copy(id[:], b[9:])
	micros := int64(binary.BigEndian.Uint64(b[1:9]))
	return Cursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id}, nil
}
