package tune

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
)

// buildVersion is what VersionHandler serves. Its fields are an allow-list:
// nothing else of debug.BuildInfo is ever served, so -ldflags (which can
// carry secrets passed with -X), the CGO_* flags, -tags and the environment
// stay private.
type buildVersion struct {
	Path         string       `json:"path"`
	Version      string       `json:"version"`
	Revision     string       `json:"revision"`
	Time         string       `json:"time"`
	Modified     *bool        `json:"modified"` // nil (null) when the build did not record it
	GoVersion    string       `json:"go_version"`
	GOOS         string       `json:"goos"`
	GOARCH       string       `json:"goarch"`
	Compiler     string       `json:"compiler"`
	CgoEnabled   bool         `json:"cgo_enabled"`
	Warning      string       `json:"warning,omitempty"`
	Dependencies []dependency `json:"dependencies,omitempty"`
}

// dependency is one module of the dependency list, served only when the
// program opts in with WithDependencies.
type dependency struct {
	Path           string `json:"path"`
	Version        string `json:"version"`
	ReplacePath    string `json:"replace_path,omitempty"`
	ReplaceVersion string `json:"replace_version,omitempty"`
}

// modifiedLabel is the value of gotune_build_info's modified label:
// "true" or "false" as the build recorded it, "" (the same as no label to
// Prometheus) when the binary carries no VCS data: unknown is not false.
func (v buildVersion) modifiedLabel() string {
	if v.Modified == nil {
		return ""
	}
	return strconv.FormatBool(*v.Modified)
}

const modifiedWarning = "built from a modified source tree: this binary matches no commit"

// readBuild reads the build information once. Missing parts (no VCS data,
// as with -buildvcs=false, go run or go test) are empty (Modified nil),
// never an error.
var readBuild = sync.OnceValues(func() (buildVersion, []dependency) {
	v := buildVersion{
		GoVersion: runtime.Version(),
		GOOS:      runtime.GOOS,
		GOARCH:    runtime.GOARCH,
		Compiler:  runtime.Compiler,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v, nil
	}
	v.Path, v.Version = bi.Main.Path, bi.Main.Version
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			if m, err := strconv.ParseBool(s.Value); err == nil {
				v.Modified = &m
			}
		case "GOOS":
			v.GOOS = s.Value
		case "GOARCH":
			v.GOARCH = s.Value
		case "-compiler":
			v.Compiler = s.Value
		case "CGO_ENABLED":
			v.CgoEnabled = s.Value == "1"
		}
	}
	if v.Modified != nil && *v.Modified {
		v.Warning = modifiedWarning
	}
	deps := make([]dependency, 0, len(bi.Deps))
	for _, m := range bi.Deps {
		d := dependency{Path: m.Path, Version: m.Version}
		if r := m.Replace; r != nil {
			d.ReplacePath, d.ReplaceVersion = r.Path, r.Version
			if r.Sum == "" {
				// A directory on the build machine (only modules carry a
				// checksum): its path is nobody's business.
				d.ReplacePath, d.ReplaceVersion = "(local directory)", ""
			}
		}
		deps = append(deps, d)
	}
	return v, deps
})

// warnedModified is set once the modified-tree warning was logged.
var warnedModified atomic.Bool

// VersionOption configures VersionHandler.
type VersionOption func(*versionConfig)

type versionConfig struct{ deps bool }

// WithDependencies makes VersionHandler list the module dependencies the
// binary was built with (path and version; a replacement by a local
// directory is shown without its path). Off by default, since the list tells
// an attacker which known vulnerabilities to try.
func WithDependencies() VersionOption {
	return func(c *versionConfig) { c.deps = true }
}

// VersionHandler returns an http.Handler that answers GET and HEAD with
// which build is running, as JSON read once from debug.ReadBuildInfo:
// path, version, revision, time (the commit time), modified, go_version,
// goos, goarch, compiler and cgo_enabled. Parts the binary does not carry
// (VCS data under -buildvcs=false, go run or go test) are empty, and
// modified is then null: unknown, not false. When the
// binary was built from a modified tree, a warning field says so (and one
// Warn line is logged). Build flags, -ldflags and the environment are never
// served. Other methods get 405 Method Not Allowed.
func VersionHandler(opts ...VersionOption) http.Handler {
	var c versionConfig
	for _, o := range opts {
		o(&c)
	}
	v, deps := readBuild()
	if v.Warning != "" && warnedModified.CompareAndSwap(false, true) {
		// On the caller's goroutine, once, with no lock held.
		logNow(currentLogger(), slog.LevelWarn, "tune: this binary was "+modifiedWarning, slog.String("revision", v.Revision))
	}
	if c.deps {
		v.Dependencies = deps
	}
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil { // cannot happen: plain strings and bools
		body = []byte(`{"error":"` + strconv.Quote(err.Error()) + `"}`)
	}
	body = append(body, '\n')
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	})
}
