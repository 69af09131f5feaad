package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

// Service names in docker-compose.yml that other files refer to.
const (
	composeNotifyd    = "notifyd"
	composeSandbox    = "lsq-sandbox"
	composeRedis      = "redis"
	composePrometheus = "prometheus"
	composeGrafana    = "grafana"
)

// compose is docker-compose.yml, decoded generically (anchors and merge keys
// resolved by the YAML decoder).
type compose struct {
	Services map[string]any
	Raw      string
}

func loadCompose(tb testing.TB) compose {
	tb.Helper()
	docs := decodeYAMLDocs(tb, "docker-compose.yml")
	if len(docs) != 1 {
		tb.Fatalf("docker-compose.yml: want one document, got %d", len(docs))
	}
	c := compose{Services: getMap(docs[0], "services"), Raw: string(readFile(tb, "docker-compose.yml"))}
	for _, name := range []string{composeNotifyd, composeSandbox, composeRedis, composePrometheus, composeGrafana} {
		if c.Services[name] == nil {
			tb.Fatalf("docker-compose.yml has no service %q", name)
		}
	}
	return c
}

// environment returns a service's environment, map or list form.
func (c compose) environment(service string) map[string]string {
	env := map[string]string{}
	switch e := getAny(c.Services[service], "environment").(type) {
	case map[string]any:
		for k, v := range e {
			env[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			env[k] = v
		}
	}
	return env
}

// envFiles returns a service's env_file paths.
func (c compose) envFiles(service string) []string {
	var out []string
	switch e := getAny(c.Services[service], "env_file").(type) {
	case string:
		out = append(out, e)
	case []any:
		for _, f := range e {
			if m, ok := f.(map[string]any); ok {
				out = append(out, getString(m, "path"))
			} else {
				out = append(out, fmt.Sprint(f))
			}
		}
	}
	return out
}

// mounts returns a service's bind mounts as host path (from the repository
// root, "./" trimmed) to container path.
func (c compose) mounts(service string) map[string]string {
	out := map[string]string{}
	for _, v := range getList(c.Services[service], "volumes") {
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "./") {
			continue
		}
		parts := strings.Split(s, ":")
		if len(parts) >= 2 {
			out[path.Clean(parts[0])] = parts[1]
		}
	}
	return out
}

// interpolation is one ${NAME}, ${NAME:-default} or ${NAME:?error} in the file.
type interpolation struct {
	Name, Op, Arg string
}

var interpolationRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

func parseInterpolation(s string) (interpolation, bool) {
	m := interpolationRE.FindStringSubmatch(s)
	if m == nil || m[0] != s {
		return interpolation{}, false
	}
	return interpolation{Name: m[1], Op: m[2], Arg: m[3]}, true
}

// resolve returns s with each ${NAME:-default} replaced by its default.
func resolveDefaults(s string) string {
	return interpolationRE.ReplaceAllStringFunc(s, func(m string) string {
		in := interpolationRE.FindStringSubmatch(m)
		if strings.HasSuffix(in[2], "-") {
			return in[3]
		}
		return m
	})
}

// envExample is .env.example: every NAME=value line, commented out or not.
type envExample struct {
	Values    map[string]string
	Commented map[string]bool
}

func loadEnvExample(tb testing.TB) envExample {
	tb.Helper()
	line := regexp.MustCompile(`^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$`)
	e := envExample{Values: map[string]string{}, Commented: map[string]bool{}}
	for l := range strings.Lines(string(readFile(tb, ".env.example"))) {
		m := line.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		if _, dup := e.Values[m[2]]; dup {
			tb.Errorf(".env.example: %s appears twice", m[2])
		}
		e.Values[m[2]], e.Commented[m[2]] = m[3], m[1] != ""
	}
	return e
}

// set reports whether .env.example sets name on an uncommented line.
func (e envExample) set(name string) bool {
	_, ok := e.Values[name]
	return ok && !e.Commented[name]
}

