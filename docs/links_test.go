package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// markdownFiles are the documents a reader of the repository follows links in.
var markdownFiles = []string{"../README.md", "*.md", "../hack/README.md"}

var (
	// link matches [text](target) and ![alt](target); the target ends at
	// the first space (a title may follow) or closing parenthesis.
	link     = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)[^)]*\)`)
	heading  = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)
	anchorID = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
)

func TestRelativeLinksResolve(t *testing.T) {
	var files []string
	for _, pattern := range markdownFiles {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %v; the test must run in docs/", files)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := collectAnchors(t, path)
		anchors[path] = a
		return a
	}

	checked := 0
	for _, file := range files {
		for _, l := range links(t, file) {
			target := l.target
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, fragment, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %q: %v", file, l.line, target, err)
					continue
				}
			}
			if fragment == "" {
				continue
			}
			if filepath.Ext(dest) != ".md" {
				t.Errorf("%s:%d: link %q: fragment on a file that is not Markdown", file, l.line, target)
				continue
			}
			if !anchorsOf(dest)[fragment] {
				t.Errorf("%s:%d: link %q: %s has no heading or anchor %q", file, l.line, target, dest, fragment)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found; the link pattern is broken")
	}
}

type mdLink struct {
	target string
	line   int
}

// links returns the links of a Markdown file outside fenced code blocks and
// inline code.
func links(t *testing.T, path string) []mdLink {
	t.Helper()
	var out []mdLink
	forEachLine(t, path, func(n int, line string) {
		for _, m := range link.FindAllStringSubmatch(stripInlineCode(line), -1) {
			out = append(out, mdLink{target: m[1], line: n})
		}
	})
	return out
}

// collectAnchors returns the fragments a Markdown file offers: its headings
// as GitHub slugs them (with -1, -2, ... for repeats) and explicit anchors.
func collectAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	seen := map[string]int{}
	forEachLine(t, path, func(_ int, line string) {
		for _, m := range anchorID.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			s := slug(m[1])
			if n := seen[s]; n > 0 {
				anchors[s+"-"+strconv.Itoa(n)] = true
			} else {
				anchors[s] = true
			}
			seen[s]++
		}
	})
	return anchors
}

// forEachLine calls fn for each line of path outside fenced code blocks.
func forEachLine(t *testing.T, path string, fn func(n int, line string)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fenced := false
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			fn(i+1, line)
		}
	}
}

// slug is GitHub's heading anchor: lower case, inline markup and
// punctuation dropped, spaces turned into hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func stripInlineCode(line string) string {
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		parts[i] = ""
	}
	return strings.Join(parts, "")
}

// docRef matches a mention of a page of docs/ in code, charts and scripts,
// e.g. "docs/architecture.md#one-trace" in a comment.
var docRef = regexp.MustCompile(`docs/([A-Za-z0-9_-]+\.md)(#[A-Za-z0-9_-]+)?`)

func TestDocsMentionedInTheTreeExist(t *testing.T) {
	anchors := map[string]map[string]bool{}
	checked := 0
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", ".data", "bin", "lib", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".yaml", ".yml", ".tpl", ".sh", ".txt", ".toml", ".json":
		default:
			if d.Name() != "Makefile" && d.Name() != "Dockerfile" && d.Name() != "run" {
				return nil
			}
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range docRef.FindAllStringSubmatch(line, -1) {
				checked++
				page := m[1]
				if _, err := os.Stat(page); err != nil {
					t.Errorf("%s:%d: mentions docs/%s, which does not exist", path, i+1, page)
					continue
				}
				if m[2] == "" {
					continue
				}
				if anchors[page] == nil {
					anchors[page] = collectAnchors(t, page)
				}
				if !anchors[page][m[2][1:]] {
					t.Errorf("%s:%d: mentions docs/%s%s, which has no such heading or anchor", path, i+1, page, m[2])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no mention of docs/ found; the walk or the pattern is broken")
	}
}
