package leadsquared

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fixedNow is the clock the answer tests use for Retry-After dates.
var fixedNow = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func TestClient_Answers(t *testing.T) {
	t.Parallel()
	const (
		rateLimitBody = `{"Status":"Error","ExceptionType":"MXAPIRateLimitExceededException","ExceptionMessage":"API calls exceeded the limit of 20 in 5 second(s)"}`
		badInputBody  = `{"Status":"Error","ExceptionType":"MXInvalidInputException","ExceptionMessage":"ToUser does not exist"}`
	)
	limit20 := &Limit{Calls: 20, Window: 5 * time.Second}
	type want struct {
		result     string // the call's result when it succeeds
		kind       Kind   // the error's kind when it fails
		exType     string
		exMessage  string
		retryAfter time.Duration
		limit      *Limit
	}
	tests := []struct {
		name   string
		op     string // "system", "push" or "keycheck"
		status int
		header []string
		body   string
		want   want
	}{
		// Successes.
		{"System200", "system", 200, nil, systemOK, want{result: "3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260"}},
		{"System200NoMessageID", "system", 200, nil, `{"Success":true}`, want{result: ""}},
		{"System201", "system", 201, nil, systemOK, want{result: "3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260"}},
		{"Push200", "push", 200, nil, pushOK, want{result: "Message broadcasted successfully"}},
		{"Push200LowerCaseFields", "push", 200, nil, `{"status":"Success","message":{"message":"ok"}}`, want{result: "ok"}},
		{"KeyCheck200", "keycheck", 200, nil, userOK, want{result: "1a50c565-8525-11ea-a93b-0aa4c559f4ca"}},

		// HTTP 200 whose body says failure is never a success.
		{"System200SuccessFalse", "system", 200, nil, `{"MessageID":"","Success":false}`,
			want{kind: KindPermanent, exMessage: `{"MessageID":"","Success":false}`}},
		{"System200ErrorBody", "system", 200, nil, badInputBody,
			want{kind: KindPermanent, exType: "MXInvalidInputException", exMessage: "ToUser does not exist"}},
		{"System200SuccessTrueWithException", "system", 200, nil, `{"Success":true,"ExceptionType":"MXX","ExceptionMessage":"no"}`,
			want{kind: KindPermanent, exType: "MXX", exMessage: "no"}},
		{"Push200StatusError", "push", 200, nil, `{"Status":"Error","Message":{"Message":"Browser notifications blocked"}}`,
			want{kind: KindPermanent, exMessage: `{"Status":"Error","Message":{"Message":"Browser notifications blocked"}}`}},
		{"Push200StatusFailed", "push", 200, nil, `{"Status":"Failed","Message":{"Message":"no subscriber"}}`,
			want{kind: KindPermanent, exMessage: `{"Status":"Failed","Message":{"Message":"no subscriber"}}`}},
		{"Push200SystemException", "push", 200, nil, `{"Status":"Error","ExceptionType":"System.TimeoutException","ExceptionMessage":"The operation has timed out"}`,
			want{kind: KindTransient, exType: "System.TimeoutException", exMessage: "The operation has timed out"}},
		{"KeyCheck200ErrorBody", "keycheck", 200, nil, `{"Status":"Error","ExceptionType":"MXUnAuthorizedAccessException","ExceptionMessage":"Invalid keys"}`,
			want{kind: KindPermanent, exType: "MXUnAuthorizedAccessException", exMessage: "Invalid keys"}},

		// The rate-limit body is a rate limit whatever the status.
		{"System200RateLimitBody", "system", 200, nil, rateLimitBody,
			want{kind: KindRateLimited, exType: RateLimitExceptionType, exMessage: "API calls exceeded the limit of 20 in 5 second(s)", limit: limit20}},
		{"Push500RateLimitBody", "push", 500, nil, rateLimitBody,
			want{kind: KindRateLimited, exType: RateLimitExceptionType, exMessage: "API calls exceeded the limit of 20 in 5 second(s)", limit: limit20}},

		// 2xx bodies that are not LeadSquared's answer: a notification may have
		// been delivered (a proxy rewrote the body); a key check points elsewhere.
		{"System200HTML", "system", 200, nil, "<html><body>Login</body></html>", want{kind: KindUnconfirmed}},
		{"System200Empty", "system", 200, nil, "", want{kind: KindUnconfirmed}},
		{"System200EmptyObject", "system", 200, nil, "{}", want{kind: KindUnconfirmed}},
		{"System200Array", "system", 200, nil, `[{"Success":true}]`, want{kind: KindUnconfirmed}},
		{"System200BadJSON", "system", 200, nil, `{"MessageID":"x","Success":tru`, want{kind: KindUnconfirmed}},
		{"System200WrongType", "system", 200, nil, `{"MessageID":7,"Success":true}`, want{kind: KindUnconfirmed}},
		{"Push204", "push", 204, nil, "", want{kind: KindUnconfirmed}},
		{"Push200NoStatus", "push", 200, nil, `{"Message":{"Message":"?"}}`, want{kind: KindUnconfirmed}},
		{"Push200CutShort", "push", 200, []string{"Content-Length", "100"}, `{"Status":"Succ`, want{kind: KindUnconfirmed}},
		{"KeyCheck200NoId", "keycheck", 200, nil, `{"Name":"x"}`, want{kind: KindConfiguration}},
		{"System200TooLarge", "system", 200, nil, `{"Success":true,"Pad":"` + strings.Repeat("x", maxAnswerBytes) + `"}`, want{kind: KindUnconfirmed}},

		// Every failing status.
		{"System400", "system", 400, nil, badInputBody,
			want{kind: KindPermanent, exType: "MXInvalidInputException", exMessage: "ToUser does not exist"}},
		{"Push400Text", "push", 400, nil, "Bad Request\r\n", want{kind: KindPermanent, exMessage: "Bad Request"}},
		{"Push401", "push", 401, nil, `{"Status":"Error","ExceptionType":"MXUnAuthorizedAccessException","ExceptionMessage":"Invalid access key"}`,
			want{kind: KindCredentials, exType: "MXUnAuthorizedAccessException", exMessage: "Invalid access key"}},
		{"KeyCheck401Empty", "keycheck", 401, nil, "", want{kind: KindCredentials}},
		{"Push403", "push", 403, nil, "Forbidden", want{kind: KindCredentials, exMessage: "Forbidden"}},
		{"System404HTML", "system", 404, nil, "<html>\n  <body>\n    <h1>Endpoint not found.</h1>\n  </body>\n</html>",
			want{kind: KindConfiguration, exMessage: "<html> <body> <h1>Endpoint not found.</h1> </body> </html>"}},
		{"Push408", "push", 408, nil, "", want{kind: KindTransient}},
		{"Push429RetryAfterSeconds", "push", 429, []string{"Retry-After", "7"}, `{"Status":"Error","ExceptionType":"MXAPIRateLimitExceededException","ExceptionMessage":"API calls exceeded the limit of 25 in 5 second(s)"}`,
			want{kind: KindRateLimited, exType: RateLimitExceptionType, exMessage: "API calls exceeded the limit of 25 in 5 second(s)",
				retryAfter: 7 * time.Second, limit: &Limit{Calls: 25, Window: 5 * time.Second}}},
		{"Push429RetryAfterDate", "push", 429, []string{"Retry-After", fixedNow.Add(90 * time.Second).Format(http.TimeFormat)}, rateLimitBody,
			want{kind: KindRateLimited, exType: RateLimitExceptionType, exMessage: "API calls exceeded the limit of 20 in 5 second(s)",
				retryAfter: 90 * time.Second, limit: limit20}},
		{"System429TextBody", "system", 429, nil, "API calls exceeded the limit of 25 in 5 second(s)",
			want{kind: KindRateLimited, exMessage: "API calls exceeded the limit of 25 in 5 second(s)", limit: &Limit{Calls: 25, Window: 5 * time.Second}}},
		{"System429NoBody", "system", 429, nil, "", want{kind: KindRateLimited}},
		{"System500", "system", 500, nil, `{"Status":"Error","ExceptionType":"System.NullReferenceException","ExceptionMessage":"Object reference not set"}`,
			want{kind: KindTransient, exType: "System.NullReferenceException", exMessage: "Object reference not set"}},
		{"System500ClaimsSuccess", "system", 500, nil, systemOK, want{kind: KindTransient, exMessage: systemOK}},
		{"Push502Text", "push", 502, nil, "<html><head><title>502 Bad Gateway</title></head></html>",
			want{kind: KindTransient, exMessage: "<html><head><title>502 Bad Gateway</title></head></html>"}},
		{"Push503RetryAfter", "push", 503, []string{"Retry-After", "120"}, "Service Unavailable",
			want{kind: KindTransient, exMessage: "Service Unavailable", retryAfter: 2 * time.Minute}},
		{"KeyCheck504", "keycheck", 504, nil, "", want{kind: KindTransient}},
		{"Push302", "push", 302, []string{"Location", "https://api-us11.leadsquared.com" + PushPath}, "", want{kind: KindConfiguration}},
		{"Push500LongText", "push", 500, nil, strings.Repeat("é", 1000),
			want{kind: KindTransient, exMessage: strings.Repeat("é", 256) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.status, tt.body, tt.header...)
			c := newTestClient(t, f.srv.URL)
			c.now = func() time.Time { return fixedNow }

			var result string
			var err error
			switch tt.op {
			case "system":
				result, err = c.SendSystem(context.Background(), validSystem())
			case "push":
				result, err = c.SendPush(context.Background(), validPush())
			case "keycheck":
				var u *User
				if u, err = c.CheckKeys(context.Background()); u != nil {
					result = u.Id
				}
			}

			if tt.want.kind == KindUnknown {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				if result != tt.want.result {
					t.Errorf("result = %q, want %q", result, tt.want.result)
				}
				return
			}
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("err = %v (%T), want *Error; result %q", err, err, result)
			}
			if result != "" {
				t.Errorf("result %q returned with an error", result)
			}
			if le.Kind != tt.want.kind || Classify(err) != tt.want.kind {
				t.Errorf("kind = %v, want %v (%v)", le.Kind, tt.want.kind, err)
			}
			if le.Op != tt.op || le.StatusCode != tt.status {
				t.Errorf("op, status = %q, %d; want %q, %d", le.Op, le.StatusCode, tt.op, tt.status)
			}
			if le.ExceptionType != tt.want.exType {
				t.Errorf("ExceptionType = %q, want %q", le.ExceptionType, tt.want.exType)
			}
			if (tt.want.kind != KindConfiguration && tt.want.kind != KindUnconfirmed) || tt.want.exMessage != "" {
				if le.ExceptionMessage != tt.want.exMessage {
					t.Errorf("ExceptionMessage = %q, want %q", le.ExceptionMessage, tt.want.exMessage)
				}
			}
			if le.RetryAfter != tt.want.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", le.RetryAfter, tt.want.retryAfter)
			}
			if (le.Limit == nil) != (tt.want.limit == nil) || (le.Limit != nil && *le.Limit != *tt.want.limit) {
				t.Errorf("Limit = %v, want %v", le.Limit, tt.want.limit)
			}
		})
	}
}

