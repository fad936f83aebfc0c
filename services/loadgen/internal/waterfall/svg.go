package waterfall

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vidstream/vidstream/services/internal/jaegerquery"
)

// SVG geometry, in pixels. The span column uses a monospace font so the
// tree guides line up; charWidth is that font's advance at fontSize.
const (
	svgPad       = 16
	svgRowHeight = 22
	svgFontSize  = 12
	svgCharWidth = 7.3
	svgTimeline  = 480
	svgHeader    = 86
	svgIndent    = 18
	// svgSansWidth is an average advance of the sans-serif labels.
	svgSansWidth = 6.6
)

// svgColors are the service colours of the picture: vidstream's services
// always the same, others from a palette in order of appearance.
var svgColors = map[string]string{
	"loadgen":       "#6b7280",
	"user":          "#2563eb",
	"video":         "#c026d3",
	"watch-history": "#059669",
}

var svgPalette = []string{"#d97706", "#0891b2", "#7c3aed", "#dc2626"}

// SVG writes t as a standalone SVG picture: Jaeger's timeline view, drawn
// by the project itself so documentation can show a real trace.
func SVG(w io.Writer, t *jaegerquery.Trace, title string) error {
	if len(t.Spans) == 0 {
		return fmt.Errorf("trace %s has no spans", t.ID)
	}
	rows := Rows(t)
	total := t.Duration()
	services := t.Services()
	if title == "" {
		title = t.Roots[0].Name
	}
	colors := map[string]string{}
	n := 0
	for _, s := range services {
		if c, ok := svgColors[s]; ok {
			colors[s] = c
		} else {
			colors[s] = svgPalette[n%len(svgPalette)]
			n++
		}
	}

	// The span column: names indented by depth, joined to their parents
	// by drawn guide lines (text guides would break between rows).
	nameWidth, svcChars := 0.0, len("service")
	rowOf := make(map[*jaegerquery.Span]int, len(rows))
	for i, r := range rows {
		rowOf[r.Span] = i
		nameWidth = max(nameWidth, float64(r.Span.Depth())*svgIndent+float64(utf8.RuneCountInString(r.Span.Name))*svgCharWidth)
		svcChars = max(svcChars, utf8.RuneCountInString(r.Span.Service))
	}
	nameWidth = min(nameWidth, 64*svgCharWidth)
	xName := float64(svgPad)
	xService := xName + nameWidth + 2*svgCharWidth
	xKind := xService + float64(svcChars+2)*svgCharWidth
	xStart := xKind + 17*svgCharWidth
	xTimeline := xStart + 10*svgCharWidth
	width := xTimeline + svgTimeline + 70 // room for the label of a bar ending at the right edge
	height := float64(svgHeader + svgRowHeight*len(rows) + svgPad + 24)
	scale := svgTimeline / float64(max(total, time.Nanosecond))

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="ui-sans-serif, system-ui, sans-serif" font-size="%d">`+"\n",
		width, height, width, height, svgFontSize)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="16" font-weight="600" fill="#111827">%s</text>`+"\n", svgPad, esc(title))
	fmt.Fprintf(&b, `<text x="%d" y="46" fill="#4b5563">trace %s · %d spans · %s</text>`+"\n",
		svgPad, esc(t.ID), len(t.Spans), esc(FormatDuration(total)))

	// Legend: one swatch per service.
	x := float64(svgPad)
	for _, s := range services {
		fmt.Fprintf(&b, `<rect x="%.1f" y="56" width="10" height="10" rx="2" fill="%s"/><text x="%.1f" y="65" fill="#374151">%s</text>`+"\n",
			x, colors[s], x+14, esc(s))
		x += 14 + float64(utf8.RuneCountInString(s))*svgSansWidth + 18
	}

	// Zebra stripes first, so the time grid shows through them.
	y0 := float64(svgHeader)
	for i := range rows {
		if i%2 == 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%.1f" width="%.0f" height="%d" fill="#f9fafb"/>`+"\n", y0+float64(i*svgRowHeight), width, svgRowHeight)
		}
	}

	// Column heads and the time axis.
	head := func(x float64, anchor, label string) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#6b7280" font-size="11" text-anchor="%s">%s</text>`+"\n", x, y0-6, anchor, esc(label))
	}
	head(xName, "start", "SPAN")
	head(xService, "start", "SERVICE")
	head(xKind, "start", "KIND · VIA")
	head(xTimeline-8, "end", "START")
	for i := 0; i <= 4; i++ {
		tx := xTimeline + float64(i)*svgTimeline/4
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		}
		head(tx, anchor, FormatDuration(total*time.Duration(i)/4))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e7eb"/>`+"\n",
			tx, y0, tx, y0+float64(svgRowHeight*len(rows)))
	}

	rowMid := func(i int) float64 { return y0 + float64(i*svgRowHeight) + svgRowHeight/2 }
	// Guides: from each parent down to its last child, then across to
	// each child's name.
	for _, r := range rows {
		s := r.Span
		if len(s.Children) == 0 {
			continue
		}
		gx := xName + float64(s.Depth())*svgIndent + 4
		last := s.Children[len(s.Children)-1]
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#cbd5e1"/>`+"\n",
			gx, rowMid(rowOf[s])+6, gx, rowMid(rowOf[last]))
		for _, c := range s.Children {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#cbd5e1"/>`+"\n",
				gx, rowMid(rowOf[c]), gx+svgIndent-6, rowMid(rowOf[c]))
		}
	}
	for i, r := range rows {
		s := r.Span
		y := y0 + float64(i*svgRowHeight)
		mid := y + svgRowHeight/2 + 4
		indent := float64(s.Depth()) * svgIndent
		maxChars := max(int((nameWidth-indent)/svgCharWidth), 8)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" fill="#111827">%s</text>`+"\n",
			xName+indent, mid, esc(truncate(s.Name, maxChars)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" font-weight="600">%s</text>`+"\n", xService, mid, colors[s.Service], esc(s.Service))
		kind := string(s.Kind)
		if via := s.Transport(); via != jaegerquery.TransportNone {
			kind += " · " + string(via)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#374151">%s</text>`+"\n", xKind, mid, esc(kind))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#6b7280" text-anchor="end">%s</text>`+"\n", xTimeline-8, mid, esc("+"+FormatDuration(r.Offset)))

		bx := xTimeline + float64(r.Offset)*scale
		bw := max(float64(s.Duration())*scale, 1.5)
		stroke := ""
		if s.Error {
			stroke = ` stroke="#dc2626" stroke-width="2"`
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" rx="2" fill="%s"%s><title>%s</title></rect>`+"\n",
			bx, y+5, bw, svgRowHeight-10, colors[s.Service], stroke, esc(s.Service+": "+s.Name+" ("+FormatDuration(s.Duration())+")"))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#374151" font-size="11">%s</text>`+"\n", bx+bw+4, mid, esc(FormatDuration(s.Duration())))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="#9ca3af" font-size="11">rendered from Jaeger's query API by `+"`loadgen trace -svg`"+`</text>`+"\n",
		svgPad, height-svgPad+4)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string { return html.EscapeString(s) }
