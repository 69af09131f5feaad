package deploy

import (
	"cmp"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// imageBinaries are the binaries the image ships, each built from ./cmd/NAME.
var imageBinaries = []string{"notifyd", "notifyctl", "lsq-sandbox"}

// versionVar is the variable release builds stamp with -X.
const versionVar = "github.com/lsqdispatch/lsqdispatch/leadsquared.Version"

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// dockerfile is a parsed Dockerfile: its global ARG defaults and stages.
type dockerfile struct {
	Args   map[string]string     // ARGs before the first FROM, with defaults
	Stages [][]dockerInstruction // each starts with its FROM
}

func parseDockerfile(src string) dockerfile {
	var ins []dockerInstruction
	var cur strings.Builder
	for line := range strings.Lines(src) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, dockerInstruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	df := dockerfile{Args: map[string]string{}}
	for _, in := range ins {
		switch {
		case in.Cmd == "FROM":
			df.Stages = append(df.Stages, []dockerInstruction{in})
		case len(df.Stages) > 0:
			df.Stages[len(df.Stages)-1] = append(df.Stages[len(df.Stages)-1], in)
		case in.Cmd == "ARG":
			name, def, _ := strings.Cut(in.Args, "=")
			df.Args[name] = def
		}
	}
	return df
}

// image returns a stage's base image, global ARGs expanded, without flags
// and "AS name".
func (df dockerfile) image(stage int) string {
	var image string
	for f := range strings.FieldsSeq(df.Stages[stage][0].Args) {
		if !strings.HasPrefix(f, "--") {
			image = f
			break
		}
	}
	return os.Expand(image, func(k string) string { return df.Args[k] })
}

// all returns a stage's instructions of one kind.
func all(stage []dockerInstruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.Cmd == cmd {
			out = append(out, in.Args)
		}
	}
	return out
}

func loadDockerfile(tb testing.TB) dockerfile {
	tb.Helper()
	df := parseDockerfile(string(readFile(tb, "deploy/Dockerfile")))
	if len(df.Stages) < 2 {
		tb.Fatalf("deploy/Dockerfile: want a multi-stage build, got %d stages", len(df.Stages))
	}
	return df
}

// buildTargets returns the NAME of every ./cmd/NAME the build stage compiles.
func buildTargets(df dockerfile) []string {
	re := regexp.MustCompile(`\./cmd/([A-Za-z0-9_.-]+)`)
	var out []string
	for _, stage := range df.Stages[:len(df.Stages)-1] {
		for _, run := range all(stage, "RUN") {
			if !strings.Contains(run, "go build") {
				continue
			}
			for _, m := range re.FindAllStringSubmatch(run, -1) {
				out = append(out, m[1])
			}
		}
	}
	return out
}

func TestDockerfile_Builder(t *testing.T) {
	t.Parallel()
	df := loadDockerfile(t)

	image := df.image(0)
	tag, ok := strings.CutPrefix(image, "golang:")
	if !ok {
		t.Fatalf("build stage FROM %q: want golang:<version>", image)
	}
	// The builder's Go must be at least go.mod's go line.
	gomod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(readFile(t, "go.mod"))
	if gomod == nil {
		t.Fatal("go.mod has no go line")
	}
	imageGo := regexp.MustCompile(`^\d+\.\d+`).FindString(tag)
	if imageGo == "" || compareMinor(imageGo, string(gomod[1])) < 0 {
		t.Errorf("build stage %s cannot build go.mod's go %s", image, gomod[1])
	}

	var build []string
	for _, run := range all(df.Stages[0], "RUN") {
		if strings.Contains(run, "go build") {
			build = append(build, run)
		}
	}
	if len(build) == 0 {
		t.Fatal("build stage has no RUN go build")
	}
	env := strings.Join(all(df.Stages[0], "ENV"), " ")
	for _, run := range build {
		if !strings.Contains(env, "CGO_ENABLED=0") && !strings.Contains(run, "CGO_ENABLED=0") {
			t.Errorf("go build without CGO_ENABLED=0: the binaries must be static for distroless/static: %s", run)
		}
		for _, want := range []string{"-trimpath", "-s -w", "-X " + versionVar + "=${VERSION}"} {
			if !strings.Contains(run, want) {
				t.Errorf("go build lacks %q: %s", want, run)
			}
		}
	}
	if !slices.Contains(all(df.Stages[0], "ARG"), "VERSION=dev") {
		t.Error(`build stage: want ARG VERSION=dev, the default the -X stamps`)
	}
}