// TestError_ReasonKeepsLeadSquaredsAnswer checks that a refused body's
// dead-letter reason is LeadSquared's own words.
func TestError_ReasonKeepsLeadSquaredsAnswer(t *testing.T) {
	t.Parallel()
	f := newFake(t, 400, `{"Status":"Error","ExceptionType":"MXInvalidInputException","ExceptionMessage":"Invalid CTA link"}`)
	c := newTestClient(t, f.srv.URL)
	_, err := c.SendSystem(context.Background(), validSystem())
	var le *Error
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	if got, want := le.Reason(), "MXInvalidInputException: Invalid CTA link"; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
	if got, want := err.Error(), "leadsquared system: HTTP 400 (permanent): MXInvalidInputException: Invalid CTA link"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		now   time.Time
		want  time.Duration
	}{
		{"Empty", "", fixedNow, 0},
		{"Zero", "0", fixedNow, 0},
		{"Seconds", "5", fixedNow, 5 * time.Second},
		{"SecondsSpaces", " 30 ", fixedNow, 30 * time.Second},
		{"Negative", "-5", fixedNow, 0},
		{"Fraction", "1.5", fixedNow, 0},
		{"Garbage", "soon", fixedNow, 0},
		{"Day", "86400", fixedNow, 24 * time.Hour},
		{"OverCap", "86401", fixedNow, 24 * time.Hour},
		{"Overflow", "99999999999999999999999", fixedNow, 24 * time.Hour},
		{"IMFDate", fixedNow.Add(42 * time.Second).Format(http.TimeFormat), fixedNow, 42 * time.Second},
		{"RFC850Date", fixedNow.Add(time.Minute).Format("Monday, 02-Jan-06 15:04:05 GMT"), fixedNow, time.Minute},
		{"ANSICDate", fixedNow.Add(time.Hour).Format(time.ANSIC), fixedNow, time.Hour},
		{"DateRoundsUp", fixedNow.Add(10 * time.Second).Format(http.TimeFormat), fixedNow.Add(300 * time.Millisecond), 10 * time.Second},
		{"PastDate", fixedNow.Add(-time.Minute).Format(http.TimeFormat), fixedNow, 0},
		{"FarDate", fixedNow.Add(72 * time.Hour).Format(http.TimeFormat), fixedNow, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, tt.now); got != tt.want {
			t.Errorf("%s: parseRetryAfter(%q) = %s, want %s", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestSnippet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{"Empty", "", ""},
		{"Trimmed", "  \r\n Service Unavailable \r\n", "Service Unavailable"},
		{"Collapsed", "a\n\n\tb   c", "a b c"},
		{"InvalidUTF8", "bad \xff byte", "bad \uFFFD byte"},
		{"Exactly512", strings.Repeat("a", 512), strings.Repeat("a", 512)},
		{"Cut513", strings.Repeat("a", 513), strings.Repeat("a", 512) + "…"},
		// 3-byte characters: 170 fit in 510 bytes; the 171st would cross 512.
		{"CutOnCharacter", strings.Repeat("€", 300), strings.Repeat("€", 170) + "…"},
	}
	for _, tt := range tests {
		if got := snippet([]byte(tt.body)); got != tt.want {
			t.Errorf("%s: snippet = %q, want %q", tt.name, got, tt.want)
		}
	}
}
