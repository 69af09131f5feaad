package deploy

import (
	"encoding/json"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"

	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	docs := decodeYAMLDocs(t, "deploy/prometheus/prometheus.yml")
	if len(docs) != 1 {
		t.Fatalf("deploy/prometheus/prometheus.yml: want one document, got %d", len(docs))
	}
	cfg := docs[0]

	var job map[string]any
	for _, sc := range getList(cfg, "scrape_configs") {
		if getString(sc, "job_name") == promJobNotifyd {
			job = sc.(map[string]any)
		}
	}
	if job == nil {
		t.Fatalf("prometheus.yml has no job %q, which the alerts select", promJobNotifyd)
	}
	if p := getString(job, "metrics_path"); p != "" && p != config.PathMetrics {
		t.Errorf("job %s scrapes %q, want %s", promJobNotifyd, p, config.PathMetrics)
	}
	// Every replica is a target: DNS discovery of the service name on
	// notifyd's port (a static notifyd:PORT would reach one replica).
	var found bool
	for _, sd := range getList(job, "dns_sd_configs") {
		names := stringList(getAny(sd, "names"))
		if slices.Contains(names, composeNotifyd) && getString(sd, "port") == httpPort && getString(sd, "type") == "A" {
			found = true
		}
	}
	if !found {
		t.Errorf("job %s does not discover the %s service's replicas (dns_sd_configs type A, port %s)", promJobNotifyd, composeNotifyd, httpPort)
	}

	// Its rule files are mounted from deploy/prometheus.
	mounted := map[string]bool{}
	for host, target := range loadCompose(t).mounts(composePrometheus) {
		if strings.HasPrefix(host, "deploy/prometheus/") {
			mounted[target] = true
		}
	}
	rules := stringList(getAny(cfg, "rule_files"))
	if len(rules) == 0 {
		t.Error("prometheus.yml loads no rule_files")
	}
	for _, r := range rules {
		if !mounted[r] {
			t.Errorf("rule file %s is not mounted into the prometheus service", r)
		}
	}
}

// alertRules is a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name     string      `yaml:"name"`
		Interval string      `yaml:"interval"`
		Rules    []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

type alertRule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// alertTemplate parses an annotation as Prometheus does: with $labels and
// $value defined and its template functions (stubbed) available.
func alertTemplate(text string) error {
	stub := func(v any) string { return "" }
	funcs := template.FuncMap{}
	for _, name := range []string{
		"humanize", "humanize1024", "humanizeDuration", "humanizePercentage", "humanizeTimestamp",
		"title", "toUpper", "toLower", "first", "label", "value", "safeHtml", "pathPrefix", "externalURL",
		"query", "args", "match", "reReplaceAll", "graphLink", "tableLink", "sortByLabel", "strvalue",
	} {
		funcs[name] = stub
	}
	const defs = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}"
	_, err := template.New("annotation").Funcs(funcs).Parse(defs + text)
	return err
}

func TestAlerts(t *testing.T) {
	t.Parallel()
	var rules alertRules
	decodeYAML(t, "deploy/prometheus/alerts.yml", &rules)

	seen := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Alert == "" {
				t.Errorf("group %s: a rule without alert name (expr %q)", g.Name, r.Expr)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: defined twice", where)
			}
			seen[r.Alert] = true
			for _, m := range checkPromQL(t, where, r.Expr) {
				used[m] = true
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary annotation", where)
			}
			for k, text := range r.Annotations {
				if err := alertTemplate(text); err != nil {
					t.Errorf("%s: annotation %s: %v", where, k, err)
				}
			}
		}
	}
	// What must page or warn: 429s, halted accounts, growing dead letters,
	// old backlogs, notifyd down.
	for _, m := range []string{"lsqd_rate_limited_total", "lsqd_account_halted", "lsqd_dead_letters", "asynq_queue_latency_seconds", "up"} {
		if !used[m] {
			t.Errorf("no alert uses %s", m)
		}
	}
}