func TestCompose_Redis(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	redis := c.Services[composeRedis]
	// asynq must never lose a key: Redis keeps an AOF and refuses writes
	// when full rather than evicting tasks.
	cmd := strings.Join(stringList(getAny(redis, "command")), " ")
	for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %s", cmd, want)
		}
	}
	if !slices.ContainsFunc(stringList(getAny(redis, "volumes")), func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
		t.Error("redis keeps /data on no volume: the AOF dies with the container")
	}
	if len(stringList(getAny(redis, "healthcheck", "test"))) == 0 {
		t.Error("redis has no healthcheck: notifyd cannot wait for it")
	}
}

func TestCompose_Notifyd(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	svc := c.Services[composeNotifyd]
	env := c.environment(composeNotifyd)

	for name := range env {
		checkNotifydEnvVar(t, "docker-compose.yml notifyd environment", name)
	}
	if !slices.Contains(c.envFiles(composeNotifyd), ".env") {
		t.Error("notifyd does not read env_file .env: that is where its keys come from")
	}
	if replicas, _ := strconv.Atoi(getString(svc, "deploy", "replicas")); replicas < 2 {
		t.Errorf("notifyd deploy.replicas = %d, want 2 or more: the shared limit must be shown across replicas", replicas)
	}
	if got := env[config.EnvHTTPAddr]; got != containerHTTPAddr {
		t.Errorf("notifyd %s=%q, want %q: in a container, the loopback default is unreachable", config.EnvHTTPAddr, got, containerHTTPAddr)
	}
	for _, p := range stringList(getAny(svc, "ports")) {
		if i := strings.LastIndex(p, ":"); p[i+1:] != httpPort {
			t.Errorf("notifyd publishes %q, want container port %s", p, httpPort)
		}
	}

	grace, err := time.ParseDuration(getString(svc, "stop_grace_period"))
	if err != nil {
		t.Errorf("notifyd stop_grace_period: %v (docker's default 10s is too short)", err)
	}
	checkShutdownGrace(t, "docker-compose.yml notifyd stop_grace_period", grace, env[config.EnvShutdownTimeout])

	if u, err := url.Parse(env[config.EnvRedisURL]); err != nil || u.Hostname() != composeRedis {
		t.Errorf("notifyd %s=%q, want the %s service", config.EnvRedisURL, env[config.EnvRedisURL], composeRedis)
	}
	if getString(svc, "depends_on", composeRedis, "condition") != "service_healthy" {
		t.Error("notifyd should wait for redis with condition: service_healthy")
	}

	// By default notifyd talks to the sandbox, on the port the sandbox listens on.
	base := resolveDefaults(env[config.EnvAPIBaseURL])
	u, err := url.Parse(base)
	if err != nil || u.Hostname() != composeSandbox {
		t.Fatalf("notifyd %s defaults to %q, want the %s service", config.EnvAPIBaseURL, base, composeSandbox)
	}
	if got, want := u.Port(), sandboxPort(t, c); got != want {
		t.Errorf("notifyd %s port %s, but lsq-sandbox listens on %s", config.EnvAPIBaseURL, got, want)
	}

	// The UI is off loopback, so it needs a login: it comes from .env.
	ex := loadEnvExample(t)
	for _, name := range []string{config.EnvUIUser, config.EnvUIPassword} {
		if !ex.set(name) && env[name] == "" {
			t.Errorf("notifyd listens on %s, but %s is set neither in .env.example nor in the compose file", containerHTTPAddr, name)
		}
	}
}

// sandboxPort returns the port in lsq-sandbox's --addr.
func sandboxPort(tb testing.TB, c compose) string {
	tb.Helper()
	argv := stringList(getAny(c.Services[composeSandbox], "entrypoint"))
	i := slices.Index(argv, "--addr")
	if i < 0 || i+1 >= len(argv) {
		tb.Fatalf("lsq-sandbox entrypoint %q has no --addr", argv)
	}
	host, port, err := net.SplitHostPort(argv[i+1])
	if err != nil || host != "0.0.0.0" {
		tb.Fatalf("lsq-sandbox --addr %q, want 0.0.0.0:PORT (the default is loopback, unreachable from notifyd)", argv[i+1])
	}
	return port
}

