// Package config reads notifyd's configuration from the environment and the
// accounts file, fills defaults and validates it.
package config

import "github.com/lsqdispatch/lsqdispatch/internal/redisconn"

// Environment variable names: the external contract.
const (
	EnvRedisURL               = redisconn.EnvURL
	EnvAccessKey              = "LSQ_ACCESS_KEY"
	EnvSecretKey              = "LSQ_SECRET_KEY"
	EnvRegion                 = "LSQ_REGION"
	EnvAPIBaseURL             = "LSQ_API_BASE_URL"
	EnvSystemNotificationPath = "LSQ_SYSTEM_NOTIFICATION_PATH"
	EnvRateLimit              = "LSQ_RATE_LIMIT"
	EnvRateMargin             = "LSQ_RATE_MARGIN"
	EnvDailyLimit             = "LSQ_DAILY_LIMIT"
	EnvDailyReserve           = "LSQ_DAILY_RESERVE"
	EnvAccountsFile           = "LSQ_ACCOUNTS_FILE"
	EnvAllowInsecureHTTP      = "LSQ_ALLOW_INSECURE_HTTP"
	EnvConcurrency            = "NOTIFYD_CONCURRENCY"
	EnvHTTPAddr               = "NOTIFYD_HTTP_ADDR"
	EnvShutdownTimeout        = "NOTIFYD_SHUTDOWN_TIMEOUT"
	EnvScheduler              = "NOTIFYD_SCHEDULER"
	EnvUIUser                 = "NOTIFYD_UI_USER"
	EnvUIPassword             = "NOTIFYD_UI_PASSWORD"
	EnvUIReadOnly             = "NOTIFYD_UI_READONLY"
	EnvPrometheusURL          = "NOTIFYD_PROMETHEUS_URL"
	EnvResendUnconfirmed      = "NOTIFYD_RESEND_UNCONFIRMED"
	EnvEventsMaxLen           = "NOTIFYD_EVENTS_MAXLEN"
	EnvEventsWebhookURL       = "NOTIFYD_EVENTS_WEBHOOK_URL"
	EnvEventsWebhookSecret    = "NOTIFYD_EVENTS_WEBHOOK_SECRET"
	EnvLogLevel               = "LOG_LEVEL"
	EnvLogFormat              = "LOG_FORMAT"
)

// EnvVars lists every variable notifyd reads, for docs and deploy checks.
var EnvVars = []string{
	EnvRedisURL, EnvAccessKey, EnvSecretKey, EnvRegion, EnvAPIBaseURL,
	EnvSystemNotificationPath, EnvRateLimit, EnvRateMargin, EnvDailyLimit, EnvDailyReserve,
	EnvAccountsFile, EnvAllowInsecureHTTP, EnvConcurrency, EnvHTTPAddr, EnvShutdownTimeout, EnvScheduler,
	EnvUIUser, EnvUIPassword, EnvUIReadOnly, EnvPrometheusURL, EnvLogLevel, EnvLogFormat,
	EnvResendUnconfirmed, EnvEventsMaxLen, EnvEventsWebhookURL, EnvEventsWebhookSecret,
}

// HTTP paths served by notifyd on NOTIFYD_HTTP_ADDR.
const (
	PathHealthz    = "/healthz"
	PathReadyz     = "/readyz"
	PathMetrics    = "/metrics"
	PathMonitoring = "/monitoring/"
	// PathCampaigns is the campaigns page and its JSON API, behind the
	// monitoring UI's login and read-only mode.
	PathCampaigns = "/campaigns/"
)

// DefaultHTTPAddr is NOTIFYD_HTTP_ADDR's default; the port is notifyd's HTTP port.
const DefaultHTTPAddr = "127.0.0.1:8080"
