package notifyd

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lsqdispatch/lsqdispatch/enqueue"
	"github.com/lsqdispatch/lsqdispatch/internal/config"
)

// Paths of the campaigns page, under config.PathCampaigns.
const (
	// campaignsAPI lists the campaigns (GET); campaignsAPI/ACCOUNT/NAME/VERB
	// changes one (POST, VERB one of campaignChanges).
	campaignsAPI = config.PathCampaigns + "api/campaigns"
	// campaignsReadTimeout bounds listing the campaigns.
	campaignsReadTimeout = 5 * time.Second
)

//go:embed campaigns.html campaigns.js campaigns.css
var campaignsFiles embed.FS

// campaignsTemplate is the page; its funcs format what the API leaves raw.
var campaignsTemplate = template.Must(template.New("campaigns.html").
	Funcs(template.FuncMap{"rate": rateText, "eta": etaText, "title": actionLabel}).
	ParseFS(campaignsFiles, "campaigns.html"))

// changeFunc is one of the Inspector's campaign verbs.
type changeFunc func(*enqueue.Inspector, context.Context, string, string) (enqueue.CampaignInfo, error)

// campaignChanges are the verbs of the POST endpoints.
var campaignChanges = map[string]changeFunc{
	"pause":  (*enqueue.Inspector).PauseCampaign,
	"resume": (*enqueue.Inspector).ResumeCampaign,
	"cancel": (*enqueue.Inspector).CancelCampaign,
}

// campaignsPage is the campaigns page and its JSON API, at
// config.PathCampaigns: every campaign with its progress, counts, rate and
// ETA and, unless read-only, the means to pause, resume and cancel it.
type campaignsPage struct {
	redisURL string
	readOnly bool

	mu     sync.Mutex
	insp   *enqueue.Inspector // connected on first use: notifyd starts while Redis is down
	closed bool
}

func newCampaignsPage(redisURL string, readOnly bool) *campaignsPage {
	return &campaignsPage{redisURL: redisURL, readOnly: readOnly}
}

// handler routes the page, its script and style, and the API. The POST
// endpoints refuse cross-origin browser requests: the browser would send
// the UI's basic auth along with a forged form.
func (c *campaignsPage) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+config.PathCampaigns+"{$}", c.page)
	for _, name := range []string{"campaigns.js", "campaigns.css"} {
		mux.HandleFunc("GET "+config.PathCampaigns+name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, campaignsFiles, name)
		})
	}
	mux.HandleFunc("GET "+campaignsAPI, c.list)
	csrf := http.NewCrossOriginProtection()
	for verb, change := range campaignChanges {
		mux.Handle("POST "+campaignsAPI+"/{account}/{name}/"+verb, csrf.Handler(c.change(change)))
	}
	return mux
}

// inspector returns the Inspector, connecting it the first time Redis answers.
func (c *campaignsPage) inspector(ctx context.Context) (*enqueue.Inspector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("the campaigns page is closed")
	}
	if c.insp == nil {
		insp, err := enqueue.NewInspector(ctx, c.redisURL)
		if err != nil {
			return nil, err
		}
		c.insp = insp
	}
	return c.insp, nil
}

// Close closes the Inspector's connection to Redis.
func (c *campaignsPage) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.insp == nil {
		return nil
	}
	return c.insp.Close()
}

// campaignView is a campaign as the page and its API show it.
type campaignView struct {
	enqueue.CampaignInfo
	// ETASeconds is CampaignInfo.ETA in seconds (0: none).
	ETASeconds float64 `json:"eta_seconds"`
	// Done counts the notifications that reached a final outcome:
	// Total - Pending - Retrying.
	Done int `json:"done"`
	// Percent is Done over Total in whole percents, rounded down; an ended
	// campaign of no notifications is 100.
	Percent int `json:"percent"`
	// Actions are the verbs that apply now: pause or resume, then cancel;
	// none for an ended campaign or in read-only mode.
	Actions []string `json:"actions"`
}

func (c *campaignsPage) view(info enqueue.CampaignInfo) campaignView {
	k := info.Counts
	// Total lags the other counts while the campaign is enqueued: keep Done within it.
	v := campaignView{CampaignInfo: info, ETASeconds: info.ETA.Seconds(),
		Done: min(max(k.Total-k.Pending-k.Retrying, 0), k.Total), Actions: []string{}}
	switch {
	case k.Total > 0:
		v.Percent = v.Done * 100 / k.Total
	case info.Ended():
		v.Percent = 100
	}
	if c.readOnly || info.Ended() {
		return v
	}
	if info.State == enqueue.CampaignPaused {
		v.Actions = append(v.Actions, "resume")
	} else {
		v.Actions = append(v.Actions, "pause")
	}
	v.Actions = append(v.Actions, "cancel")
	return v
}