// compareMinor compares two "major.minor" Go versions like cmp.Compare.
func compareMinor(a, b string) int {
	num := func(v string) (int, int) {
		maj, mnr, _ := strings.Cut(v, ".")
		x, _ := strconv.Atoi(maj)
		y, _ := strconv.Atoi(mnr)
		return x, y
	}
	amaj, amin := num(a)
	bmaj, bmin := num(b)
	if c := cmp.Compare(amaj, bmaj); c != 0 {
		return c
	}
	return cmp.Compare(amin, bmin)
}

// -X silently does nothing when the variable is missing: make sure it exists.
func TestDockerfile_VersionVariableExists(t *testing.T) {
	t.Parallel()
	pkgDir, name := repoPath("leadsquared"), "Version"
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(pkgDir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				if slices.ContainsFunc(spec.(*ast.ValueSpec).Names, func(id *ast.Ident) bool { return id.Name == name }) {
					return
				}
			}
		}
	}
	t.Errorf("%s is not a package-level var: the Dockerfile's -X stamps nothing", versionVar)
}

func TestDockerfile_Runtime(t *testing.T) {
	t.Parallel()
	df := loadDockerfile(t)
	final := df.Stages[len(df.Stages)-1]

	image := df.image(len(df.Stages) - 1)
	distroless := strings.HasPrefix(image, "gcr.io/distroless/static") && strings.HasSuffix(image, ":nonroot")
	if !distroless && !strings.HasPrefix(image, "alpine:") {
		t.Errorf("runtime stage FROM %q: want gcr.io/distroless/static-*:nonroot or alpine", image)
	}

	users := all(final, "USER")
	if len(users) == 0 {
		t.Error("runtime stage has no USER: it would run as root")
	} else if u, _, _ := strings.Cut(users[len(users)-1], ":"); u == "root" || u == "0" {
		t.Errorf("runtime stage runs as USER %s", users[len(users)-1])
	}

	entry := all(final, "ENTRYPOINT")
	var argv []string
	if len(entry) != 1 || json.Unmarshal([]byte(entry[0]), &argv) != nil {
		t.Fatalf("runtime stage: want one exec-form ENTRYPOINT, got %q", entry)
	}
	if !slices.Equal(argv, []string{"/usr/local/bin/notifyd"}) {
		t.Errorf("ENTRYPOINT %q, want [\"/usr/local/bin/notifyd\"]", argv)
	}

	if !slices.ContainsFunc(all(final, "EXPOSE"), func(p string) bool { return slices.Contains(strings.Fields(p), httpPort) }) {
		t.Errorf("runtime stage does not EXPOSE notifyd's port %s", httpPort)
	}

	copies := strings.Join(all(final, "COPY"), "\n")
	if !strings.Contains(copies, "/usr/local/bin/") {
		t.Errorf("runtime stage does not COPY the binaries into /usr/local/bin/: %s", copies)
	}
}

// The Dockerfile builds exactly imageBinaries, each a main package in ./cmd.
func TestDockerfile_BuildTargets(t *testing.T) {
	t.Parallel()
	targets := buildTargets(loadDockerfile(t))
	if got, want := slices.Sorted(slices.Values(targets)), slices.Sorted(slices.Values(imageBinaries)); !slices.Equal(got, want) {
		t.Fatalf("Dockerfile builds ./cmd/%v, want ./cmd/%v", got, want)
	}
	for _, name := range targets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := "./cmd/" + name
			if goFiles, _ := filepath.Glob(filepath.Join(repoPath(dir), "*.go")); len(goFiles) == 0 {
				// The binaries are written alongside the deploy files: until
				// one lands, only CI insists on it.
				if os.Getenv("CI") != "true" {
					t.Skipf("%s has no Go files yet", dir)
				}
				t.Fatalf("%s has no Go files, but deploy/Dockerfile builds it", dir)
			}
			cmd := exec.Command("go", "list", "-f", "{{.Name}}", dir)
			cmd.Dir = repoRoot
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", dir, err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "main" {
				t.Errorf("%s is package %s, want main", dir, got)
			}
		})
	}
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	var patterns []string
	for line := range strings.Lines(string(readFile(t, ".dockerignore"))) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	// .env holds the keys: it must never enter the build context.
	for _, want := range []string{".env", ".git"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	for _, p := range patterns {
		if strings.HasPrefix(p, "!") && strings.Contains(p, ".env") {
			t.Errorf(".dockerignore re-includes %s", p)
		}
	}
}
