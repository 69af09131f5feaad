package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// ExceptionTypes of the sandbox's error bodies. The 401, 400 and rate-limit
// types are LeadSquared's; the others are the sandbox's own guesses.
const (
	ExceptionUnauthorized = "MXUnAuthorizedAccessException"
	ExceptionInvalidInput = "MXInvalidInputException"
	ExceptionRateLimit    = leadsquared.RateLimitExceptionType
	ExceptionNotFound     = "MXAPINotFoundException"
	ExceptionMethod       = "MXMethodNotAllowedException"
	// ExceptionServer is a .NET system exception, not an MX (application)
	// one: LeadSquared retries only system errors in its own async API.
	ExceptionServer = "System.Exception"
)

// answer is what the sandbox decided to send for one call.
type answer struct {
	status     int
	body       []byte
	html       bool          // text/html instead of JSON
	exception  string        // ExceptionType of an error body
	retryAfter time.Duration // Retry-After header when > 0
	allow      string        // Allow header of a 405
}

// exceptionBody is LeadSquared's error body.
type exceptionBody struct {
	Status           string `json:"Status"`
	ExceptionType    string `json:"ExceptionType"`
	ExceptionMessage string `json:"ExceptionMessage"`
}

func exception(status int, typ, msg string) answer {
	b, _ := json.Marshal(exceptionBody{Status: "Error", ExceptionType: typ, ExceptionMessage: msg})
	return answer{status: status, body: b, exception: typ}
}

// pushSuccess is the push API's success body.
var pushSuccess = []byte(`{"Status":"Success","Message":{"Message":"Message broadcasted successfully"}}`)

// systemSuccess returns the system API's success body and its MessageID:
// a random UUID and the time in Unix milliseconds, as LeadSquared's sample
// "3ed50a6c-15cf-4cf1-8d1a-f87cc33f9d64_1603193012260".
func systemSuccess(now time.Time) (answer, string) {
	id := newUUID() + "_" + strconv.FormatInt(now.UnixMilli(), 10)
	return answer{status: http.StatusOK, body: []byte(`{"MessageID":"` + id + `","Success":true}`)}, id
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b[:])
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ownerID is the user Id the sandbox gives the owner of an access key: a
// GUID derived from the key, stable across runs.
func ownerID(accessKey string) string {
	sum := sha256.Sum256([]byte("lsq-sandbox user " + accessKey))
	return formatUUID(sum[:])
}

// keyCheckAnswer is the key check's body for the owner of accessKey.
func keyCheckAnswer(accessKey, host string) answer {
	sum := sha256.Sum256([]byte("lsq-sandbox org " + accessKey))
	org := 10000 + (int(sum[0])<<16|int(sum[1])<<8|int(sum[2]))%90000
	id := keyID(accessKey)
	b, _ := json.Marshal(leadsquared.User{
		Id:                   ownerID(accessKey),
		Name:                 "Sandbox User " + id,
		FirstName:            "Sandbox",
		LastName:             "User " + id,
		EmailAddress:         "sandbox-" + id + "@example.com",
		Role:                 "Administrator",
		OrgId:                strconv.Itoa(org),
		LSQCommonServiceURLs: map[string]string{"api": host},
	})
	return answer{status: http.StatusOK, body: b}
}

// Fixed error answers.
var (
	answerNoKeys = exception(http.StatusUnauthorized, ExceptionUnauthorized,
		"Access key and secret key are required: send them in the x-LSQ-AccessKey and x-LSQ-SecretKey headers")
	answerBadKeys = exception(http.StatusUnauthorized, ExceptionUnauthorized,
		"The access key or secret key is invalid, or their user is inactive")
	answerQueryKeys = exception(http.StatusUnauthorized, ExceptionUnauthorized,
		"Keys in the query string are refused: send them in the x-LSQ-AccessKey and x-LSQ-SecretKey headers")
	answerTooLarge = exception(http.StatusRequestEntityTooLarge, ExceptionInvalidInput,
		fmt.Sprintf("The request body is larger than %d bytes", MaxBodyBytes))
	// answerNonJSON is a 200 whose body a proxy replaced: the call was
	// delivered, and the answer does not say so.
	answerNonJSON = answer{status: http.StatusOK, html: true,
		body: []byte("<html><body><p>Request accepted.</p></body></html>\r\n")}
	answerOutage = answer{status: http.StatusServiceUnavailable, html: true,
		body: []byte("<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n")}
)

// invalidInput is the 400 naming every problem.
func invalidInput(problems []leadsquared.FieldError) answer {
	parts := make([]string, len(problems))
	for i, p := range problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	return exception(http.StatusBadRequest, ExceptionInvalidInput, strings.Join(parts, "; "))
}

// rateLimited is the window's refusal, with the limit in LeadSquared's words.
func rateLimited(limit int, window time.Duration) answer {
	return exception(http.StatusTooManyRequests, ExceptionRateLimit,
		fmt.Sprintf("API calls exceeded the limit of %d in %s", limit, windowText(window)))
}

// dailyLimited is the daily cap's refusal. Its message deliberately does not
// read as a per-window limit ("limit of N in M second(s)").
func dailyLimited(dailyCap int) answer {
	return exception(http.StatusTooManyRequests, ExceptionRateLimit,
		fmt.Sprintf("API calls exceeded the daily limit of %d calls; the limit resets at 00:00 UTC", dailyCap))
}

// windowText writes a window as LeadSquared does ("5 second(s)").
func windowText(w time.Duration) string {
	if w%time.Second == 0 {
		return strconv.FormatInt(int64(w/time.Second), 10) + " second(s)"
	}
	return strconv.FormatInt(w.Milliseconds(), 10) + " millisecond(s)"
}

// scripted is the answer a Script asks for: the sandbox's body for status.
func (s *Server) scripted(status int, kind string, now time.Time) (answer, string) {
	switch {
	case status >= 200 && status < 300:
		a, id := s.success(kind, now)
		a.status = status
		return a, id
	case status == http.StatusBadRequest:
		return exception(status, ExceptionInvalidInput, "The request was refused (scripted by the sandbox)"), ""
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return exception(status, ExceptionUnauthorized, "The access key or secret key is invalid, or their user is inactive (scripted by the sandbox)"), ""
	case status == http.StatusNotFound:
		return exception(status, ExceptionNotFound, "The API could not be found. Please check the API signature (scripted by the sandbox)"), ""
	case status == http.StatusTooManyRequests:
		a := s.rateLimited() // with the script's status, whatever LimitAs200 says
		a.retryAfter = s.faults.retryAfter()
		return a, ""
	case status == http.StatusServiceUnavailable:
		return answerOutage, ""
	case status >= 500:
		return serverError(status, "scripted by the sandbox"), ""
	}
	return exception(status, ExceptionInvalidInput, "The request failed (scripted by the sandbox)"), ""
}

func serverError(status int, why string) answer {
	return exception(status, ExceptionServer, "The API call failed: an internal error occurred ("+why+")")
}

// success is the answer of a successful call of kind, and a system call's
// MessageID.
func (s *Server) success(kind string, now time.Time) (answer, string) {
	if kind == KindSystem {
		return systemSuccess(now)
	}
	return answer{status: http.StatusOK, body: pushSuccess}, ""
}
