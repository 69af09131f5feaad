package deploy

import (
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

// k8sObject is one Kubernetes manifest, decoded generically.
type k8sObject struct {
	File string // from the repository root
	Doc  map[string]any
}

func (o k8sObject) kind() string { return getString(o.Doc, "kind") }
func (o k8sObject) name() string { return getString(o.Doc, "metadata", "name") }

// k8sTree is everything under deploy/k8s.
type k8sTree struct {
	Objects        []k8sObject          // manifests, kustomizations excluded
	Kustomizations map[string]k8sObject // by directory, from the repository root
}

func loadK8s(tb testing.TB) k8sTree {
	tb.Helper()
	tree := k8sTree{Kustomizations: map[string]k8sObject{}}
	err := filepath.WalkDir(repoPath("deploy/k8s"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, doc := range decodeYAMLDocs(tb, rel) {
			o := k8sObject{File: rel, Doc: doc}
			if o.kind() == "Kustomization" {
				tree.Kustomizations[path.Dir(rel)] = o
			} else {
				tree.Objects = append(tree.Objects, o)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return tree
}

// one returns the only object of a kind, failing unless there is exactly one.
func (tree k8sTree) one(tb testing.TB, kind string) k8sObject {
	tb.Helper()
	var found []k8sObject
	for _, o := range tree.Objects {
		if o.kind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("deploy/k8s: want one %s, got %d", kind, len(found))
	}
	return found[0]
}

// notifydContainer returns the Deployment's notifyd container.
func notifydContainer(tb testing.TB, dep k8sObject) map[string]any {
	tb.Helper()
	for _, c := range getList(dep.Doc, "spec", "template", "spec", "containers") {
		if getString(c, "name") == "notifyd" {
			return c.(map[string]any)
		}
	}
	tb.Fatalf("%s: no container named notifyd", dep.File)
	return nil
}

// containerPort resolves a probe's or Service's port (a number or a name)
// against the container's ports.
func containerPort(container map[string]any, port string) string {
	for _, p := range getList(container, "ports") {
		if getString(p, "name") == port || getString(p, "containerPort") == port {
			return getString(p, "containerPort")
		}
	}
	return ""
}

// selects reports whether every label of selector is on labels.
func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestK8s_Deployment(t *testing.T) {
	t.Parallel()
	tree := loadK8s(t)
	dep := tree.one(t, "Deployment")
	cm := tree.one(t, "ConfigMap")
	pod := getMap(dep.Doc, "spec", "template", "spec")
	c := notifydContainer(t, dep)

	if r, _ := strconv.Atoi(getString(dep.Doc, "spec", "replicas")); r < 2 {
		t.Errorf("replicas %d, want 2 or more", r)
	}

	// notifyd's address comes from the ConfigMap: off loopback, on the
	// container's port.
	addr := getString(cm.Doc, "data", config.EnvHTTPAddr)
	if addr != containerHTTPAddr {
		t.Errorf("ConfigMap %s=%q, want %q: the kubelet cannot probe loopback", config.EnvHTTPAddr, addr, containerHTTPAddr)
	}
	if containerPort(c, httpPort) != httpPort {
		t.Errorf("container does not declare port %s", httpPort)
	}

	probes := map[string]string{"livenessProbe": config.PathHealthz, "readinessProbe": config.PathReadyz}
	for probe, want := range probes {
		if got := getString(c, probe, "httpGet", "path"); got != want {
			t.Errorf("%s path %q, want %q", probe, got, want)
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		if getMap(c, probe) == nil {
			continue
		}
		if p := getString(c, probe, "httpGet", "path"); p != config.PathHealthz && p != config.PathReadyz {
			t.Errorf("%s probes %q, which notifyd does not serve", probe, p)
		}
		if got := containerPort(c, getString(c, probe, "httpGet", "port")); got != httpPort {
			t.Errorf("%s port resolves to %q, want notifyd's %s", probe, got, httpPort)
		}
	}

	grace, _ := strconv.Atoi(getString(pod, "terminationGracePeriodSeconds"))
	checkShutdownGrace(t, "Deployment terminationGracePeriodSeconds", time.Duration(grace)*time.Second,
		getString(cm.Doc, "data", config.EnvShutdownTimeout))

	if getString(pod, "securityContext", "runAsNonRoot") != "true" && getString(c, "securityContext", "runAsNonRoot") != "true" {
		t.Error("runAsNonRoot is not set")
	}
	if uid := getString(pod, "securityContext", "runAsUser"); uid == "0" {
		t.Error("runAsUser 0")
	}
	sc := getMap(c, "securityContext")
	if getString(sc, "readOnlyRootFilesystem") != "true" {
		t.Error("container securityContext.readOnlyRootFilesystem is not true")
	}
	if getString(sc, "allowPrivilegeEscalation") != "false" {
		t.Error("container securityContext.allowPrivilegeEscalation is not false")
	}
	if !slices.Contains(stringList(getAny(sc, "capabilities", "drop")), "ALL") {
		t.Error("container does not drop ALL capabilities")
	}
	for _, r := range []string{"requests/cpu", "requests/memory", "limits/memory"} {
		k, v, _ := strings.Cut(r, "/")
		if getString(c, "resources", k, v) == "" {
			t.Errorf("container has no resources.%s.%s", k, v)
		}
	}

	// Variables given one by one must be notifyd's too.
	for _, e := range getList(c, "env") {
		checkNotifydEnvVar(t, dep.File+" env", getString(e, "name"))
	}

	// envFrom names the ConfigMap and the Secret template.
	secret := tree.one(t, "Secret")
	var refs []string
	for _, e := range getList(c, "envFrom") {
		refs = append(refs, getString(e, "configMapRef", "name")+getString(e, "secretRef", "name"))
	}
	for _, want := range []string{cm.name(), secret.name()} {
		if !slices.Contains(refs, want) {
			t.Errorf("envFrom %q does not name %s", refs, want)
		}
	}

	// Annotation-based scraping finds /metrics on notifyd's port.
	ann := getMap(dep.Doc, "spec", "template", "metadata", "annotations")
	if getString(ann, "prometheus.io/scrape") == "true" {
		if got := getString(ann, "prometheus.io/port"); got != httpPort {
			t.Errorf("prometheus.io/port %q, want %s", got, httpPort)
		}
		if got := getString(ann, "prometheus.io/path"); got != config.PathMetrics {
			t.Errorf("prometheus.io/path %q, want %s", got, config.PathMetrics)
		}
	}
}

func TestK8s_ConfigMap(t *testing.T) {
	t.Parallel()
	cm := loadK8s(t).one(t, "ConfigMap")
	for name, v := range getMap(cm.Doc, "data") {
		checkNotifydEnvVar(t, cm.File, name)
		if secretName.MatchString(name) {
			t.Errorf("%s: %s is a secret: it belongs in the Secret", cm.File, name)
		}
		if _, ok := v.(string); !ok {
			t.Errorf("%s: %s must be a string, got %T", cm.File, name, v)
		}
	}
}

func TestK8s_Secret(t *testing.T) {
	t.Parallel()
	tree := loadK8s(t)
	secret := tree.one(t, "Secret")
	if getMap(secret.Doc, "data") != nil {
		t.Errorf("%s: use stringData with placeholders, not data", secret.File)
	}
	data := getMap(secret.Doc, "stringData")
	for name, v := range data {
		checkNotifydEnvVar(t, secret.File, name)
		if !isPlaceholder(getString(v)) {
			t.Errorf("%s: %s=%q is not a REPLACE_ME placeholder", secret.File, name, v)
		}
	}
	// notifyd is off loopback, so the UI login is needed along with the keys.
	for _, name := range []string{config.EnvAccessKey, config.EnvSecretKey, config.EnvUIUser, config.EnvUIPassword} {
		if data[name] == nil {
			t.Errorf("%s lacks %s", secret.File, name)
		}
	}
	// kubectl apply -k must never overwrite the real Secret with the template.
	for dir, k := range tree.Kustomizations {
		for _, r := range stringList(getAny(k.Doc, "resources")) {
			if path.Join(dir, r) == secret.File {
				t.Errorf("%s lists the Secret template %s", k.File, secret.File)
			}
		}
	}
}

func TestK8s_ServiceAndDisruptionBudget(t *testing.T) {
	t.Parallel()
	tree := loadK8s(t)
	dep := tree.one(t, "Deployment")
	podLabels := getMap(dep.Doc, "spec", "template", "metadata", "labels")
	c := notifydContainer(t, dep)

	svc := tree.one(t, "Service")
	if !selects(getMap(svc.Doc, "spec", "selector"), podLabels) {
		t.Errorf("Service selector does not match the pods' labels %v", podLabels)
	}
	for _, p := range getList(svc.Doc, "spec", "ports") {
		if got := containerPort(c, getString(p, "targetPort")); got != httpPort {
			t.Errorf("Service targetPort %q resolves to %q, want %s", getString(p, "targetPort"), got, httpPort)
		}
	}

	pdb := tree.one(t, "PodDisruptionBudget")
	if !selects(getMap(pdb.Doc, "spec", "selector", "matchLabels"), podLabels) {
		t.Errorf("PodDisruptionBudget selector does not match the pods' labels %v", podLabels)
	}
	replicas, _ := strconv.Atoi(getString(dep.Doc, "spec", "replicas"))
	if m, err := strconv.Atoi(getString(pdb.Doc, "spec", "minAvailable")); err != nil || m < 1 || m >= replicas {
		t.Errorf("PodDisruptionBudget minAvailable %q: want 1..%d, so that drains proceed one pod at a time", getString(pdb.Doc, "spec", "minAvailable"), replicas-1)
	}
}

func TestK8s_ServiceMonitor(t *testing.T) {
	t.Parallel()
	tree := loadK8s(t)
	sm := tree.one(t, "ServiceMonitor")
	svc := tree.one(t, "Service")
	if got := getString(sm.Doc, "apiVersion"); got != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %q", got)
	}
	if !selects(getMap(sm.Doc, "spec", "selector", "matchLabels"), getMap(svc.Doc, "metadata", "labels")) {
		t.Error("ServiceMonitor selector does not match the Service's labels")
	}
	var svcPorts []string
	for _, p := range getList(svc.Doc, "spec", "ports") {
		svcPorts = append(svcPorts, getString(p, "name"))
	}
	for _, e := range getList(sm.Doc, "spec", "endpoints") {
		if !slices.Contains(svcPorts, getString(e, "port")) {
			t.Errorf("ServiceMonitor endpoint port %q is not a Service port name %q", getString(e, "port"), svcPorts)
		}
		if got := getString(e, "path"); got != config.PathMetrics {
			t.Errorf("ServiceMonitor endpoint path %q, want %s", got, config.PathMetrics)
		}
	}
	// The alerts select job="notifyd": the job is the value of the Service
	// label named by jobLabel, or else the Service's name.
	job := svc.name()
	if l := getString(sm.Doc, "spec", "jobLabel"); l != "" {
		job = getString(svc.Doc, "metadata", "labels", l)
	}
	if job != promJobNotifyd {
		t.Errorf("ServiceMonitor gives job=%q, but the alerts and dashboard use job=%q", job, promJobNotifyd)
	}
}

func TestK8s_Kustomizations(t *testing.T) {
	t.Parallel()
	tree := loadK8s(t)
	dep := tree.one(t, "Deployment")
	image := getString(notifydContainer(t, dep), "image")
	listed := map[string]bool{}
	for _, dir := range slices.Sorted(maps.Keys(tree.Kustomizations)) {
		k := tree.Kustomizations[dir]
		for _, r := range stringList(getAny(k.Doc, "resources")) {
			p := path.Join(dir, r)
			listed[p] = true
			if _, err := os.Stat(repoPath(p)); err != nil {
				t.Errorf("%s: resource %s: %v", k.File, r, err)
			}
		}
		for _, img := range getList(k.Doc, "images") {
			if getString(img, "name") != image {
				t.Errorf("%s: images name %q is not the Deployment's image %q", k.File, getString(img, "name"), image)
			}
		}
	}
	// Every manifest is applied by some kustomization, but the Secret template.
	for _, o := range tree.Objects {
		if o.kind() != "Secret" && !listed[o.File] {
			t.Errorf("%s (%s) is in no kustomization", o.File, o.kind())
		}
	}

	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl is not on PATH: kustomize builds not checked")
		return
	}
	for dir := range tree.Kustomizations {
		out, err := exec.Command(kubectl, "kustomize", repoPath(dir)).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize %s: %v\n%s", dir, err, out)
			continue
		}
		if !strings.Contains(string(out), "kind: Deployment") {
			t.Errorf("kubectl kustomize %s renders no Deployment", dir)
		}
	}
}

// The base's namespace and the ServiceMonitor's and Secret's agree.
func TestK8s_Namespace(t *testing.T) {
	t.Parallel()
	tree := loadK8s(t)
	ns := tree.one(t, "Namespace").name()
	for _, k := range tree.Kustomizations {
		if got := getString(k.Doc, "namespace"); got != "" && got != ns {
			t.Errorf("%s: namespace %q, want %q", k.File, got, ns)
		}
	}
	for _, o := range tree.Objects {
		if got := getString(o.Doc, "metadata", "namespace"); got != "" && got != ns {
			t.Errorf("%s: %s in namespace %q, want %q", o.File, o.kind(), got, ns)
		}
	}
}