func TestCompose_Sandbox(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	argv := stringList(getAny(c.Services[composeSandbox], "entrypoint"))
	if len(argv) == 0 || path.Base(argv[0]) != "lsq-sandbox" {
		t.Errorf("lsq-sandbox entrypoint %q, want the lsq-sandbox binary", argv)
	}
	sandboxPort(t, c)
	for name := range c.environment(composeSandbox) {
		if !slices.Contains(sandboxEnvVars, name) {
			t.Errorf("lsq-sandbox environment sets %s, which lsq-sandbox does not read", name)
		}
	}
}

// notifyd and the sandbox run binaries of the image deploy/Dockerfile builds.
func TestCompose_Image(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	df := loadDockerfile(t)
	built := buildTargets(df)
	image := getString(c.Services[composeNotifyd], "image")
	for _, name := range []string{composeNotifyd, composeSandbox} {
		svc := c.Services[name]
		if got := getString(svc, "build", "dockerfile"); got != "deploy/Dockerfile" {
			t.Errorf("%s builds from %q, want deploy/Dockerfile", name, got)
		}
		if got := getString(svc, "build", "context"); got != "." {
			t.Errorf("%s build context %q, want the repository root", name, got)
		}
		if got := getString(svc, "image"); got != image {
			t.Errorf("%s image %q, want notifyd's %q", name, got, image)
		}
		if argv := stringList(getAny(svc, "entrypoint")); len(argv) > 0 && !slices.Contains(built, path.Base(argv[0])) {
			t.Errorf("%s runs %s, which deploy/Dockerfile does not build", name, argv[0])
		}
	}
}

// Keys come from .env: the compose file holds none, only ${...} references
// that fail when unset.
func TestCompose_NoInlineSecrets(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for name := range c.Services {
		for k, v := range c.environment(name) {
			if !secretName.MatchString(k) || v == "" {
				continue
			}
			in, ok := parseInterpolation(v)
			if !ok || strings.HasSuffix(in.Op, "-") {
				t.Errorf("%s: %s=%q is inline: use ${VAR:?...} filled from .env", name, k, v)
			}
		}
		if strings.Contains(getString(c.Services[name], "env_file"), "example") {
			t.Errorf("%s reads .env.example: real keys belong in .env", name)
		}
	}
}

// Every ${VAR} the compose file needs is set in .env.example or has a default.
func TestCompose_Interpolations(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	ex := loadEnvExample(t)
	for _, m := range interpolationRE.FindAllStringSubmatch(c.Raw, -1) {
		in := interpolation{Name: m[1], Op: m[2], Arg: m[3]}
		if strings.HasSuffix(in.Op, "-") {
			continue
		}
		if !ex.set(in.Name) {
			t.Errorf("docker-compose.yml needs ${%s}, which .env.example does not set", in.Name)
		}
	}
}

// Bind-mounted files exist, and published ports stay on loopback.
func TestCompose_MountsAndPorts(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	for name := range c.Services {
		for host := range c.mounts(name) {
			if _, err := os.Stat(repoPath(host)); err != nil {
				t.Errorf("%s mounts %s: %v", name, host, err)
			}
		}
		for _, p := range stringList(getAny(c.Services[name], "ports")) {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q on every interface: bind it to 127.0.0.1", name, p)
			}
		}
	}
}

func TestEnvExample(t *testing.T) {
	t.Parallel()
	ex := loadEnvExample(t)
	for name, v := range ex.Values {
		known := slices.Contains(config.EnvVars, name) || slices.Contains(sandboxEnvVars, name) || slices.Contains(composeOnlyVars, name)
		if !known {
			t.Errorf(".env.example: %s is read by nothing (not in config.EnvVars, nor a sandbox or compose variable)", name)
		}
		if secretName.MatchString(name) && v != "" && !isPlaceholder(v) {
			t.Errorf(".env.example: %s=%q does not look like a placeholder (want change-me...)", name, v)
		}
	}
	// It documents every variable notifyd reads.
	for _, name := range config.EnvVars {
		if _, ok := ex.Values[name]; !ok {
			t.Errorf(".env.example does not mention %s", name)
		}
	}
	for _, name := range []string{config.EnvAccessKey, config.EnvSecretKey, config.EnvUIUser, config.EnvUIPassword} {
		if !ex.set(name) {
			t.Errorf(".env.example must set %s (uncommented): compose needs it", name)
		}
	}
}