// campaigns lists every campaign of every account, newest first.
func (c *campaignsPage) campaigns(ctx context.Context) ([]campaignView, error) {
	ctx, cancel := context.WithTimeout(ctx, campaignsReadTimeout)
	defer cancel()
	insp, err := c.inspector(ctx)
	if err != nil {
		return nil, err
	}
	infos, err := insp.Campaigns(ctx, "")
	if err != nil {
		return nil, err
	}
	views := make([]campaignView, 0, len(infos))
	for _, info := range infos {
		views = append(views, c.view(info))
	}
	return views, nil
}

// campaignsList is the answer of GET campaignsAPI.
type campaignsList struct {
	// ReadOnly is true when NOTIFYD_UI_READONLY turns the POST endpoints off.
	ReadOnly  bool           `json:"read_only"`
	Campaigns []campaignView `json:"campaigns"`
}

// apiError is the API's answer to a request it cannot serve.
type apiError struct {
	Error string `json:"error"`
	// Campaign is the campaign as it is, when it is known but cannot change.
	Campaign *campaignView `json:"campaign,omitempty"`
}

// list answers GET campaignsAPI: 200 with a campaignsList, or 503 when
// Redis does not answer.
func (c *campaignsPage) list(w http.ResponseWriter, r *http.Request) {
	views, err := c.campaigns(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: redisDown(err)})
		return
	}
	writeJSON(w, http.StatusOK, campaignsList{ReadOnly: c.readOnly, Campaigns: views})
}

// change answers POST campaignsAPI/ACCOUNT/NAME/VERB: 200 with the
// campaign as it is now; 403 in read-only mode; 404 for an unknown
// campaign; 409 for one that ended, with the campaign; 503 when Redis does
// not answer.
func (c *campaignsPage) change(change changeFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.readOnly {
			writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf(
				"read-only: %s is set, so campaigns cannot be paused, resumed or cancelled here (notifyctl campaign can)",
				config.EnvUIReadOnly)})
			return
		}
		account, name := r.PathValue("account"), r.PathValue("name")
		insp, err := c.inspector(r.Context())
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: redisDown(err)})
			return
		}
		info, err := change(insp, r.Context(), account, name)
		switch {
		case errors.Is(err, enqueue.ErrCampaignNotFound):
			writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no campaign %q in account %q", name, account)})
		case errors.Is(err, enqueue.ErrCampaignEnded):
			v := c.view(info)
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error(), Campaign: &v})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: redisDown(err)})
		default:
			writeJSON(w, http.StatusOK, c.view(info))
		}
	}
}

// campaignsPageData is what campaigns.html renders.
type campaignsPageData struct {
	Campaigns []campaignView
	ReadOnly  bool
	// Error says why the list is missing (Redis does not answer).
	Error string
	// Base is config.PathCampaigns, API campaignsAPI and Monitoring
	// config.PathMonitoring.
	Base, API, Monitoring string
	EnvReadOnly           string
}

// page renders the page with the campaigns as they are; its script then
// refreshes them every second. Without Redis it answers 503 with the
// page and the reason, and the script keeps trying.
func (c *campaignsPage) page(w http.ResponseWriter, r *http.Request) {
	data := campaignsPageData{ReadOnly: c.readOnly, Base: config.PathCampaigns, API: campaignsAPI,
		Monitoring: config.PathMonitoring, EnvReadOnly: config.EnvUIReadOnly}
	status := http.StatusOK
	views, err := c.campaigns(r.Context())
	if err != nil {
		status, data.Error = http.StatusServiceUnavailable, redisDown(err)
	}
	data.Campaigns = views
	var buf bytes.Buffer
	if err := campaignsTemplate.Execute(&buf, data); err != nil {
		http.Error(w, "the campaigns page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Only the page's own script and style run: nothing a campaign's name
	// might smuggle in, and no framing.
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// redisDown says that the campaigns cannot be read, and why.
func redisDown(err error) string {
	return "Redis does not answer, so the campaigns cannot be read or changed: " + err.Error()
}

// rateText is a running campaign's rate in calls a second, "-" otherwise.
func rateText(v campaignView) string {
	if v.State != enqueue.CampaignRunning {
		return "-"
	}
	return fmt.Sprintf("%.2f/s", v.RatePerSecond)
}

// actionLabel is a verb's button label: "pause" is Pause.
func actionLabel(verb string) string {
	if verb == "" {
		return ""
	}
	return strings.ToUpper(verb[:1]) + verb[1:]
}

// etaText is an ETA to the second, "-" for none.
func etaText(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}
