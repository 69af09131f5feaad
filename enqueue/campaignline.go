package enqueue

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
	"github.com/lsqdispatch/lsqdispatch/tasks"
)

// MaxLineBytes is the longest campaign line, without its line break.
const MaxLineBytes = 1 << 20

// LineError is one problem of one campaign line.
type LineError struct {
	// Line is the line number, from 1.
	Line int
	// Field is the field's path ("type", "ref", "body.CardContents.Message"),
	// or "line" or "json" for a problem of the whole line.
	Field string
	// Reason says what is wrong.
	Reason string
}

func (e LineError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ": " + e.Field + ": " + e.Reason
}

// topLine is a campaign line's envelope. The pointers tell a field that is
// absent (or null) from an empty one.
type topLine struct {
	Type      *string         `json:"type"`
	Ref       *string         `json:"ref"`
	Account   *string         `json:"account"`
	At        *string         `json:"at"`
	ExpiresAt *string         `json:"expires_at"`
	Body      json.RawMessage `json:"body"`
}

var (
	lineSchema   = schemaOf(reflect.TypeFor[topLine]())
	systemSchema = schemaOf(reflect.TypeFor[leadsquared.SystemNotification]())
	pushSchema   = schemaOf(reflect.TypeFor[leadsquared.PushNotification]())
)

// lineParser turns campaign lines into items.
type lineParser struct {
	account  string // for lines without "account"
	campaign string
	expires  time.Time // for lines without "expires_at" (zero: none)
	problems func(LineError)
}

// parse checks one non-blank line (no line break) and returns its item, or
// nil after reporting every problem found.
func (p *lineParser) parse(line []byte, n int) *item {
	var bad map[string]bool // fields with a problem
	add := func(field, reason string) {
		if bad == nil {
			bad = map[string]bool{}
		}
		bad[field] = true
		p.problems(LineError{Line: n, Field: field, Reason: reason})
	}
	if !utf8.Valid(line) {
		add("line", fmt.Sprintf("not valid UTF-8 (first bad byte at column %d)", badUTF8(line)+1))
		return nil
	}
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			add("json", fmt.Sprintf("invalid JSON at column %d: %s", se.Offset, se.Error()))
		} else {
			add("json", "invalid JSON")
		}
		return nil
	}
	c := &checker{b: line, add: add}
	c.ws()
	if line[c.i] != '{' {
		add("line", `must be a JSON object, e.g. {"type":"system","ref":"lead-42","body":{…}}`)
		return nil
	}
	var top topLine
	c.value(lineSchema, "", "", reflect.ValueOf(&top).Elem())

	it := &item{meta: tasks.Meta{Account: p.account, Lane: tasks.LaneBulk, Campaign: p.campaign}}
	switch {
	case bad["type"]:
	case top.Type == nil:
		add("type", `required: "system" or "push"`)
	case *top.Type == string(tasks.KindSystem), *top.Type == string(tasks.KindPush):
		it.kind = tasks.Kind(*top.Type)
	default:
		add("type", fmt.Sprintf(`%q is not "system" or "push"`, truncate(*top.Type, 40)))
	}
	switch {
	case bad["ref"]:
	case top.Ref == nil:
		add("ref", "required: the notification's unique id, e.g. lead-42")
	case checkRef(*top.Ref) != "":
		add("ref", checkRef(*top.Ref))
	default:
		it.meta.Ref = *top.Ref
	}
	if top.Account != nil {
		if r := checkAccount(*top.Account); r != "" {
			add("account", r)
		}
		it.meta.Account = *top.Account
	}
	if top.At != nil {
		t, err := time.Parse(time.RFC3339, *top.At)
		if err != nil {
			add("at", fmt.Sprintf("%q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", truncate(*top.At, 40)))
		}
		it.at = t
	}
	expires := p.expires
	if top.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *top.ExpiresAt)
		if err != nil {
			add("expires_at", fmt.Sprintf("%q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", truncate(*top.ExpiresAt, 40)))
		}
		expires = t
	}
	if !bad["at"] && !bad["expires_at"] {
		if r := checkExpiry(expires, it.at); r != "" {
			add("expires_at", r)
		}
		it.meta.ExpiresAt = expiryOf(expires)
	}
	switch {
	case bad["body"]:
		return nil
	case top.Body == nil:
		add("body", "required: LeadSquared's JSON body")
		return nil
	case it.kind == "":
		return nil // no type, no schema to check the body against
	}
	body, err := decodeBody(it, top.Body, add)
	if err != nil || bad != nil {
		return nil
	}
	it.body = body
	return it
}

var errInvalidLine = errors.New("invalid line")

// decodeBody checks, decodes and validates a body, reporting every problem;
// it returns the body encoded again, with the ref as a system
// notification's ExternalReferenceId.
func decodeBody(it *item, raw []byte, add func(string, string)) ([]byte, error) {
	var n int
	count := func(f, r string) { n++; add(f, r) }
	pr := &problems{prefix: "body."}
	var v any
	switch it.kind {
	case tasks.KindSystem:
		var body leadsquared.SystemNotification
		(&checker{b: raw, add: count}).value(systemSchema, "", "body", reflect.ValueOf(&body).Elem())
		if n > 0 {
			return nil, errInvalidLine
		}
		pr.addFrom(body.Validate(), "")
		v = withRef(body, it.meta.Ref)
	default:
		var body leadsquared.PushNotification
		(&checker{b: raw, add: count}).value(pushSchema, "", "body", reflect.ValueOf(&body).Elem())
		if n > 0 {
			return nil, errInvalidLine
		}
		pr.addFrom(body.Validate(), "")
		v = body
	}
	if len(pr.list) > 0 {
		for _, fe := range pr.list {
			add(fe.Field, fe.Reason)
		}
		return nil, errInvalidLine
	}
	return json.Marshal(v)
}

func badUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}
