// Package docs holds no code: its test checks that every relative link in
// the repository's Markdown (README.md, docs/*.md, hack/README.md) points
// at a file that exists and, with a #fragment, at a heading or anchor in it.
package docs
