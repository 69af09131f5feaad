package enqueue

import (
	"bytes"
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

var (
	lineSchema = &schema{kind: kindObject, fields: map[string]*schema{
		"type": {kind: kindString}, "ref": {kind: kindString}, "account": {kind: kindString},
		"at": {kind: kindString}, "body": {kind: kindObject},
	}, fold: map[string]string{"type": "type", "ref": "ref", "account": "account", "at": "at", "body": "body"}}
	systemSchema = schemaOf(reflect.TypeFor[leadsquared.SystemNotification]())
	pushSchema   = schemaOf(reflect.TypeFor[leadsquared.PushNotification]())
)

// lineParser turns campaign lines into items.
type lineParser struct {
	account  string // for lines without "account"
	campaign string
	problems func(LineError)
}

// parse checks one non-blank line (no line break) and returns its item, or
// nil after reporting every problem found.
func (p *lineParser) parse(line []byte, n int) *item {
	bad := false
	add := func(field, reason string) {
		bad = true
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
	spans := map[string][]byte{}
	c.object(lineSchema, "", spans)

	it := &item{meta: tasks.Meta{Account: p.account, Lane: tasks.LaneBulk, Campaign: p.campaign}}
	// get returns a top-level string field; present is false when it is
	// absent or null, and a wrong type was reported by the checker.
	get := func(name string) (v string, present, ok bool) {
		raw := spans[name]
		if len(raw) == 0 || string(raw) == "null" {
			return "", false, false
		}
		v, ok = str(raw)
		return v, true, ok
	}
	switch typ, present, ok := get("type"); {
	case !present:
		add("type", `required: "system" or "push"`)
	case !ok:
	case typ == string(tasks.KindSystem), typ == string(tasks.KindPush):
		it.kind = tasks.Kind(typ)
	default:
		add("type", fmt.Sprintf(`%q is not "system" or "push"`, truncate(typ, 40)))
	}
	switch ref, present, ok := get("ref"); {
	case !present:
		add("ref", "required: the notification's unique id, e.g. lead-42")
	case !ok:
	case checkRef(ref) != "":
		add("ref", checkRef(ref))
	default:
		it.meta.Ref = ref
	}
	if acct, _, ok := get("account"); ok {
		if r := checkAccount(acct); r != "" {
			add("account", r)
		}
		it.meta.Account = acct
	}
	if at, _, ok := get("at"); ok {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			add("at", fmt.Sprintf("%q is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", truncate(at, 40)))
		}
		it.at = t
	}
	body := spans["body"]
	switch {
	case len(body) == 0 || string(body) == "null":
		add("body", "required: LeadSquared's JSON body")
		return nil
	case it.kind == "":
		return nil // no type, no schema to check the body against
	}
	enc, err := checkBody(it, body, add)
	if err != nil || bad {
		return nil
	}
	it.body = enc
	return it
}

// checkBody checks, decodes and validates a body, reporting every problem;
// it returns the body encoded again, with the ref as a system
// notification's ExternalReferenceId.
func checkBody(it *item, body []byte, add func(string, string)) ([]byte, error) {
	s := systemSchema
	if it.kind == tasks.KindPush {
		s = pushSchema
	}
	var n int
	(&checker{b: body, add: func(f, r string) { n++; add(f, r) }}).value(s, "", "body")
	if n > 0 {
		return nil, errInvalidLine
	}
	return decodeBody(it.kind, body, it.meta.Ref, add)
}

var errInvalidLine = errors.New("invalid line")

func decodeBody(kind tasks.Kind, body []byte, ref string, add func(string, string)) ([]byte, error) {
	pr := &problems{prefix: "body."}
	var v any
	switch kind {
	case tasks.KindSystem:
		var n leadsquared.SystemNotification
		if err := json.Unmarshal(body, &n); err != nil {
			add("body", err.Error())
			return nil, errInvalidLine
		}
		pr.addFrom(n.Validate(), "")
		v = withRef(n, ref)
	default:
		var n leadsquared.PushNotification
		if err := json.Unmarshal(body, &n); err != nil {
			add("body", err.Error())
			return nil, errInvalidLine
		}
		pr.addFrom(n.Validate(), "")
		v = n
	}
	if len(pr.list) > 0 {
		for _, fe := range pr.list {
			add(fe.Field, fe.Reason)
		}
		return nil, errInvalidLine
	}
	return json.Marshal(v)
}

// str decodes a raw JSON string; ok is false when it is absent or null.
func str(raw []byte) (s string, ok bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
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
