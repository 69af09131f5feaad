package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

// Facts about notifyd that the deploy files must agree with.
var (
	// httpPort is notifyd's HTTP port: the port of config.DefaultHTTPAddr.
	httpPort = mustPort(config.DefaultHTTPAddr)
	// containerHTTPAddr is NOTIFYD_HTTP_ADDR wherever notifyd runs in a
	// container: every interface, notifyd's port.
	containerHTTPAddr = net.JoinHostPort("0.0.0.0", httpPort)
)

// defaultShutdownTimeout is NOTIFYD_SHUTDOWN_TIMEOUT's default
// (worker.Config.ShutdownTimeout): grace periods must outlast it.
const defaultShutdownTimeout = 15 * time.Second

// sandboxEnvVars are the variables lsq-sandbox reads.
var sandboxEnvVars = []string{"LSQ_SANDBOX_ACCESS_KEY", "LSQ_SANDBOX_SECRET_KEY"}

// composeOnlyVars are read by docker-compose.yml's ${...} interpolation only.
var composeOnlyVars = []string{"GRAFANA_ADMIN_PASSWORD", "VERSION"}

// secretName matches the names of variables whose values are secrets.
var secretName = regexp.MustCompile(`(KEY|SECRET|PASSWORD|TOKEN)$`)

// repoRoot is the repository's root: tests run in deploy/.
const repoRoot = ".."

// repoPath returns the path of a repository file given from the root.
func repoPath(rel string) string { return filepath.Join(repoRoot, filepath.FromSlash(rel)) }

func mustPort(hostport string) string {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		panic(err)
	}
	return port
}

// readFile returns a repository file's contents given from the root.
func readFile(tb testing.TB, rel string) []byte {
	tb.Helper()
	b, err := os.ReadFile(repoPath(rel))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// decodeYAML decodes a one-document YAML file into v, rejecting unknown
// fields when v is a struct.
func decodeYAML(tb testing.TB, rel string, v any) {
	tb.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(tb, rel)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
}

// decodeYAMLDocs decodes every document of a YAML file into generic maps.
func decodeYAMLDocs(tb testing.TB, rel string) []map[string]any {
	tb.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(tb, rel)))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			tb.Fatalf("%s: %v", rel, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// Accessors for generic YAML trees: they return the zero value when the path
// is missing or of another type.

func getMap(v any, path ...string) map[string]any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

func getList(v any, path ...string) []any {
	l, _ := getAny(v, path...).([]any)
	return l
}

func getString(v any, path ...string) string {
	switch s := getAny(v, path...).(type) {
	case string:
		return s
	case int, bool, float64:
		return fmt.Sprint(s)
	}
	return ""
}

func getAny(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// strings lists a YAML string or list of strings ("a" or ["a", "b"]).
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// checkNotifydEnvVar reports a variable notifyd would be given that it does not read.
func checkNotifydEnvVar(t *testing.T, where, name string) {
	t.Helper()
	if !slices.Contains(config.EnvVars, name) {
		t.Errorf("%s sets %s, which notifyd does not read (not in config.EnvVars)", where, name)
	}
}

// checkShutdownGrace reports a grace period that does not outlast notifyd's
// shutdown timeout (given as NOTIFYD_SHUTDOWN_TIMEOUT's value, "" for the
// default) by a few seconds.
func checkShutdownGrace(t *testing.T, where string, grace time.Duration, shutdownTimeout string) {
	t.Helper()
	timeout := defaultShutdownTimeout
	if shutdownTimeout != "" {
		d, err := time.ParseDuration(shutdownTimeout)
		if err != nil {
			t.Errorf("%s: NOTIFYD_SHUTDOWN_TIMEOUT=%q: %v", where, shutdownTimeout, err)
			return
		}
		timeout = d
	}
	if grace < timeout+5*time.Second {
		t.Errorf("%s: grace period %v must exceed NOTIFYD_SHUTDOWN_TIMEOUT (%v) by at least 5s, or in-flight deliveries are killed", where, grace, timeout)
	}
}

// isPlaceholder reports whether a secret's value is an obvious placeholder.
func isPlaceholder(v string) bool {
	v = strings.ToLower(v)
	return strings.Contains(v, "change-me") || strings.Contains(v, "replace_me")
}

func TestReadme_NamesEveryFile(t *testing.T) {
	t.Parallel()
	readme := string(readFile(t, "deploy/README.md"))
	var files []string
	err := filepath.WalkDir(repoPath("deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(repoPath("deploy"), path)
		if err != nil {
			return err
		}
		if rel == "README.md" || strings.HasSuffix(rel, ".go") {
			return nil
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "docker-compose.yml", ".env.example", ".dockerignore")
	for _, f := range files {
		if !strings.Contains(readme, f) {
			t.Errorf("deploy/README.md does not mention %s", f)
		}
	}
}