// Grafana dashboard JSON, the parts the checks read.
type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *grafanaDSRef   `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaDSRef   `json:"datasource"`
	Targets    []grafanaTarget `json:"targets"`
	Panels     []grafanaPanel  `json:"panels"` // a collapsed row's
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

type grafanaDSRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	RefID      string        `json:"refId"`
	Expr       string        `json:"expr"`
	Datasource *grafanaDSRef `json:"datasource"`
}

// grafanaDatasourceUID returns the uid of the provisioned Prometheus datasource.
func grafanaDatasourceUID(t *testing.T) string {
	t.Helper()
	docs := decodeYAMLDocs(t, "deploy/grafana/provisioning/datasources/prometheus.yml")
	for _, ds := range getList(docs[0], "datasources") {
		if getString(ds, "type") != "prometheus" {
			continue
		}
		u, err := url.Parse(getString(ds, "url"))
		if err != nil || u.Hostname() != composePrometheus {
			t.Errorf("datasource url %q, want the %s service", getString(ds, "url"), composePrometheus)
		}
		return getString(ds, "uid")
	}
	t.Fatal("no Prometheus datasource provisioned")
	return ""
}

func TestGrafanaProvisioning(t *testing.T) {
	t.Parallel()
	if grafanaDatasourceUID(t) == "" {
		t.Error("the provisioned datasource has no uid for dashboards to refer to")
	}
	mounts := loadCompose(t).mounts(composeGrafana)
	if got := mounts["deploy/grafana/provisioning"]; got != "/etc/grafana/provisioning" {
		t.Errorf("deploy/grafana/provisioning is mounted at %q, want /etc/grafana/provisioning", got)
	}
	docs := decodeYAMLDocs(t, "deploy/grafana/provisioning/dashboards/lsqdispatch.yml")
	providers := getList(docs[0], "providers")
	if len(providers) == 0 {
		t.Fatal("no dashboard provider")
	}
	for _, p := range providers {
		if got, want := getString(p, "options", "path"), mounts["deploy/grafana/dashboards"]; got == "" || got != want {
			t.Errorf("dashboard provider reads %q, but deploy/grafana/dashboards is mounted at %q", got, want)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	const file = "deploy/grafana/dashboards/lsqdispatch.json"
	var d grafanaDashboard
	if err := json.Unmarshal(readFile(t, file), &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("%s: want a uid and a title", file)
	}
	provisioned := grafanaDatasourceUID(t)

	// A datasource is the provisioned one, or a datasource variable.
	dsVars := map[string]bool{}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			dsVars["${"+v.Name+"}"], dsVars["$"+v.Name] = true, true
		}
	}
	checkDS := func(where string, ds *grafanaDSRef) {
		switch {
		case ds == nil || ds.UID == "":
			t.Errorf("%s: no datasource", where)
		case ds.Type != "" && ds.Type != "prometheus":
			t.Errorf("%s: datasource type %q, want prometheus", where, ds.Type)
		case ds.UID != provisioned && !dsVars[ds.UID]:
			t.Errorf("%s: datasource uid %q is neither %q nor a datasource variable", where, ds.UID, provisioned)
		}
	}

	used := map[string]bool{}
	labelValuesRE := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := "variable $" + v.Name
		checkDS(where, v.Datasource)
		m := labelValuesRE.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("%s: definition %q, want label_values(metric, label)", where, v.Definition)
			continue
		}
		if l, ok := lookupMetric(m[1]); !ok || !slices.Contains(l, m[2]) {
			t.Errorf("%s: %s has no label %s", where, m[1], m[2])
		}
	}

	ids := map[int]bool{}
	var walk func(panels []grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			where := "panel " + p.Title
			if ids[p.ID] {
				t.Errorf("%s: id %d used twice", where, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("%s: no gridPos", where)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			checkDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, q := range p.Targets {
				where := where + " query " + q.RefID
				if q.Datasource != nil {
					checkDS(where, q.Datasource)
				}
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: no PromQL expr", where)
					continue
				}
				for _, m := range checkPromQL(t, where, expandGrafanaVars(q.Expr)) {
					used[m] = true
				}
			}
		}
	}
	walk(d.Panels)

	// It shows every lsqd metric and the queues' states and age.
	for name := range knownMetrics {
		if strings.HasPrefix(name, "lsqd_") && !used[name] {
			t.Errorf("%s: no panel shows %s", file, name)
		}
	}
	for _, name := range []string{"asynq_tasks_enqueued_total", "asynq_queue_latency_seconds"} {
		if !used[name] {
			t.Errorf("%s: no panel shows %s", file, name)
		}
	}
	if len(used) == 0 {
		t.Fatalf("%s: no queries", path.Base(file))
	}
}
